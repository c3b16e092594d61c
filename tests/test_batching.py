"""Value sets per example: the oracles answer for a batch of cases in one call, exactly as one by one.

``check_op`` draws shapes and parameters once per Hypothesis example and
checks ``VALUE_SETS`` sets of values on them; TensorFlow's VJP and the
finite differences run once for the whole batch, on the operands stacked on
a new leading axis (``OpSpec.batch``). These tests hold that to the
one-case answer for every op, and check that a wrong answer in one set is
that set's alone.
"""

from __future__ import annotations

import dataclasses
import time
import types

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradcheck import ops
from gradcheck.case import Case, CaseBatch
from gradcheck.engine import load_engine
from gradcheck.examples import numpy_engine
from gradcheck.oracles import reference_for, references_for
from gradcheck.oracles._finite_differences import directional_check, directional_checks
from gradcheck.oracles._reference import _stacked_answers
from gradcheck.runner import VALUE_SETS, check_op
from gradcheck.strategies import op_cases


@pytest.mark.parametrize("op", ops.OP_NAMES)
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_one_stacked_call_answers_as_one_call_per_case(op, data):
    dtype = data.draw(st.sampled_from(["float32", "float64"]), label="dtype")
    batch = data.draw(op_cases(op, dtype=dtype, sets=3), label="batch")
    assert isinstance(batch, CaseBatch) and len(batch) == 3
    assert len({(case.shapes, repr(case.params)) for case in batch}) == 1
    try:
        ops.OPS[op].batch(batch[0].shapes, batch[0].params, len(batch))
    except NotImplementedError as exc:
        # A row that cannot batch says why (cross_entropy averages everything): one by one, then.
        assert str(exc)
        stacked = references_for(batch)
    else:
        # The stacked path itself, not its one-by-one fallback, must answer.
        stacked = _stacked_answers(batch, None)
    for case, answer in zip(batch, stacked):
        alone = reference_for(case)
        assert answer.agrees and alone.agrees, (answer.note, alone.note)
        assert answer.forward.shape == alone.forward.shape == case.cotangent.shape
        np.testing.assert_allclose(answer.forward, alone.forward, rtol=1e-12, atol=1e-12)
        for grad, expected, x in zip(answer.grads, alone.grads, case.inputs):
            assert grad.shape == expected.shape == x.shape
            np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-12)


def _sets(op, *inputs, cotangent):
    """Return a CaseBatch of ``op`` with one case per entry of the stacked ``inputs`` and ``cotangent``."""
    spec = ops.OPS[op]
    return CaseBatch(Case(op, spec.operands, tuple(x[k] for x in inputs), {}, cotangent[k])
                     for k in range(len(cotangent)))


def test_a_single_case_is_answered_one_by_one():
    (case,) = _sets("exp", np.array([[0.5, -1.0]]), cotangent=np.array([[1.0, 2.0]]))
    (answer,) = references_for([case])
    assert answer.agrees and answer.forward.shape == case.cotangent.shape


def test_the_finite_difference_check_judges_each_set_alone():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (4, 3, 2))  # 4 sets of a (3, 2) operand
    cotangent = rng.uniform(0.5, 2, (4, 3, 2))
    right = np.cos(x) * cotangent
    wrong = right.copy()
    wrong[2] *= 1.01  # 1% off in one set only
    checks = directional_checks(np.sin, [x], cotangent, [wrong], rng, 2, np.sin(x))
    assert [check.agrees for check in checks] == [True, True, False, True]
    # The same verdicts as one set at a time.
    for index, check in enumerate(checks):
        alone = directional_check(np.sin, [x[index]], cotangent[index], [wrong[index]], rng)
        assert alone.agrees == check.agrees


def test_a_wrong_tensorflow_gradient_is_flagged_in_every_set(monkeypatch):
    """The stacked oracle still cross-checks TensorFlow set by set."""
    from gradcheck._tf import tensorflow

    tf = tensorflow()

    @tf.custom_gradient
    def wrong_sin(x):
        return tf.sin(x), lambda upstream: upstream * tf.cos(x) * 1.5

    monkeypatch.setitem(ops.OPS, "sin", dataclasses.replace(ops.OPS["sin"], tensorflow=lambda tf, x: wrong_sin(x)))
    batch = _sets("sin", np.linspace(-2, 2, 12).reshape(4, 3), cotangent=np.full((4, 3), 1.5))
    for answer in references_for(batch):
        assert not answer.agrees and "finite differences" in answer.note


def test_check_op_counts_value_sets_and_runs_twice_only_the_first_of_each_example():
    base = numpy_engine.make_engine("float64")
    calls = []

    def exp(x):
        calls.append(1)
        return base.exp(x)

    engine = load_engine(types.SimpleNamespace(**{**vars(base), "exp": exp}))
    result = check_op(engine, "exp", max_examples=10)
    assert result.status == "passed"
    assert result.examples == 10 and result.cases == 10 * VALUE_SETS
    # One extra run per example, to catch state kept between calls.
    assert len(calls) == result.cases + result.examples


def test_a_bug_in_one_value_set_fails_the_check_on_that_set():
    """An engine wrong only on negative inputs: the failure shows the set that has them."""
    base = numpy_engine.make_engine("float64")

    def grad(y, xs, cotangent):
        grads = base.grad(y, xs, cotangent)
        return [np.where(base.value(x) < 0, np.abs(g), g) for g, x in zip(grads, xs)]

    engine = load_engine(types.SimpleNamespace(**{**vars(base), "grad": grad}))
    result = check_op(engine, "abs", max_examples=30)
    assert result.status == "failed" and result.failure.category == "mismatch"
    (x,) = result.failure.inputs
    assert (x.values < 0).any()


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(op_cases("exp", shapes=[(3, 4)], sets=VALUE_SETS))
def test_value_sets_take_their_styles_by_position_simplest_first(batch):
    from gradcheck.strategies._cases import STYLE_PAIRS
    from gradcheck.strategies._values import STYLES

    def style_of(array):
        if (array == array.flat[0]).all():
            return "constant"
        if (array == np.round(array)).all():
            return "integers"
        return "varied"

    for case, (operands, cotangent) in zip(batch, STYLE_PAIRS):
        for array, style in ((case.inputs[0], STYLES[operands]), (case.cotangent, STYLES[cotangent])):
            if style in ("constant", "integers"):
                # Integers may all come out equal; constants never vary.
                assert style_of(array) in (("constant",) if style == "constant" else ("constant", "integers"))
    assert STYLES[STYLE_PAIRS[0][0]] == STYLES[STYLE_PAIRS[0][1]] == "constant"


def test_a_failure_is_shown_on_the_simplest_value_set_that_has_it():
    """exp's gradient off by a factor shows on constant operands already: the minimal case is one."""
    base = numpy_engine.make_engine("float64")

    def grad(y, xs, cotangent):
        return [2.0 * g for g in base.grad(y, xs, cotangent)]

    engine = load_engine(types.SimpleNamespace(**{**vars(base), "grad": grad}))
    result = check_op(engine, "exp", max_examples=20)
    assert result.failure.category == "mismatch"
    (x,) = result.failure.inputs
    values = np.asarray(x.values)
    assert x.shape == () and values == 0.0


def test_a_known_timeout_ends_its_example_instead_of_costing_the_limit_for_every_set():
    base = numpy_engine.make_engine("float64")
    calls = []

    def exp(x):
        calls.append(1)
        time.sleep(5)  # stopped by the time limit

    engine = load_engine(types.SimpleNamespace(**{**vars(base), "exp": exp}))
    result = check_op(engine, "exp", max_examples=10, timeout=0.05)
    assert result.failure.category == "timeout"
    # Once per example at most: the search's second round, which knows the
    # timeout, would otherwise wait out the limit on all 8 sets of each example.
    assert len(calls) <= result.examples < result.cases
