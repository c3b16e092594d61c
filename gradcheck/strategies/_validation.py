"""Argument checks shared by the public strategies (Hypothesis's style:
``InvalidArgument`` naming the bad argument as ``name=value`` with a hint)."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis.errors import InvalidArgument

from gradcheck.settings import DTYPES


def check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidArgument(f"{name}={value!r} must be an integer.")
    if value < minimum:
        raise InvalidArgument(f"{name}={value!r} must be at least {minimum}.")
    return int(value)


def check_order(low_name: str, low: int, high_name: str, high: int) -> None:
    if low > high:
        raise InvalidArgument(f"{low_name}={low!r} is larger than {high_name}={high!r}.")


def check_dtype(dtype: Any) -> str:
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in DTYPES:
        raise InvalidArgument(f"dtype={dtype!r} is not supported; use one of {', '.join(DTYPES)}.")
    return name


def check_shape(name: str, shape: Any) -> tuple[int, ...]:
    try:
        result = tuple(int(side) for side in shape)
    except TypeError:
        raise InvalidArgument(f"{name}={shape!r} must be a tuple of non-negative integers.") from None
    if any(side < 0 for side in result):
        raise InvalidArgument(f"{name}={shape!r} has a negative side.")
    return result
