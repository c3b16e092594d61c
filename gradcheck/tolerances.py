"""How far an engine's numbers may be from the float64 reference: a per-dtype table.

The bound on entry ``i`` is::

    rtol[dtype] * sqrt(terms) * (|expected_i| + max|expected| + floor)

``terms`` is how many numbers one entry sums (a reduction's length, matmul's
inner dimension, the copies a broadcast operand's gradient adds up): rounding
error grows like its square root. ``max|expected|`` makes the bound norm-wise,
so an entry that cancels to nearly zero is not held to a tighter standard than
the arithmetic that produced it. A correct float32 engine is then well inside
the bound, and a wrong rule (a factor, a sign, a transpose) is far outside it.

A second call on the same case may differ from the first only as two orders
of summing the same terms do (``repeat_allowed``)::

    eps[dtype] * max(2 * (terms - 1), 16) * (|first_i| + max|first| + involved)

A sum of ``n`` terms taken in two orders differs by at most about
``2 (n - 1) eps sum|terms|``; ``sum|terms|`` is not the entry itself when the
terms cancel, so it is estimated norm-wise as above, ``involved`` being the
largest magnitude the computation works with (docs/tolerances.md, "Repeated
calls").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from gradcheck.errors import UsageError

__all__ = ["DEFAULT_TOLERANCES", "REPEAT_MIN_ULPS", "Tolerance", "allowed_error", "merge_tolerances", "repeat_allowed"]


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


#: The least slack of a repeated call, in ulps of the magnitudes involved: what
#: a multithreaded kernel summing in another order shows within one op.
REPEAT_MIN_ULPS = 16


def merge_tolerances(overrides: Mapping[Any, float | Tolerance] | None) -> dict[str, Tolerance]:
    """Return the default table with ``overrides`` (dtype -> rtol or Tolerance) merged in.

    Raises ``UsageError`` naming the first bad override: a dtype gradcheck does
    not check, or a tolerance that is not a positive finite rtol with a
    finite floor >= 0 (a negative or NaN bound would pass every answer).
    """
    table = dict(DEFAULT_TOLERANCES)
    for dtype, value in (overrides or {}).items():
        table[_dtype_name(dtype, value)] = _tolerance(dtype, value)
    return table


def _dtype_name(dtype: Any, value: Any) -> str:
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in DEFAULT_TOLERANCES:
        raise UsageError(
            f"tolerances={{{dtype!r}: {value!r}}}: {dtype!r} is not a dtype gradcheck checks; "
            f"give the tolerance of {' or '.join(map(repr, DEFAULT_TOLERANCES))}, e.g. tolerances={{'float32': 1e-4}}."
        )
    return name


def _tolerance(dtype: Any, value: Any) -> Tolerance:
    if isinstance(value, Tolerance):
        rtol, floor = value.rtol, value.floor
    elif isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool):
        rtol, floor = float(value), DEFAULT_TOLERANCES["float64"].floor
    else:
        rtol = floor = math.nan
    if not (math.isfinite(rtol) and rtol > 0 and math.isfinite(floor) and floor >= 0):
        raise UsageError(
            f"tolerances={{{dtype!r}: {value!r}}}: a tolerance is a relative tolerance > 0 (e.g. 1e-4), "
            "or a gradcheck.tolerances.Tolerance with rtol > 0 and floor >= 0, all finite; a negative "
            "or NaN bound would let every answer pass."
        )
    return value if isinstance(value, Tolerance) else Tolerance(rtol=rtol)


def allowed_error(expected: np.ndarray, tolerance: Tolerance, terms: int = 1) -> np.ndarray:
    """Return the largest acceptable absolute error for each entry of ``expected``."""
    magnitude = np.abs(expected)
    largest = float(np.max(magnitude, initial=0.0))
    if not math.isfinite(largest):
        # A NaN or inf reference entry says nothing of the scale of the others,
        # which are still judged (the non-finite ones are left to the verdict).
        largest = float(np.max(magnitude[np.isfinite(magnitude)], initial=0.0))
    return tolerance.rtol * math.sqrt(max(terms, 1)) * (magnitude + largest + tolerance.floor)


def repeat_allowed(first: np.ndarray, terms: int, involved: float) -> np.ndarray:
    """Return how far a second call's answer may be from ``first``, entry by entry, and still be rounding.

    Two calls of a correct engine may sum an entry's ``terms`` terms in
    different orders (a set of parents, a threaded reduction); ``involved``
    is the largest magnitude the terms are made of (inputs, intermediate
    values, cotangent), which bounds them when the entry itself cancels.
    """
    eps = float(np.finfo(first.dtype).eps) if np.issubdtype(first.dtype, np.floating) else 0.0
    magnitude = np.abs(first.astype(np.float64))
    finite = magnitude[np.isfinite(magnitude)]
    largest = float(np.max(finite, initial=0.0))
    ulps = max(2 * (max(terms, 1) - 1), REPEAT_MIN_ULPS)
    return eps * ulps * (magnitude + largest + involved)
