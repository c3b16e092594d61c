"""The oracles: TensorFlow's answer, held to NumPy and to finite differences computed here.

Each reference is checked against the same computation done another way:
its forward value against the op's NumPy forward, its VJP against a full
finite-difference VJP worked out entry by entry in this file (not the
directional check the oracle itself uses). A TensorFlow that answers wrong
must be caught by the cross-check, and ``directional_check`` must tell a
right VJP from one a little off.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gradcheck import oracles, ops
from gradcheck.case import Case
from gradcheck.oracles import reference_for, references_for
from gradcheck.oracles._finite_differences import directional_check
from gradcheck.strategies import op_cases
from tests.test_batching import _sets

_FEW = settings(max_examples=4, database=None, deadline=None, suppress_health_check=list(HealthCheck))


def _vjp_by_central_differences(case, step=1e-5):
    """Return the gradient of ``sum(reference(*inputs) * cotangent)``, one input entry at a time."""
    def weighted(inputs):
        return float(np.sum(case.reference(*inputs) * case.cotangent))

    grads = []
    for position, x in enumerate(case.inputs):
        grad = np.zeros(x.shape)
        for index in np.ndindex(x.shape):
            moved = {}
            for sign in (1.0, -1.0):
                shifted = np.array(x, dtype=np.float64)
                shifted[index] += sign * step
                moved[sign] = weighted([*case.inputs[:position], shifted, *case.inputs[position + 1:]])
            grad[index] = (moved[1.0] - moved[-1.0]) / (2 * step)
        grads.append(grad)
    return grads


def _assert_close_normwise(actual, expected, rtol):
    """Entry by entry within ``rtol`` of the largest entry: cancellation is not held to a tighter standard."""
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


# --- (a) the reference, computed two more ways --------------------------------


@pytest.mark.parametrize("op", ops.OP_NAMES)
@_FEW
@given(data=st.data())
def test_the_reference_is_the_numpy_forward_and_the_finite_difference_vjp(op, data):
    case = data.draw(op_cases(op, dtype="float64"), label="case")
    reference = reference_for(case)
    assert reference.agrees and reference.note is None, reference.note
    numpy_forward = ops.OPS[op].reference(*case.inputs, **case.params)
    assert reference.forward.shape == np.shape(numpy_forward) == case.cotangent.shape
    # Two float64 implementations of one formula: a few ulps apart.
    _assert_close_normwise(reference.forward, numpy_forward, rtol=1e-12)
    # Central differences at 1e-5: truncation and rounding both far below 1e-6 on the domains.
    for grad, by_differences, x in zip(reference.grads, _vjp_by_central_differences(case), case.inputs):
        assert grad.shape == x.shape
        _assert_close_normwise(grad, by_differences, rtol=1e-6)


# --- (b) a batch answers as its cases one by one -----------------------------

# One row per batching rule, on the shapes a rule most easily gets wrong.
# (tests/test_batching.py draws shapes at random; these are fixed.)
_BATCHES = [
    pytest.param("exp", [(2, 3)], None, id="elementwise"),
    pytest.param("add", [(2, 1, 3), (3,)], None, id="broadcast-lower-rank"),
    pytest.param("matmul", [(3,), (2, 3, 4)], None, id="matmul-vector-times-stack"),
    pytest.param("matmul", [(2, 2, 3), (3,)], None, id="matmul-stack-times-vector"),
    pytest.param("sum", [(2, 3, 4)], {"axis": (0, -1), "keepdims": True}, id="reduction-two-axes-kept"),
    pytest.param("logsumexp", [(2, 3)], {"axis": None, "keepdims": False}, id="reduction-every-axis"),
    pytest.param("max", [(3, 4)], {"axis": -1, "keepdims": False}, id="reduction-negative-axis"),
    pytest.param("softmax", [(2, 3)], {"axis": 0}, id="single-axis"),
    pytest.param("permute_dims", [(2, 3, 4)], {"axes": (2, 0, 1)}, id="permutation"),
    pytest.param("reshape", [(2, 3)], {"shape": (3, 2)}, id="reshape"),
    pytest.param("broadcast_to", [(3, 1)], {"shape": (2, 3, 4)}, id="broadcast-to"),
]


def _assert_same_answers(answers, cases):
    assert len(answers) == len(cases)
    for case, answer in zip(cases, answers):
        alone = reference_for(case)
        assert answer.agrees and alone.agrees, (answer.note, alone.note)
        assert answer.forward.shape == alone.forward.shape
        np.testing.assert_allclose(answer.forward, alone.forward, rtol=1e-12, atol=1e-12)
        assert len(answer.grads) == len(alone.grads) == len(case.inputs)
        for grad, expected in zip(answer.grads, alone.grads):
            assert grad.shape == expected.shape
            np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("op", "shapes", "params"), _BATCHES)
@settings(max_examples=2, database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_a_batch_answers_as_its_cases_one_by_one(op, shapes, params, data):
    batch = data.draw(op_cases(op, shapes=shapes, params=params, sets=3), label="batch")
    _assert_same_answers(references_for(batch), batch)


def test_a_batch_that_cannot_be_stacked_is_answered_one_by_one(monkeypatch):
    def cannot_stack(shapes, params, k):
        raise ValueError("no batching rule for these shapes")

    monkeypatch.setitem(ops.OPS, "sin", dataclasses.replace(ops.OPS["sin"], stacked=cannot_stack))
    batch = _sets("sin", np.linspace(-2, 2, 12).reshape(4, 3), cotangent=np.linspace(0.5, 2, 12).reshape(4, 3))
    _assert_same_answers(references_for(batch), batch)


# --- (c) a wrong TensorFlow is caught, never trusted -------------------------


def _doubled_gradient(spec):
    """Return ``spec`` whose TensorFlow forward is right and whose gradient is twice the true one."""
    def tensorflow_forward(tf, *tensors, **params):
        @tf.custom_gradient
        def doubled(*xs):
            with tf.GradientTape() as tape:
                tape.watch(xs)
                y = spec.tensorflow(tf, *xs, **params)

            def backward(upstream):
                # convert_to_tensor: a gather's gradient is tf.IndexedSlices.
                return [2.0 * tf.convert_to_tensor(g) for g in tape.gradient(y, xs, output_gradients=upstream)]

            return y, backward

        return doubled(*tensors)

    return dataclasses.replace(spec, tensorflow=tensorflow_forward)


@pytest.mark.parametrize("op", ops.OP_NAMES)
@_FEW
@given(data=st.data())
def test_a_doubled_tensorflow_gradient_is_flagged(op, data):
    case = data.draw(op_cases(op, dtype="float64"), label="case")
    # Twice a zero VJP (relu on negative inputs, softmax of a constant
    # cotangent) is still right: only a VJP with something in it can be wrong.
    assume(max(float(np.max(np.abs(g), initial=0.0)) for g in _vjp_by_central_differences(case)) > 1e-3)
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(ops.OPS, op, _doubled_gradient(ops.OPS[op]))
        reference = reference_for(case)
    assert not reference.agrees
    assert f"TensorFlow's gradient of {case.describe()} disagrees with finite differences" in reference.note


def _sin_case():
    x = np.array([[0.5, -1.25, 2.0], [1.5, 0.0, -2.5]])
    return Case("sin", ("x",), (x,), {}, np.array([[1.0, -0.5, 2.0], [0.75, 1.5, -1.0]]))


def _failing_tensorflow(tf, x):
    raise ValueError("no kernel for this dtype")


@pytest.mark.parametrize(
    ("tensorflow_forward", "note"),
    [
        pytest.param(lambda tf, x: tf.sin(x) * (1 + 1e-6), "TensorFlow's forward value of sin(x: (2, 3)) "
                     "differs from NumPy's", id="forward-off-by-1e-6"),
        pytest.param(lambda tf, x: tf.reshape(tf.sin(x), [3, 2]), "TensorFlow's forward value of "
                     "sin(x: (2, 3)) differs from NumPy's", id="forward-shape"),
        pytest.param(_failing_tensorflow, "the reference could not compute sin(x: (2, 3)): "
                     "ValueError: no kernel for this dtype", id="tensorflow-raises"),
    ],
)
def test_a_tensorflow_that_answers_wrong_or_not_at_all_is_flagged(monkeypatch, tensorflow_forward, note):
    monkeypatch.setitem(ops.OPS, "sin", dataclasses.replace(ops.OPS["sin"], tensorflow=tensorflow_forward))
    case = _sin_case()
    reference = reference_for(case)
    assert not reference.agrees and reference.note == note
    # Still one gradient per input, so a caller can zip them without looking at ``agrees``.
    assert len(reference.grads) == len(case.inputs)


# --- (d) directional_check ---------------------------------------------------

_RNG = np.random.default_rng(20261)
X = _RNG.uniform(-2, 2, (3, 4))
SQUARE, W = _RNG.uniform(-2, 2, (3, 3)), _RNG.uniform(-2, 2, (3, 3))
C34, C33 = _RNG.uniform(0.5, 2, (3, 4)), _RNG.uniform(0.5, 2, (3, 3))


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


_S = _softmax(X)

# A polynomial of degree 9 in 2e4 * x, near x = 0: its third derivative is
# 6 * (2e4)**3, so central differences at STEP = 1e-6 are off by about
# STEP**2 / 6 * f''' = 8 per unit direction (16 on the directions drawn here,
# against a bound near 1); the fourth-order stencil's error,
# STEP**4 / 30 * f^(5), comes to about 0.1.
SCALE = 2e4
COEFFICIENTS = np.ones(10)
COEFFICIENTS[0] = 0.0
XP = np.array([0.0, 1e-5, -2e-5, 5e-6])
CP = np.array([1.0, -0.5, 1.5, 0.75])


def _polynomial(x):
    return np.polynomial.polynomial.polyval(SCALE * x, COEFFICIENTS)


_POLYNOMIAL_VJP = CP * SCALE * np.polynomial.polynomial.polyval(
    SCALE * XP, np.polynomial.polynomial.polyder(COEFFICIENTS)
)


@pytest.mark.parametrize(
    ("forward", "inputs", "cotangent", "vjp", "fourth_order", "agrees"),
    [
        pytest.param(np.sin, [X], C34, [C34 * np.cos(X)], False, True, id="sin"),
        pytest.param(np.sin, [X], C34, [1.01 * C34 * np.cos(X)], False, False, id="sin-one-percent-off"),
        pytest.param(np.sin, [X], C34, [-C34 * np.cos(X)], False, False, id="sin-wrong-sign"),
        pytest.param(np.matmul, [SQUARE, W], C33, [C33 @ W.T, SQUARE.T @ C33], False, True, id="matmul"),
        pytest.param(np.matmul, [SQUARE, W], C33, [(C33 @ W.T).T, SQUARE.T @ C33], False, False,
                     id="matmul-first-gradient-transposed"),
        pytest.param(np.matmul, [SQUARE, W], C33, [C33 @ W.T, (SQUARE.T @ C33).T], False, False,
                     id="matmul-second-gradient-transposed"),
        pytest.param(np.matmul, [SQUARE, W], C33, [C33 @ W.T, 1.01 * SQUARE.T @ C33], False, False,
                     id="matmul-one-percent-off"),
        pytest.param(_softmax, [X], C34, [_S * (C34 - np.sum(C34 * _S, axis=-1, keepdims=True))], False, True,
                     id="softmax"),
        pytest.param(_softmax, [X], C34, [_S * C34], False, False, id="softmax-diagonal-jacobian"),
        # Why fourth_order exists: the second-order quotient fails a right VJP.
        pytest.param(_polynomial, [XP], CP, [_POLYNOMIAL_VJP], False, False, id="polynomial-second-order"),
        pytest.param(_polynomial, [XP], CP, [_POLYNOMIAL_VJP], True, True, id="polynomial-fourth-order"),
        pytest.param(_polynomial, [XP], CP, [1.01 * _POLYNOMIAL_VJP], True, False,
                     id="polynomial-fourth-order-one-percent-off"),
    ],
)
def test_directional_check(forward, inputs, cotangent, vjp, fourth_order, agrees):
    check = directional_check(forward, inputs, cotangent, vjp, np.random.default_rng(0), fourth_order=fourth_order)
    assert check.agrees is agrees, check
    assert (check.worst_error <= check.bound) is agrees


@pytest.mark.parametrize("seed", range(5))
def test_the_verdict_does_not_depend_on_the_directions_drawn(seed):
    """The cases above are far from the bound, not lucky draws."""
    rng = np.random.default_rng(seed)
    right = directional_check(np.matmul, [SQUARE, W], C33, [C33 @ W.T, SQUARE.T @ C33], rng)
    transposed = directional_check(np.matmul, [SQUARE, W], C33, [(C33 @ W.T).T, SQUARE.T @ C33], rng)
    assert right.agrees and right.worst_error < 0.1 * right.bound
    assert not transposed.agrees and transposed.worst_error > 10 * transposed.bound


# --- references kept between engines (a grading worker's) ------------------------------------


@pytest.fixture
def kept_references():
    from gradcheck.oracles import _reference

    oracles.keep_references(1000)
    yield _reference
    oracles.keep_references(None)


def test_kept_references_answer_a_case_seen_before_and_only_that_case(kept_references):
    def case(a, b):
        return Case("add", ("a", "b"), (np.asarray(a), np.asarray(b)), {}, np.ones(np.broadcast_shapes(np.shape(a), np.shape(b))))

    first = oracles.references_for([case(1.0, [2.0])])
    again = oracles.references_for([case(1.0, [2.0])])
    assert kept_references._KEPT.hits == 1
    assert again[0].forward.shape == first[0].forward.shape == (1,)
    # Same numbers, other shapes: () is not (1,) (a 0-d array made contiguous is 1-d).
    scalar = oracles.references_for([case(1.0, 2.0)])
    assert scalar[0].forward.shape == ()
    other = oracles.references_for([case(1.0, [3.0])])
    assert other[0].forward.tolist() == [4.0]
    assert kept_references._KEPT.hits == 1


def test_a_second_engine_checked_with_kept_references_gets_the_same_results(kept_references):
    from gradcheck.engine import load_engine
    from gradcheck.runner import run_checks

    def statuses(target):
        report = run_checks(load_engine(target), ops=["add", "matmul", "sum", "take"], max_examples=15, seed=0, programs=10)
        return [(r.check, r.status, r.examples, [f.to_dict()["inputs"] for f in r.failures]) for r in report.results]

    correct = "gradcheck.examples.numpy_engine:engine64"
    planted = "tests/engines/matmul_transpose_all_axes.py:engine"
    kept = [statuses(correct), statuses(planted), statuses(correct)]
    assert kept_references._KEPT.hits > 0
    oracles.keep_references(None)
    assert kept == [statuses(correct), statuses(planted), statuses(correct)]
