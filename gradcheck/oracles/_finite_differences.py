"""Finite-difference oracle: directional central differences on the NumPy forward.

For a random direction ``v``, ``<u, J v>`` from two forward calls must equal
``<J^T u, v>`` from a VJP: O(1) forward calls per direction, whatever the
input size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

__all__ = ["DirectionalCheck", "directional_check"]

# Step for central differences in float64. Domains keep every kink and pole at
# least 0.25 away, so the step never crosses one; truncation error is
# O(STEP**2) and rounding error O(eps / STEP).
STEP = 1e-6
# Relative agreement required between <u, Jv> and <g, v>, measured against the
# sum of absolute terms (so cancellation cannot make the bound vanish).
RTOL = 1e-5
# Rounding in f(x + h v) - f(x - h v) is about eps times the magnitudes the
# forward computes with (its inputs and its output), divided by 2h.
_ROUNDING = 8 * np.finfo(np.float64).eps / STEP


@dataclass(frozen=True)
class DirectionalCheck:
    """How well a VJP agrees with finite differences along random directions."""

    agrees: bool
    worst_error: float
    bound: float


def directional_check(
    forward: Callable[..., np.ndarray],
    inputs: Sequence[np.ndarray],
    cotangent: np.ndarray,
    vjp: Sequence[np.ndarray],
    rng: np.random.Generator,
    directions: int = 2,
    value: np.ndarray | None = None,
    intermediate: float = 0.0,
    fourth_order: bool = False,
) -> DirectionalCheck:
    """Return whether ``vjp`` matches central differences of ``forward`` along random directions.

    ``value`` is ``forward(*inputs)`` when the caller already has it;
    ``intermediate`` the largest magnitude ``forward`` computes with on the
    way (a program's intermediate values), which its rounding scales with too.
    With ``fourth_order`` the difference quotient takes two more forward calls
    per direction and its truncation error falls from O(STEP**2) to O(STEP**4):
    a program is a polynomial of high degree whose third derivative can be
    large enough for O(STEP**2) to show.
    """
    value = np.asarray(forward(*inputs) if value is None else value, dtype=np.float64)
    magnitude = max([float(np.abs(value).max(initial=0.0)), intermediate]
                    + [float(np.abs(x).max(initial=0.0)) for x in inputs]) + 1.0
    # The fourth-order stencil weighs its four values by (8 + 8 + 1 + 1) / 12.
    rounding = _ROUNDING * (1.5 if fourth_order else 1.0) * magnitude * float(np.abs(cotangent).sum())
    worst = DirectionalCheck(True, 0.0, 1.0)
    for _ in range(directions):
        direction = [rng.standard_normal(np.shape(x)) for x in inputs]
        weighted = cotangent * _difference_quotient(forward, inputs, direction, fourth_order)
        products = [np.multiply(g, v) for g, v in zip(vjp, direction)]
        from_differences = float(weighted.sum())
        from_vjp = float(sum(product.sum() for product in products))
        scale = float(np.abs(weighted).sum() + sum(np.abs(product).sum() for product in products))
        bound = RTOL * scale + rounding + 1e-12
        error = abs(from_differences - from_vjp)
        if error / bound > worst.worst_error / worst.bound:
            worst = DirectionalCheck(error <= bound, error, bound)
    return worst


def _difference_quotient(
    forward: Callable[..., np.ndarray], inputs: Sequence[np.ndarray], direction: Sequence[np.ndarray],
    fourth_order: bool,
) -> np.ndarray:
    """Return the central-difference estimate of the JVP of ``forward`` along ``direction``."""
    def at(step: float) -> np.ndarray:
        return np.asarray(forward(*[x + step * v for x, v in zip(inputs, direction)]))

    near = (at(STEP) - at(-STEP)) / (2 * STEP)
    if not fourth_order:
        return near
    far = (at(2 * STEP) - at(-2 * STEP)) / (4 * STEP)
    return (4 * near - far) / 3  # Richardson: the STEP**2 terms cancel
