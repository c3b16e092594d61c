"""gradcheck's order-2 and forward-mode checks catch each planted engine in exactly the entry its bug breaks.

The engines are built on ``tests/targets/higher_engine.py`` (what each
computes wrong, and nothing else, is proved without gradcheck by
``tests/test_higher_engine.py``). Each is checked at ``order=2`` with its
``jvp``: the entry its bug is about (``tanh (order 2)``, ``sin (forward)``,
``programs (order 2)``) fails, in its category, with the diagnosis where one
names the cause; every other entry of the same run passes. The correct engine
passes every entry, in float32 and float64. A planted bug the harness misses
is a failing test here, never one to delete.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest

from gradcheck.higher import has_second_order
from gradcheck.runner import run_checks
from tests.engines._higher import PLANTED_HIGHER, higher, load_planted

#: Examples per check: enough to find each bug at seed 0, few enough for CI (TensorFlow's nested tapes are the cost).
MAX_EXAMPLES = 10
PROGRAMS = 20

#: Per planted engine: the ops it is checked on, whether programs are drawn, and the one entry that must fail.
EXPECTED: dict[str, tuple[tuple[str, ...], bool, str]] = {
    "order2_tanh_detached": (("tanh",), False, "tanh (order 2)"),
    "order2_exp_numpy_backward": (("exp",), False, "exp (order 2)"),
    # sum is linear (no order-2 check of its own): programs with a nonlinear step after it show the bug.
    "order2_sum_numpy_backward": (("sum", "multiply", "tanh"), True, "programs (order 2)"),
    "order2_matmul_create_graph_values": (("matmul",), False, "matmul (order 2)"),
    "forward_sin_wrong_jvp": (("sin",), False, "sin (forward)"),
    "forward_matmul_jvp_one_side": (("matmul",), False, "matmul (forward)"),
}

#: The diagnosis of a backward built from values the engine does not differentiate (gradcheck.higher).
NOT_DIFFERENTIABLE = "values the engine does not differentiate"
#: What the diagnosis of each planted engine whose cause gradcheck names must say.
DIAGNOSED: dict[str, tuple[str, ...]] = {
    "order2_tanh_detached": (NOT_DIFFERENTIABLE, "tanh's backward"),
    "order2_exp_numpy_backward": (NOT_DIFFERENTIABLE, "exp's backward"),
    "order2_sum_numpy_backward": (NOT_DIFFERENTIABLE, "`t0 = sum("),
    "forward_sin_wrong_jvp": ("wrong sign everywhere", "sin's forward-mode rule"),
    "forward_matmul_jvp_one_side": ("grad() is right on this very case and jvp() is not", "matmul's forward-mode rule"),
}


def _entries(ops: tuple[str, ...], programs: bool) -> set[str]:
    """Return the names of the checks a run at order 2 on an engine with ``jvp`` reports."""
    names = {f"{op}{mode}" for op in ops for mode in ("", " (forward)")}
    names |= {f"{op} (order 2)" for op in ops if has_second_order(op)}
    return names | ({"programs", "programs (order 2)", "programs (forward)"} if programs else set())


def _run(engine: Any, ops: tuple[str, ...], programs: bool) -> dict[str, Any]:
    report = run_checks(engine, ops=list(ops), order=2, programs=PROGRAMS if programs else 0,
                        max_examples=MAX_EXAMPLES, seed=0)
    return {result.check: result for result in report.results}


@functools.lru_cache(maxsize=None)
def _planted_run(name: str) -> dict[str, Any]:
    """Return the results of the planted engine ``name``'s run (one run serves every test that reads it)."""
    ops, programs, _ = EXPECTED[name]
    return _run(load_planted(name).engine, ops, programs)


def test_every_planted_engine_is_expected_somewhere() -> None:
    assert sorted(EXPECTED) == sorted(PLANTED_HIGHER)


@pytest.mark.parametrize("name", PLANTED_HIGHER)
def test_planted_engine_fails_exactly_the_entry_it_breaks(name: str) -> None:
    module = load_planted(name)
    ops, programs, entry = EXPECTED[name]
    results = _planted_run(name)
    assert set(results) == _entries(ops, programs)
    statuses = {check: result.status for check, result in results.items()}
    assert statuses == {check: "failed" if check == entry else "passed" for check in results}, name
    failed = results[entry]
    forward = getattr(module, "MODE", None) == "forward"
    assert (failed.order, failed.mode) == ((1, "forward") if forward else (2, "reverse"))
    categories = [seen.category for failure in failed.failures for seen in (failure, *failure.also_seen_as)]
    assert module.CATEGORY in categories, f"{name}: found {categories}, expected {module.CATEGORY}"
    diagnosis = failed.failure.diagnosis or ""
    assert all(words in diagnosis for words in DIAGNOSED.get(name, ())), diagnosis


def test_a_wrong_formula_on_the_create_graph_path_is_not_called_detached() -> None:
    # Its gradient has a graph behind it: only its formula is wrong (see order2_matmul_create_graph_values.py).
    failed = _planted_run("order2_matmul_create_graph_values")["matmul (order 2)"]
    assert failed.status == "failed"
    # Shrunk to a = b = 0, where its first-order values happen to be right and its second derivative w.r.t.
    # b is 0 as a detached backward's would be; the same case moved off that point tells the two apart.
    diagnosis = failed.failure.diagnosis or ""
    assert NOT_DIFFERENTIABLE not in diagnosis
    assert "computes its gradient with another formula when it builds a graph" in diagnosis, diagnosis


#: The ops of the planted engines' runs: the correct engine passes each of their entries on the same settings.
PLANTED_OPS = tuple(sorted({op for ops, _, _ in EXPECTED.values() for op in ops}))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_correct_engine_passes_every_entry_the_planted_ones_are_checked_in(dtype: str) -> None:
    results = _run(higher.make_engine(dtype), PLANTED_OPS, programs=True)
    assert set(results) == _entries(PLANTED_OPS, programs=True)
    assert {check: result.status for check, result in results.items()} == dict.fromkeys(results, "passed")


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_correct_engine_passes_every_entry_of_every_op(dtype: str) -> None:
    report = run_checks(higher.make_engine(dtype), ops=list(higher.OPS), order=2, seed=0)
    failed = {result.check: result.failure.message for result in report.results if result.status != "passed"}
    assert failed == {}
