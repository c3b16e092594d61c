"""A tolerance override reaches the diagnosis, not only the verdict.

The planted rule flips the sign of ``negative``'s gradient and is off by 1e-4
(relative, varying with x, so no constant factor either): under float64's
default (rtol 1e-7) the sign-flipped reference is not the engine's answer,
under rtol=1e-3 it is. The verdict fails either way (the sign); only the
tolerance the diagnosis compares with differs.
"""

from __future__ import annotations

import numpy as np

from gradcheck import check_function
from gradcheck.case import Case
from gradcheck.diagnosis import diagnose
from gradcheck.engine import load_engine
from gradcheck.examples.numpy_engine import make_engine, with_backward
from gradcheck.execution import run_engine
from gradcheck.oracles import reference_for
from gradcheck.runner import check_op
from gradcheck.tolerances import DEFAULT_TOLERANCES, Tolerance
from gradcheck.verdict import judge

LOOSE = Tolerance(rtol=1e-3)
DEFAULT = DEFAULT_TOLERANCES["float64"]
SIGN = "wrong sign"


def _near_miss(g: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Return ``g`` (the sign-flipped right answer, -(-g)) off by about 1e-4."""
    return g * (1 + 1e-4 * (1 + x**2))


NEGATIVE_NEAR_MISS = make_engine(
    name="test: negative_sign_near_miss",
    overrides={"negative": with_backward("negative", lambda out, x: lambda g: (_near_miss(g, x.data),))},
)


def test_diagnosis_compares_with_the_tolerance_it_is_given():
    case = Case("negative", ("x",), (np.array([0.5, -1.5, 2.0]),), {}, np.array([1.0, -2.0, 0.5]))
    failure = judge(case, run_engine(load_engine(NEGATIVE_NEAR_MISS), case), reference_for(case), LOOSE)
    assert failure is not None and failure.category == "mismatch"
    assert SIGN in diagnose(case, failure, LOOSE)
    assert diagnose(case, failure, DEFAULT) is None


def test_check_op_diagnoses_with_the_tolerance_override():
    engine = load_engine(NEGATIVE_NEAR_MISS)
    loose = check_op(engine, "negative", max_examples=20, seed=0, tolerance=LOOSE)
    assert loose.failure is not None and SIGN in loose.failure.diagnosis, loose.failure
    default = check_op(engine, "negative", max_examples=20, seed=0)
    assert default.failure is not None and SIGN not in str(default.failure.diagnosis)


def _negate(x):
    return -x


def _negate_vjp_near_miss(x, cotangent):
    return [_near_miss(cotangent, x)]


def test_check_function_diagnoses_with_the_tolerance_override():
    loose = check_function(_negate, _negate_vjp_near_miss, shapes="array", max_examples=20, tolerance=1e-3)
    failure = loose.results[0].failure
    assert failure is not None and SIGN in failure.diagnosis, failure
    default = check_function(_negate, _negate_vjp_near_miss, shapes="array", max_examples=20)
    failure = default.results[0].failure
    assert failure is not None and SIGN not in str(failure.diagnosis)
