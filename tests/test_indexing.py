"""The indexing ops' integer and boolean inputs travel as NumPy arrays: to a worker, through JSON, into reproducers.

docs/contract.md, section 1b: take's indices, getitem's integer-array keys and
where's condition are parameters, drawn and never differentiated. A failure
holding one must load back from a JSON report with the same arrays and the
same diagnosis, and an engine run in a worker (``gradcheck check``'s
default) must get them as NumPy arrays.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from gradcheck.engine import load_engine
from gradcheck.isolation import IsolatedEngine
from gradcheck.results import Report
from gradcheck.runner import check_op, run_checks
from gradcheck.strategies import op_cases
from tests.engines import take_overwrites_repeats, where_both_branches

TARGETS = "tests/targets"


@pytest.mark.parametrize(("module", "op", "param", "dtype"), [
    (take_overwrites_repeats, "take", "indices", np.int64),
    (where_both_branches, "where", "condition", np.bool_),
])
def test_a_failure_with_an_array_parameter_survives_the_json_report(module, op, param, dtype):
    report = run_checks(load_engine(module.engine), ops=[op], max_examples=100, seed=0, programs=0)
    (result,) = report.results
    assert result.status == "failed"
    stored = Report.from_dict(json.loads(json.dumps(report.to_dict())))
    for live, loaded in zip(result.failures, stored.results[0].failures):
        array = loaded.params[param]
        assert isinstance(array, np.ndarray) and array.dtype == dtype
        assert np.array_equal(array, live.params[param])
        assert loaded.diagnosis == live.diagnosis


@pytest.mark.parametrize("op", ["take", "getitem", "where"])
def test_an_engine_in_a_worker_gets_its_indices_as_numpy_arrays(op):
    with IsolatedEngine(f"{TARGETS}/indices_as_arrays.py:engine", sandbox=False) as engine:
        result = check_op(engine, op, max_examples=15, seed=0)
    assert result.status == "passed", [failure.to_dict() for failure in result.failures]


def test_drawn_indices_repeat_often_and_are_sometimes_negative():
    # The overwrite bug shows only on repeats: most drawn cases must have one.
    counts = {"cases": 0, "repeats": 0, "negatives": 0}

    @settings(max_examples=60, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(op_cases("take"))
    def draw(case):
        indices, axis, x = case.params["indices"], case.params["axis"], case.inputs[0]
        length = x.size if axis is None else x.shape[axis]
        counts["cases"] += 1
        counts["repeats"] += np.unique(np.ravel(indices) % length).size < indices.size
        counts["negatives"] += bool(np.any(indices < 0))

    draw()
    assert counts["repeats"] >= counts["cases"] / 2 and counts["negatives"] >= counts["cases"] / 6, counts
