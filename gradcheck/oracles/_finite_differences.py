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
    def stacked_forward(*stacked: np.ndarray) -> np.ndarray:
        return np.asarray(forward(*[x[0] for x in stacked]))[np.newaxis]

    value = np.asarray(forward(*inputs) if value is None else value, dtype=np.float64)
    return directional_checks(
        stacked_forward, [np.asarray(x)[np.newaxis] for x in inputs], np.asarray(cotangent)[np.newaxis],
        [np.asarray(g)[np.newaxis] for g in vjp], rng, directions, value[np.newaxis], intermediate, fourth_order,
    )[0]


def directional_checks(
    forward: Callable[..., np.ndarray],
    inputs: Sequence[np.ndarray],
    cotangent: np.ndarray,
    vjp: Sequence[np.ndarray],
    rng: np.random.Generator,
    directions: int,
    value: np.ndarray,
    intermediate: float = 0.0,
    fourth_order: bool = False,
) -> list[DirectionalCheck]:
    """Return ``directional_check`` of many sets at once, one check per set.

    Every array (``inputs``, ``cotangent``, ``vjp``, ``value``) stacks the
    sets on its first axis, and ``forward`` maps stacked inputs to stacked
    outputs in one call: the forward calls and the sums are shared by all
    sets, while each set is judged against its own bound.
    """
    sets = len(cotangent)
    magnitude = np.maximum.reduce(
        [_per_set(np.abs(value), sets, np.max), np.full(sets, intermediate)]
        + [_per_set(np.abs(x), sets, np.max) for x in inputs]
    ) + 1.0
    # The fourth-order stencil weighs its four values by (8 + 8 + 1 + 1) / 12.
    rounding = _ROUNDING * (1.5 if fourth_order else 1.0) * magnitude * _per_set(np.abs(cotangent), sets)
    worst_error, worst_bound = np.zeros(sets), np.ones(sets)
    for _ in range(directions):
        direction = [rng.standard_normal(np.shape(x)) for x in inputs]
        weighted = cotangent * _difference_quotient(forward, inputs, direction, fourth_order)
        products = [np.multiply(g, v) for g, v in zip(vjp, direction)]
        from_differences = _per_set(weighted, sets)
        from_vjp = sum((_per_set(product, sets) for product in products), np.zeros(sets))
        scale = _per_set(np.abs(weighted), sets) + sum(
            (_per_set(np.abs(product), sets) for product in products), np.zeros(sets)
        )
        bound = RTOL * scale + rounding + 1e-12
        error = np.abs(from_differences - from_vjp)
        worse = error / bound > worst_error / worst_bound
        worst_error = np.where(worse, error, worst_error)
        worst_bound = np.where(worse, bound, worst_bound)
    return [
        DirectionalCheck(bool(error <= bound), float(error), float(bound))
        for error, bound in zip(worst_error, worst_bound)
    ]


def _per_set(array: np.ndarray, sets: int, reduce: Callable[..., np.ndarray] = np.sum) -> np.ndarray:
    """Return ``reduce`` of each set's entries of ``array`` (sets on its first axis); 0 for none."""
    flat = np.reshape(array, (sets, -1)) if np.size(array) else np.zeros((sets, 1))
    return reduce(flat, axis=1)


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
