"""How far an engine's numbers may be from the float64 reference: a per-dtype table.

The bound on entry ``i`` is::

    rtol[dtype] * sqrt(terms) * (|expected_i| + max|expected| + floor)

``terms`` is how many numbers one entry sums (a reduction's length, matmul's
inner dimension, the copies a broadcast operand's gradient adds up): rounding
error grows like its square root. ``max|expected|`` makes the bound norm-wise,
so an entry that cancels to nearly zero is not held to a tighter standard than
the arithmetic that produced it. A correct float32 engine is then well inside
the bound, and a wrong rule (a factor, a sign, a transpose) is far outside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np

__all__ = ["DEFAULT_TOLERANCES", "Tolerance", "allowed_error", "merge_tolerances"]


@dataclass(frozen=True)
class Tolerance:
    """Relative tolerance of one dtype, and the absolute floor it applies to."""

    rtol: float
    floor: float = 1e-3


#: Per-dtype defaults. User overrides merge into these (``merge_tolerances``).
DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "float32": Tolerance(rtol=1e-3),
    "float64": Tolerance(rtol=1e-7),
}


def merge_tolerances(overrides: Mapping[str, float | Tolerance] | None) -> dict[str, Tolerance]:
    """Return the default table with ``overrides`` (dtype -> rtol or Tolerance) merged in."""
    table = dict(DEFAULT_TOLERANCES)
    for dtype, value in (overrides or {}).items():
        name = np.dtype(dtype).name
        table[name] = value if isinstance(value, Tolerance) else Tolerance(rtol=float(value))
    return table


def allowed_error(expected: np.ndarray, tolerance: Tolerance, terms: int = 1) -> np.ndarray:
    """Return the largest acceptable absolute error for each entry of ``expected``."""
    magnitude = np.abs(expected)
    largest = float(np.max(magnitude, initial=0.0))
    return tolerance.rtol * math.sqrt(max(terms, 1)) * (magnitude + largest + tolerance.floor)
