"""The runner end to end on small engines: categories, shrinking, determinism, oracles."""

from __future__ import annotations

import dataclasses
import time
import types

import numpy as np
import pytest

from gradcheck import ops
from gradcheck.engine import load_engine
from gradcheck.errors import UsageError
from gradcheck.examples import numpy_engine
from gradcheck.runner import check_op, resolve_ops, run_checks
from tests.shared_checks import searched


def _engine(**overrides):
    """Return the correct float64 NumPy engine with some attributes replaced."""
    base = numpy_engine.make_engine("float64")
    return load_engine(types.SimpleNamespace(**{**vars(base), **overrides}))


def test_correct_engine_passes_every_op_quickly():
    report = run_checks(load_engine("gradcheck.examples.numpy_engine"), max_examples=15, seed=1, programs=30)
    # Every op, then the program check.
    assert [result.check for result in report.results] == list(ops.OP_NAMES) + ["programs"]
    assert report.summary == {"passed": len(ops.OP_NAMES) + 1, "failed": 0, "unsupported": 0}
    assert all(result.examples >= 15 for result in report.results)


def test_unsupported_ops_are_not_failures():
    base = numpy_engine.make_engine("float64")
    engine = load_engine(types.SimpleNamespace(
        variable=base.variable, value=base.value, grad=base.grad, add=base.add, dtype="float64",
    ))
    report = run_checks(engine, ops=["add", "matmul"], max_examples=10, programs=10)
    statuses = {result.check: result.status for result in report.results}
    assert statuses == {"add": "passed", "matmul": "unsupported", "programs": "passed"}
    assert report.ok


def test_exception_is_reported_with_the_engine_line():
    def exp(x):
        raise ValueError("exp is not implemented yet")

    result = check_op(_engine(exp=exp), "exp", max_examples=10)
    failure = result.failure
    assert result.status == "failed" and failure.category == "exception"
    assert "exp() raised ValueError" in failure.message
    assert "exp is not implemented yet" in failure.detail
    # Shrunk to the smallest input: a 0-d array of the simplest value.
    assert failure.inputs[0].shape == ()


def test_system_exit_from_the_engine_is_a_failure_not_an_exit():
    def tanh(x):
        raise SystemExit(3)

    result = check_op(_engine(tanh=tanh), "tanh", max_examples=5)
    assert result.failure.category == "exception"
    assert "SystemExit" in result.failure.message


def test_timeout_is_reported():
    def sin(x):
        while True:
            time.sleep(0.01)

    result = check_op(_engine(sin=sin), "sin", max_examples=3, timeout=0.2)
    assert result.failure.category == "timeout"


def test_mutation_of_an_input_is_reported():
    base = numpy_engine.make_engine("float64")
    handed = {}

    def variable(array):
        handed["last"] = array
        return base.variable(array)

    def negative(x):
        handed["last"][...] = 0.0  # writes into the caller's array
        return base.negative(x)

    result = check_op(_engine(variable=variable, negative=negative), "negative", max_examples=10)
    assert result.failure.category == "mutation"
    assert "input x" in result.failure.message


def test_printing_engine_does_not_flood_the_terminal(capsys):
    base = numpy_engine.make_engine("float64")

    def cos(x):
        print("debug " * 10_000)
        return base.cos(x)

    result = check_op(_engine(cos=cos), "cos", max_examples=5)
    assert result.status == "passed"
    assert capsys.readouterr().out == ""


def test_nonfinite_gradient_is_its_own_category():
    base = numpy_engine.make_engine("float64")

    def grad(y, xs, cotangent):
        return [np.full(np.shape(base.value(x)), np.nan) for x in xs]

    result = check_op(_engine(grad=grad), "sqrt", max_examples=10)
    assert result.failure.category == "nonfinite"


def test_wrong_gradient_shape_is_shape():
    base = numpy_engine.make_engine("float64")

    def grad(y, xs, cotangent):
        return [np.zeros((7,)) for _ in xs]

    result = check_op(_engine(grad=grad), "exp", max_examples=10)
    assert result.failure.category == "shape"


def test_wrong_forward_is_forward():
    base = numpy_engine.make_engine("float64")
    result = check_op(_engine(exp=lambda x: base.multiply(base.exp(x), base.exp(x))), "exp", max_examples=20)
    assert result.failure.category == "forward"


def test_the_question_bug_is_found_on_a_small_stack():
    from gradcheck.examples import question_tape

    result = searched(question_tape, "matmul")  # check_op, 100 examples, seed 0
    by_category = {failure.category: failure for failure in result.failures}
    assert result.failure.category == "mismatch"
    # One bug (the all-axes transpose), told once: its shape failure is listed under it.
    assert "shape" in {seen.category for seen in by_category["mismatch"].also_seen_as}
    shapes = [record.shape for record in by_category["mismatch"].inputs]
    assert all(len(shape) <= 3 and max(shape) <= 2 for shape in shapes), shapes


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])  # seed 0: the search of the test above, shared
def test_the_question_bug_is_found_whatever_the_seed(seed):
    from gradcheck.examples import question_tape

    result = searched(question_tape, "matmul", seed)  # check_op, 100 examples
    assert "mismatch" in {failure.category for failure in result.failures}


def test_the_accepted_fix_still_misses_size_one_batch_axes():
    from gradcheck.examples import question_tape_fixed

    result = check_op(load_engine(question_tape_fixed), "matmul", max_examples=100, seed=0)
    shape_failures = [failure for failure in result.failures if failure.category == "shape"]
    assert shape_failures and "mismatch" not in {failure.category for failure in result.failures}
    shapes = [record.shape for record in shape_failures[0].inputs]
    assert 1 in [side for shape in shapes for side in shape[:-2]]


def test_same_seed_same_minimal_case():
    from gradcheck.examples import question_tape

    engine = load_engine(question_tape)
    first = check_op(engine, "matmul", max_examples=60, seed=7)
    second = check_op(engine, "matmul", max_examples=60, seed=7)
    assert [f.to_dict() for f in first.failures] == [f.to_dict() for f in second.failures]


def test_oracle_disagreement_is_never_blamed_on_the_engine(monkeypatch):
    """A TensorFlow gradient that is wrong must not fail a correct engine."""
    from gradcheck._tf import tensorflow

    tf = tensorflow()

    @tf.custom_gradient
    def wrong_exp(x):
        y = tf.exp(x)
        return y, lambda upstream: 2.0 * upstream * y  # twice the true gradient

    sabotaged = dataclasses.replace(ops.OPS["exp"], tensorflow=lambda tf, x: wrong_exp(x))
    monkeypatch.setitem(ops.OPS, "exp", sabotaged)
    result = check_op(load_engine("gradcheck.examples.numpy_engine"), "exp", max_examples=20)
    assert result.status == "passed" and result.failures == ()
    # Every case with a non-zero cotangent disagrees (a zero cotangent makes
    # both gradients zero, so most but not all cases are flagged).
    assert result.oracle_disagreements >= result.cases // 2
    assert "finite differences" in result.oracle_note


def test_float32_engine_is_checked_against_rounded_inputs():
    result = check_op(load_engine("gradcheck.examples.numpy_engine:engine32"), "softmax", max_examples=50)
    assert result.status == "passed"
    assert result.failures == ()


def test_grad_without_cotangent_is_checked_with_ones_and_says_so():
    base = numpy_engine.make_engine("float64")

    def grad(y, xs):
        return base.grad(y, xs, np.ones(np.shape(base.value(y))))

    engine = _engine(grad=grad)
    assert engine.grad_takes_cotangent is False
    report = run_checks(engine, ops=["multiply"], max_examples=10)
    assert report.results[0].status == "passed"
    assert "all-ones cotangent" in report.notes[0]


@pytest.mark.parametrize(
    "given, expected",
    [(["mul", "matmul", "multiply"], ["multiply", "matmul"]), (["transpose"], ["permute_dims"]), (None, list(ops.OP_NAMES))],
    ids=["aliases-deduplicated", "transpose-alias", "all"],
)
def test_resolve_ops(given, expected):
    assert resolve_ops(given) == expected


def test_unknown_op_suggests_the_closest():
    with pytest.raises(UsageError, match="Did you mean 'matmul'"):
        resolve_ops(["matmull"])
