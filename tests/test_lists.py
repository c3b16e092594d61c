"""The ops of several operands and their neighbours: concat, stack, einsum, pow with a tensor exponent, cross_entropy.

What is particular to them, beyond what every row gets (test_op_coverage,
test_examples, test_planted, test_diagnosis): ``--ops pow`` checks both forms
of pow, and an engine whose pow takes numbers only has its tensor form
unsupported, not failed, in process and in a worker; a failure whose case
has integer labels survives the JSON report and replays; einsum's drawn
subscripts cover what the contract asks for.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradcheck.engine import load_engine
from gradcheck.isolation import IsolatedEngine
from gradcheck.reports.json import write_json
from gradcheck.results import Report
from gradcheck.runner import check_op, resolve_ops, run_checks
from gradcheck.strategies import op_cases
from gradcheck.strategies._params import einsum_subscripts

ENGINES = Path(__file__).parent / "engines"

#: An engine whose pow takes a number exponent only, as most hand-written engines' do.
NUMBERS_ONLY = '''
from gradcheck.examples.numpy_engine import REFERENCE_OPS, make_engine


def pow(x, p):
    return REFERENCE_OPS["pow"](x, float(p))


engine = make_engine(name="pow of numbers", overrides={"pow": pow})
'''


@pytest.mark.parametrize(
    ("names", "resolved"),
    [
        pytest.param(["pow"], ["pow", "pow_tensor"], id="pow"),
        pytest.param(["power"], ["pow", "pow_tensor"], id="alias"),
        pytest.param(["pow_tensor"], ["pow_tensor"], id="tensor form alone"),
        pytest.param(["pow_tensor", "pow"], ["pow_tensor", "pow"], id="both, once each"),
    ],
)
def test_pow_selects_both_forms(names, resolved):
    assert resolve_ops(names) == resolved


@pytest.fixture
def numbers_only(tmp_path):
    path = tmp_path / "numbers_only.py"
    path.write_text(NUMBERS_ONLY, encoding="utf-8")
    return f"{path}:engine"


def _pow_results(engine, ops=("pow",)) -> dict:
    report = run_checks(engine, ops=list(ops), max_examples=10, programs=0)
    return {result.check: result for result in report.results}


def test_a_pow_of_numbers_only_has_its_tensor_form_unsupported(numbers_only):
    results = _pow_results(load_engine(numbers_only), ops=["pow_tensor"])
    tensor = results["pow_tensor"]
    assert tensor.status == "unsupported"
    assert tensor.reason.startswith("pow (tensor exponent): the engine's pow(x, y) raised TypeError: float()")
    assert "docs/contract.md, section 1b" in tensor.reason


def test_a_pow_of_numbers_only_in_a_worker_too(numbers_only):
    with IsolatedEngine(numbers_only, sandbox=False) as engine:
        results = _pow_results(engine, ops=["pow_tensor"])
    assert results["pow_tensor"].status == "unsupported"
    assert "raised TypeError" in results["pow_tensor"].reason


def test_a_pow_that_takes_tensors_is_checked_and_its_bug_found():
    engine = load_engine(f"{ENGINES / 'pow_tensor_missing_log.py'}:engine")
    results = _pow_results(engine)
    assert results["pow"].status == "passed"
    assert results["pow_tensor"].status == "failed"
    (failure,) = results["pow_tensor"].failures
    assert failure.wrt == "y" and "log(x)" in failure.diagnosis


def test_a_failure_with_integer_labels_survives_the_json_report():
    engine = load_engine(f"{ENGINES / 'cross_entropy_missing_mean.py'}:engine")
    report = run_checks(engine, ops=["cross_entropy"], max_examples=50, programs=0)
    (failure,) = report.results[0].failures
    labels = failure.params["labels"]
    assert isinstance(labels, np.ndarray) and labels.dtype.kind == "i"
    written = io.StringIO()
    write_json(report, written)
    stored = Report.from_dict(json.loads(written.getvalue()))
    again = stored.results[0].failures[0].params["labels"]
    assert again.dtype == labels.dtype and np.array_equal(again, labels)
    assert stored.to_dict() == report.to_dict()
    assert re.search(r"N = \d, the number of rows", failure.diagnosis)


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_drawn_subscripts_fit_their_shapes(data):
    case = data.draw(op_cases("einsum", max_side=3))
    subscripts = case.params["subscripts"]
    inputs, output = subscripts.split("->")
    terms = inputs.split(",")
    assert len(terms) == len(case.inputs) and len(set(output)) == len(output)
    assert np.shape(np.einsum(subscripts, *case.inputs)) == tuple(
        dict(zip("".join(terms), sum((x.shape for x in case.inputs), ())))[letter] for letter in output
    )


def test_subscripts_reach_traces_batch_axes_contractions_and_transposes():
    found: set[str] = set()
    strategy = einsum_subscripts(((2, 2), (2, 2, 2)))

    @settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(subscripts):
        inputs, output = subscripts.split("->")
        first, second = inputs.split(",")
        if len(set(first)) < len(first) or len(set(second)) < len(second):
            found.add("trace")
        shared = set(first) & set(second)
        if shared & set(output):
            found.add("batch")
        if shared - set(output):
            found.add("contraction")
        order = [letter for letter in "".join(dict.fromkeys(first + second)) if letter in output]
        if list(output) != order:
            found.add("transposed")

    collect()
    assert found == {"trace", "batch", "contraction", "transposed"}


def test_the_correct_engine_passes_the_new_ops_in_both_dtypes():
    for target in ("gradcheck.examples.numpy_engine:engine64", "gradcheck.examples.numpy_engine:engine32"):
        engine = load_engine(target)
        for op in ("concat", "stack", "einsum", "pow_tensor", "cross_entropy"):
            result = check_op(engine, op, max_examples=10, seed=3)
            assert result.status == "passed", (target, op, result.failures)
