"""The reference for one case: TensorFlow's answer, cross-checked by finite differences."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from gradcheck._timing import StageClock
from gradcheck.case import Case
from gradcheck.oracles._finite_differences import directional_check
from gradcheck.oracles._tensorflow import tensorflow_vjp

__all__ = ["Reference", "reference_for"]

# TensorFlow's and NumPy's float64 forwards of the same formula differ by a few ulps.
_FORWARD_RTOL = 1e-9


@dataclass(frozen=True)
class Reference:
    """The expected forward value and VJP of a case, and whether the oracles agree."""

    forward: np.ndarray
    grads: tuple[np.ndarray, ...]
    agrees: bool = True
    # Why the oracles disagree (the harness's problem, not the engine's).
    note: str | None = None


def _case_seed(case: Case) -> int:
    # Directions are random but a function of the case, so a replay sees the same ones.
    digest = zlib.crc32(case.cotangent.tobytes())
    for x in case.inputs:
        digest = zlib.crc32(x.tobytes(), digest)
    return digest


def _numpy_forward(case: Case) -> tuple[np.ndarray, float]:
    """Return the NumPy float64 forward value of ``case``, and the largest magnitude it computes with
    on the way: a program's intermediate values (0 for a single op, whose inputs and output say it)."""
    if case.kind != "program":
        return np.asarray(case.reference(*case.inputs), dtype=np.float64), 0.0
    values = case.reference_values(*case.inputs)  # type: ignore[attr-defined]
    largest = max((float(np.abs(v).max(initial=0.0)) for v in values.values()), default=0.0)
    return np.asarray(values[case.output], dtype=np.float64), largest  # type: ignore[attr-defined]


def reference_for(case: Case, clock: StageClock | None = None) -> Reference:
    """Return the reference for ``case``, cross-checking TensorFlow against finite differences.

    ``clock``, if given, is charged the time of each oracle.
    """
    def forward(*inputs: np.ndarray) -> np.ndarray:
        return np.asarray(case.reference(*inputs), dtype=np.float64)

    try:
        tf_forward, tf_grads = tensorflow_vjp(case)
        if clock:
            clock.lap("tensorflow")
        np_forward, intermediate = _numpy_forward(case)
    except Exception as exc:  # noqa: BLE001 - an oracle that cannot answer is the harness's problem
        empty = np.zeros(())
        return Reference(
            empty, tuple(empty for _ in case.inputs), agrees=False,
            note=f"the reference could not compute {case.describe()}: {type(exc).__name__}: {str(exc)[:200]}",
        )
    reference = Reference(tf_forward, tuple(tf_grads))
    if np_forward.shape != tf_forward.shape or not (
        np.abs(np_forward - tf_forward) <= _FORWARD_RTOL * (1.0 + np.abs(tf_forward))
    ).all():
        return Reference(
            tf_forward,
            tuple(tf_grads),
            agrees=False,
            note=f"TensorFlow's forward value of {case.describe()} differs from NumPy's",
        )
    check = directional_check(
        forward, case.inputs, case.cotangent, tf_grads, np.random.default_rng(_case_seed(case)),
        value=np_forward, intermediate=intermediate,
        fourth_order=case.kind == "program",
    )
    if clock:
        clock.lap("finite differences")
    if not check.agrees:
        return Reference(
            tf_forward,
            tuple(tf_grads),
            agrees=False,
            note=(
                f"TensorFlow's gradient of {case.describe()} disagrees with finite differences "
                f"(error {check.worst_error:.3g} > bound {check.bound:.3g})"
            ),
        )
    return reference
