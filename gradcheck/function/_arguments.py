"""Checking ``check_function``'s arguments: the functions (objects or targets), dtype, tolerance, array names.

Each bad value raises ``UsageError`` naming the argument as ``name=value``
and what to give instead.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Sequence

import numpy as np

from gradcheck.errors import UsageError
from gradcheck.loading import import_target, load_function
from gradcheck.settings import TOLERANCE, check_dtype
from gradcheck.tolerances import Tolerance

__all__ = ["array_names", "checked_dtype", "checked_tolerance", "function_argument", "function_name"]


def function_argument(value: Any, role: str, argument: str) -> tuple[Callable[..., Any], str | None]:
    """Return ``value`` as a function and its import target (None when unknown)."""
    if isinstance(value, str):
        return load_function(value, role=role), value
    if not callable(value):
        raise UsageError(
            f"{argument}={value!r} is not a function; give the function itself or its target "
            "string ('path/to/file.py:NAME')."
        )
    return value, import_target(value)


def function_name(function: Callable[..., Any]) -> str:
    """Return how reports name ``function``: its ``__name__``, else its type's."""
    return getattr(function, "__name__", None) or type(function).__name__


def checked_dtype(dtype: Any) -> str:
    """Return ``dtype``'s name, ``"float32"`` or ``"float64"``; raise ``UsageError`` for any other."""
    try:
        name = np.dtype(dtype).name  # np.float32, "f4" and "float32" alike
    except TypeError:
        name = None
    return check_dtype(name, given=dtype)


def checked_tolerance(tolerance: float | Tolerance | None) -> Tolerance | None:
    """Return ``tolerance`` as a ``Tolerance`` (None: the dtype's); raise ``UsageError`` for a bad one."""
    if isinstance(tolerance, Tolerance):
        return tolerance
    rtol = TOLERANCE.check(tolerance)
    return None if rtol is None else Tolerance(rtol=float(rtol))


def array_names(fn: Callable[..., Any], name: str, given: Sequence[str] | None) -> Callable[[int], tuple[str, ...]]:
    """Return ``count -> the names of fn's arrays``: ``names``, else fn's positional parameters."""
    if given is not None:
        fixed = tuple(str(item) for item in given)
        if len(set(fixed)) != len(fixed) or not all(item.isidentifier() for item in fixed):
            raise UsageError(f"names={list(given)!r} must be distinct Python identifiers, one per array.")

        def from_given(count: int) -> tuple[str, ...]:
            if count != len(fixed):
                raise UsageError(
                    f"names={list(fixed)!r} names {len(fixed)} arrays but the shapes give {count}; "
                    "give one name per array."
                )
            return fixed

        return from_given
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # a builtin or ufunc: no signature to read
        return lambda count: ("x",) if count == 1 else tuple(f"x{index}" for index in range(count))
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    variadic = any(p.kind is p.VAR_POSITIONAL for p in parameters)
    required = [p.name for p in positional if p.default is p.empty]

    def from_signature(count: int) -> tuple[str, ...]:
        if count < len(required) or (count > len(positional) and not variadic):
            takes = f"{len(required)}" if len(required) == len(positional) else f"{len(required)} to {len(positional)}"
            raise UsageError(
                f"{name}({', '.join(p.name for p in positional)}) takes {takes} array(s), but the shapes "
                f"give {count}; give one shape per array {name} takes."
            )
        names = [p.name for p in positional[:count]]
        names += [f"x{index}" for index in range(len(names), count)]
        return tuple(names)

    return from_signature
