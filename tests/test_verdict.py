"""The verdict on hand-made answers: every branch of ``judge``, with no engine and no TensorFlow.

The reference is multiply's VJP worked out by hand, and each row of the
tables is an engine's answer with one thing wrong (or nothing): what the
verdict says about it, down to the fields a report prints.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradcheck.case import Case
from gradcheck.execution import EngineOutcome
from gradcheck.oracles import Reference
from gradcheck.tolerances import DEFAULT_TOLERANCES
from gradcheck.verdict import judge

F32, F64 = DEFAULT_TOLERANCES["float32"], DEFAULT_TOLERANCES["float64"]

A = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
B = np.array([2.0, -0.5, 1.25])
COTANGENT = np.array([[1.0, -2.0, 0.5], [0.25, 1.5, -1.0]])
CASE = Case("multiply", ("a", "b"), (A, B), {}, COTANGENT)
# b is broadcast over a's two rows, so its gradient sums two numbers per entry.
B_TERMS = 2
FORWARD, GRAD_A, GRAD_B = A * B, COTANGENT * B, np.sum(COTANGENT * A, axis=0)
REFERENCE = Reference(FORWARD, (GRAD_A, GRAD_B))


def _bound(expected, index, terms=1):
    """The float64 bound on one entry, by hand: rtol * sqrt(terms) * (|e_i| + max|e| + floor)."""
    return 1e-7 * math.sqrt(terms) * (abs(expected[index]) + np.max(np.abs(expected)) + 1e-3)


def _with(array, index, value):
    changed = np.array(array, dtype=np.float64)
    changed[index] = value
    return changed


def _answer(forward=FORWARD, grads=(GRAD_A, GRAD_B)):
    return EngineOutcome(forward=np.asarray(forward), grads=[np.asarray(g) for g in grads])


# Two entries of b's gradient wrong: entry 1 by more in absolute terms, entry 0
# by more relative to its own (smaller) bound. The report points at entry 0.
_TWO_WRONG = _with(_with(GRAD_B, 0, GRAD_B[0] + 3 * _bound(GRAD_B, 0, B_TERMS)),
                   1, GRAD_B[1] + 2.5 * _bound(GRAD_B, 1, B_TERMS))


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        pytest.param(_answer(), None, id="exact"),
        pytest.param(_answer(FORWARD * (1 + 1e-12), (GRAD_A * (1 - 1e-12), GRAD_B * (1 + 1e-12))), None,
                     id="rounding-everywhere"),
        # 0.9 of the two-term bound is 1.27 times the one-term bound: passing needs terms=2.
        pytest.param(_answer(grads=(GRAD_A, _with(GRAD_B, 1, GRAD_B[1] + 0.9 * _bound(GRAD_B, 1, B_TERMS)))),
                     None, id="inside-the-bound-of-a-broadcast-gradient"),
        pytest.param(
            _answer(grads=(GRAD_A, _with(GRAD_B, 1, GRAD_B[1] - 1.1 * _bound(GRAD_B, 1, B_TERMS)))),
            {"category": "mismatch", "wrt": "b", "worst_index": (1,),
             "max_abs_error": 1.1 * _bound(GRAD_B, 1, B_TERMS), "tolerance": _bound(GRAD_B, 1, B_TERMS),
             "message": "the gradient w.r.t. b differs from the reference"},
            id="just-outside-the-bound-of-a-broadcast-gradient",
        ),
        pytest.param(
            _answer(grads=(_with(GRAD_A, (0, 1), 2 * GRAD_A[0, 1]), GRAD_B)),
            {"category": "mismatch", "wrt": "a", "worst_index": (0, 1),
             "max_abs_error": abs(GRAD_A[0, 1]), "tolerance": _bound(GRAD_A, (0, 1)),
             "message": "the gradient w.r.t. a differs from the reference"},
            id="one-entry-twice-too-large",
        ),
        pytest.param(
            _answer(grads=(GRAD_A, _TWO_WRONG)),
            {"category": "mismatch", "wrt": "b", "worst_index": (0,),
             "max_abs_error": 2.5 * _bound(GRAD_B, 1, B_TERMS), "tolerance": _bound(GRAD_B, 0, B_TERMS)},
            id="worst-is-relative-to-its-own-bound",
        ),
        pytest.param(_answer(grads=(-GRAD_A, -GRAD_B)), {"category": "mismatch", "wrt": "a"},
                     id="the-first-wrong-gradient-is-named"),
        pytest.param(
            _answer(forward=_with(FORWARD, (1, 2), FORWARD[1, 2] + 1.0)),
            {"category": "forward", "wrt": None, "worst_index": (1, 2), "max_abs_error": 1.0,
             "tolerance": _bound(FORWARD, (1, 2)), "message": "the forward value differs from the reference"},
            id="forward-value",
        ),
        pytest.param(_answer(forward=FORWARD + 1.0, grads=(-GRAD_A, GRAD_B[:1])), {"category": "forward"},
                     id="forward-is-judged-before-gradients"),
        pytest.param(
            _answer(forward=FORWARD.T),
            {"category": "forward", "wrt": None,
             "message": "the forward value has shape (3, 2), expected (2, 3)"},
            id="forward-shape",
        ),
        pytest.param(_answer(grads=(GRAD_A,)),
                     {"category": "shape", "message": "grad() returned 1 gradient(s) for 2 input(s)"},
                     id="too-few-gradients"),
        pytest.param(_answer(grads=(GRAD_A, GRAD_B, GRAD_B)),
                     {"category": "shape", "message": "grad() returned 3 gradient(s) for 2 input(s)"},
                     id="too-many-gradients"),
        # The classic broadcasting bug: b's gradient never summed back to b's shape.
        pytest.param(
            _answer(grads=(GRAD_A, COTANGENT * A)),
            {"category": "shape", "wrt": "b",
             "message": "the gradient w.r.t. b has shape (2, 3), expected (3,) (the shape of b)"},
            id="gradient-shape",
        ),
        pytest.param(
            _answer(grads=(_with(GRAD_A, (1, 0), np.nan), GRAD_B)),
            {"category": "nonfinite", "wrt": "a", "worst_index": (1, 0),
             "message": "the gradient w.r.t. a has NaN or inf where the reference is finite"},
            id="nan-in-a-gradient",
        ),
        pytest.param(
            _answer(forward=_with(FORWARD, (0, 2), -np.inf)),
            {"category": "nonfinite", "wrt": None, "worst_index": (0, 2),
             "message": "the forward value has NaN or inf where the reference is finite"},
            id="inf-in-the-forward-value",
        ),
    ],
)
def test_judge(outcome, expected):
    failure = judge(CASE, outcome, REFERENCE, F64)
    if expected is None:
        assert failure is None, failure
        return
    assert failure is not None
    expected = dict(expected)  # the table's row stays as written
    fields = {key: getattr(failure, key) for key in expected}
    for key in ("max_abs_error", "tolerance"):
        if key in expected:
            assert fields.pop(key) == pytest.approx(expected.pop(key), rel=1e-9), key
    message = expected.pop("message", None)
    if message is not None:
        assert fields.pop("message").startswith(message), failure.message
    assert fields == expected
    # Every failure carries the case it was found on, for the report and the reproducer.
    assert [(record.name, record.dtype) for record in failure.inputs] == [("a", "float64"), ("b", "float64")]
    np.testing.assert_array_equal(failure.inputs[1].values, B)
    np.testing.assert_array_equal(failure.cotangent, COTANGENT)


def test_a_mismatch_reports_both_arrays_in_float64():
    wrong = _with(GRAD_A, (0, 0), 7.0).astype(np.float32)
    failure = judge(CASE, _answer(grads=(wrong, GRAD_B)), REFERENCE, F64)
    assert failure.actual.dtype == np.float64
    np.testing.assert_array_equal(failure.actual, wrong)
    np.testing.assert_array_equal(failure.expected, GRAD_A)


# --- where the reference itself is not finite --------------------------------

# a's gradient with no reference value at (0, 0) (NaN) and an infinite one at (1, 2).
_UNDEFINED = _with(_with(GRAD_A, (0, 0), np.nan), (1, 2), np.inf)


# inf - inf inside judge: NumPy's warning, not what is tested.
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize(
    "grad_a",
    [
        pytest.param(_UNDEFINED, id="same-nan-and-inf"),
        pytest.param(_with(_with(GRAD_A, (0, 0), np.inf), (1, 2), np.nan), id="other-nonfinite"),
        pytest.param(_with(_with(GRAD_A, (0, 0), 1.0), (1, 2), -3.0), id="finite-numbers"),
    ],
)
def test_an_entry_without_a_finite_reference_is_not_blamed(grad_a):
    reference = Reference(FORWARD, (_UNDEFINED, GRAD_B))
    assert judge(CASE, _answer(grads=(grad_a, GRAD_B)), reference, F64) is None


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("undefined", [np.nan, np.inf], ids=["nan", "inf"])
def test_entries_beside_a_nonfinite_reference_are_still_judged(undefined):
    reference = Reference(FORWARD, (_with(GRAD_A, (0, 0), undefined), GRAD_B))
    wrong = _with(reference.grads[0], (1, 1), 2 * GRAD_A[1, 1])
    failure = judge(CASE, _answer(grads=(wrong, GRAD_B)), reference, F64)
    assert failure is not None and (failure.category, failure.worst_index) == ("mismatch", (1, 1))


# --- failures found while calling the engine ---------------------------------


@pytest.mark.parametrize(
    ("failure", "printed", "detail"),
    [
        pytest.param(("exception", "multiply() raised ValueError", "ValueError: no"), "",
                     "ValueError: no", id="exception"),
        pytest.param(("exception", "multiply() raised ValueError", "ValueError: no"), "debug 1\ndebug 2",
                     "ValueError: no\n--- the engine printed ---\ndebug 1\ndebug 2", id="exception-and-output"),
        pytest.param(("timeout", "grad() did not return within 10 s", None), "started",
                     "--- the engine printed ---\nstarted", id="no-detail-but-output"),
        pytest.param(("mutation", "a call wrote into the array it was handed for input a", None), "",
                     None, id="no-detail-no-output"),
    ],
)
def test_a_failure_while_calling_the_engine_is_passed_through(failure, printed, detail):
    # Whatever else the outcome holds: the engine's failure comes first.
    outcome = EngineOutcome(forward=FORWARD + 1.0, grads=[], failure=failure, output=printed)
    reported = judge(CASE, outcome, REFERENCE, F64)
    category, message, _ = failure
    assert (reported.category, reported.message, reported.detail) == (category, message, detail)
    assert [record.name for record in reported.inputs] == ["a", "b"]
    assert reported.wrt is None and reported.expected is None
    np.testing.assert_array_equal(reported.cotangent, COTANGENT)


# --- float32 -----------------------------------------------------------------

# Exactly representable in float32, as the strategies draw them.
X32 = np.array([[-2.5, 0.125, 1.75], [2.875, -0.5, 3.0]])
COTANGENT32 = np.array([[1.5, -0.25, 2.0], [-1.0, 0.75, 0.5]])
CASE32 = Case("exp", ("x",), (X32,), {}, COTANGENT32, "float32")
REFERENCE32 = Reference(np.exp(X32), (COTANGENT32 * np.exp(X32),))


def _float32_exp(factor=1.0):
    """exp and its VJP as a correct float32 engine computes them, the gradient times ``factor``."""
    x, cotangent = X32.astype(np.float32), COTANGENT32.astype(np.float32)
    forward = np.exp(x)
    return EngineOutcome(forward=forward, grads=[cotangent * forward * np.float32(factor)])


@pytest.mark.parametrize(
    ("outcome", "tolerance", "category"),
    [
        pytest.param(_float32_exp(), F32, None, id="float32-rounding"),
        # A float32 engine's accumulated rounding: inside float32's row of the
        # table, far outside float64's, so the dtype's row is what admits it.
        pytest.param(_float32_exp(factor=1 + 2e-5), F32, None, id="float32-accumulated-rounding"),
        pytest.param(_float32_exp(factor=1 + 2e-5), F64, "mismatch", id="same-answer-float64-tolerance"),
        pytest.param(_float32_exp(factor=1.01), F32, "mismatch", id="one-percent-off"),
        pytest.param(_float32_exp(factor=-1.0), F32, "mismatch", id="wrong-sign"),
    ],
)
def test_float32_answers_are_judged_by_the_float32_tolerance(outcome, tolerance, category):
    failure = judge(CASE32, outcome, REFERENCE32, tolerance)
    assert (failure and failure.category) == category, failure
    if failure is not None:
        assert failure.inputs[0].dtype == "float32"
