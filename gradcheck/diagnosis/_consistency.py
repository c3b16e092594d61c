"""Self-consistency: is the engine's gradient right for the function its own forward computes?

When an op's forward differs from the reference, a gradient that differs too
may only be the right derivative of the wrong function. To tell, the engine
is run again (as ``blame_steps`` does) around the failing case: its gradient,
for a cotangent shaped like its own output, is compared with central finite
differences of its own forward along a few seeded directions per input, at
two step sizes (their difference bounds the truncation and rounding error).
The answer is evidence on this case only, and is None when the numbers do not
decide (the engine fails on the nearby inputs, or the function is not smooth
there).
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gradcheck.case import Case

if TYPE_CHECKING:
    from gradcheck.engine import CheckedEngine

__all__ = ["Consistency", "SelfConsistency", "self_consistency"]

# Steps relative to (1 + the largest |input|), and the relative agreement
# asked for, per dtype: float32 inputs are rounded to float32 after stepping,
# and its forward carries ~1e-7 relative rounding, amplified by 1/step.
_STEP = {"float32": 1e-2, "float64": 1e-5}
_RTOL = {"float32": 2e-3, "float64": 1e-6}
_DIRECTIONS = 2
# A gradient is "clearly not" the derivative only this far beyond the bound.
_CLEAR = 10.0


class Consistency(enum.Enum):
    """What finite differences of the engine's own forward say of its gradient."""

    OWN = "right for the engine's own forward"
    REFERENCE = "right for the op, not for the engine's forward"
    NEITHER = "right for neither"


@dataclass(frozen=True)
class SelfConsistency:
    """The verdict, and the numbers behind it for the sentence."""

    consistency: Consistency
    directions: int
    # For NEITHER: the input whose gradient disagrees, and the two directional derivatives.
    wrt: str | None = None
    finite_difference: float | None = None
    gradient: float | None = None


def _cotangent(shape: tuple[int, ...], dtype: str, ones: bool) -> np.ndarray:
    """Return a varied cotangent of ``shape`` exactly representable in ``dtype`` (all ones if ``ones``)."""
    if ones:
        return np.ones(shape)
    values = np.asarray(np.random.default_rng(0).integers(-8, 9, size=shape) / 4.0)
    return np.where(values == 0, 0.75, values).astype(dtype).astype(np.float64)


def self_consistency(
    engine: CheckedEngine, case: Case, timeout: float | None
) -> SelfConsistency | None:
    """Return whether ``engine``'s gradient on ``case`` is the derivative of its own forward, or None.

    None when the engine fails on the case or nearby, or when finite
    differences at two step sizes disagree (not smooth there): no evidence.
    """
    dtype = case.dtype
    first = engine.run(case, timeout, False)
    if first.failure is not None or first.forward is None:
        return None
    w = _cotangent(first.forward.shape, dtype, ones=not engine.grad_takes_cotangent)
    probe = dataclasses.replace(case, cotangent=w)
    outcome = engine.run(probe, timeout, False)
    if outcome.failure is not None or outcome.grads is None or len(outcome.grads) != len(case.inputs):
        return None
    rng = np.random.default_rng(1)
    scale = 1.0 + max((float(np.max(np.abs(x), initial=0.0)) for x in case.inputs), default=0.0)
    rtol = _RTOL.get(dtype, _RTOL["float32"])
    for index, (name, x, grad) in enumerate(zip(case.names, case.inputs, outcome.grads)):
        grad = np.asarray(grad, np.float64)
        if grad.shape != x.shape:
            return None  # a shape failure of its own, told by the verdict
        for _ in range(_DIRECTIONS):
            v = rng.choice([-1.0, 1.0], size=x.shape) * rng.uniform(0.5, 1.0, size=x.shape)
            estimates = []
            for step in (_STEP.get(dtype, _STEP["float32"]) * scale, _STEP.get(dtype, _STEP["float32"]) * scale / 2):
                values = []
                deltas = []
                for sign in (1.0, -1.0):
                    moved = (x + sign * step * v).astype(dtype).astype(np.float64)
                    inputs = tuple(moved if i == index else y for i, y in enumerate(case.inputs))
                    answer = engine.run(dataclasses.replace(probe, inputs=inputs), timeout, False)
                    if answer.failure is not None or answer.forward is None or answer.forward.shape != w.shape:
                        return None
                    values.append(np.asarray(answer.forward, np.float64))
                    deltas.append(moved - x)
                # f(x + d+) - f(x + d-) is J (d+ - d-) up to second order.
                difference = float(np.vdot(w, values[0] - values[1]))
                analytic = float(np.vdot(grad, deltas[0] - deltas[1]))
                estimates.append((difference / (2 * step), analytic / (2 * step)))
            (coarse, _), (fine, analytic) = estimates
            if not (np.isfinite(fine) and np.isfinite(analytic)):
                return None
            truncation = abs(coarse - fine)
            floor = rtol * float(np.linalg.norm(w) * np.linalg.norm(v))
            bound = 4 * truncation + rtol * (abs(fine) + abs(analytic)) + floor
            if abs(fine - analytic) <= bound:
                continue
            if abs(fine - analytic) > _CLEAR * bound and truncation <= 0.01 * (abs(fine) + floor):
                verdict = Consistency.REFERENCE if _is_reference(probe, outcome.grads, w) else Consistency.NEITHER
                return SelfConsistency(verdict, _DIRECTIONS, name, fine, analytic)
            return None  # not smooth enough here to say
    return SelfConsistency(Consistency.OWN, _DIRECTIONS)


def _is_reference(probe: Case, grads: list[np.ndarray], w: np.ndarray) -> bool:
    """Return whether ``grads`` are the reference VJP of ``probe`` (its cotangent ``w``), within rtol."""
    from gradcheck.oracles import tensorflow_vjp

    if w.shape != np.shape(probe.reference(*probe.inputs)):
        return False
    rtol = _RTOL.get(probe.dtype, _RTOL["float32"])
    expected = tensorflow_vjp(probe)[1]
    return all(
        np.shape(g) == e.shape
        and bool(np.all(np.abs(np.asarray(g, np.float64) - e) <= rtol * (np.abs(e) + np.max(np.abs(e), initial=0) + 1)))
        for g, e in zip(grads, expected)
    )
