"""Hand-made reports for the renderer and command-line tests.

Built by hand, not by running gradcheck, so that the report tests pin the
renderers alone: they do not change when the runner finds a different minimal
case, and they run without TensorFlow.
"""

from __future__ import annotations

import numpy as np

from gradcheck.program import Step
from gradcheck.results import ArrayRecord, CheckResult, Failure, Report

__all__ = ["sample_report", "passing_report"]

NO_COTANGENT_NOTE = (
    "grad() takes no cotangent: checked with an all-ones cotangent only, "
    "which cannot see a gradient that ignores the cotangent"
)


def _matmul_mismatch() -> Failure:
    """The question's bug: the gradient w.r.t. b transposes every axis of a."""
    a = np.array([[[1.0, 2.0]], [[0.5, -1.0]]])
    b = np.array([[1.0, 0.0], [0.0, 1.0]])
    return Failure(
        category="mismatch",
        message="the gradient w.r.t. b differs from the reference",
        inputs=[ArrayRecord("a", a, "float64"), ArrayRecord("b", b, "float64")],
        params={},
        cotangent=np.ones((2, 1, 2)),
        wrt="b",
        expected=np.array([[1.5, 1.5], [1.0, 1.0]]),
        actual=np.array([[0.0, 3.0], [2.0, 0.0]]),
        max_abs_error=3.0,
        worst_index=(0, 1),
        tolerance=4.5e-07,
        diagnosis=(
            "matches the reference with all axes of b reversed: a transpose over every "
            "axis where only the last two should swap"
        ),
        reproducer="reports/repro_matmul.py",
    )


def _matmul_exception() -> Failure:
    """A second category on the same check: 1-D operands raise."""
    return Failure(
        category="exception",
        message="matmul() raised ValueError",
        inputs=[ArrayRecord("a", np.array([1.0, 2.0]), "float64"),
                ArrayRecord("b", np.array([[1.0], [0.0]]), "float64")],
        cotangent=np.ones((1,)),
        detail="ValueError: Shape must be rank 2 but is rank 1 (at engine.py:42: return tf.matmul(a, b))",
    )


def _sum_exception() -> Failure:
    """An op that raised, with static parameters in the case."""
    return Failure(
        category="exception",
        message="grad() raised IndexError",
        inputs=[ArrayRecord("x", np.array([[0.0, 1.0, -2.0], [0.25, 3.0, 1e-12]]), "float32")],
        params={"axis": (0, -1), "keepdims": True},
        cotangent=np.array([[1.5]]),
        detail=(
            "IndexError: tuple index out of range (at engine.py:88: axes = shape[axis])\n"
            "--- the engine printed ---\n"
            "backward sum [0, -1]"
        ),
    )


def _program_failure() -> Failure:
    """A composite program whose forward value is wrong."""
    return Failure(
        category="forward",
        message="the forward value differs from the reference",
        inputs=[ArrayRecord("x0", np.array([0.5, -1.0, 2.0]), "float64")],
        cotangent=np.array(1.0),
        expected=np.array(0.8133),
        actual=np.array(1.3133),
        max_abs_error=0.5,
        worst_index=(),
        tolerance=1e-7,
        program="t0 = exp(x0)\nt1 = sum(t0)\ny = log(t1)",
        steps=(Step("t0", "exp", ("x0",)), Step("t1", "sum", ("t0",)), Step("y", "log", ("t1",))),
    )


def sample_report() -> Report:
    """Return a report with every kind of row and failure the renderers must show."""
    return Report(
        target="student/engine.py",
        seed=7,
        engine_name="student tape",
        dtype="float64",
        max_examples=100,
        notes=[NO_COTANGENT_NOTE],
        results=[
            CheckResult("add", "op", "passed", examples=100, cases=800, seconds=0.12, reason=NO_COTANGENT_NOTE),
            CheckResult("negative", "op", "unsupported", reason="the engine defines no 'negative' (nor 'neg')"),
            CheckResult(
                "matmul", "op", "failed", examples=37, cases=290, seconds=0.41,
                failures=[_matmul_mismatch(), _matmul_exception()],
                oracle_disagreements=2,
                oracle_note="near-singular case: finite differences lost precision",
            ),
            CheckResult("sum", "op", "failed", examples=3, cases=17, seconds=0.05, failures=[_sum_exception()]),
            CheckResult("programs", "program", "failed", examples=12, cases=12, seconds=1.5,
                        failures=[_program_failure()]),
        ],
    )


def passing_report() -> Report:
    """Return a report in which every supported check passed."""
    return Report(
        target="gradcheck.examples.numpy_engine",
        seed=0,
        engine_name="numpy",
        dtype="float64",
        max_examples=30,
        results=[CheckResult(op, "op", "passed", examples=30, cases=240, seconds=0.1) for op in ("add", "exp")]
        + [CheckResult(op, "op", "unsupported", reason=f"the engine defines no {op!r}")
           for op in ("sin", "cos", "tanh", "relu")],
    )
