"""Static parameters as JSON, as Python source, and back: one codec for every place that stores or prints them.

Most parameters are numbers, booleans, strings, ``None`` and tuples of them
(axes, shapes). The course ops add values JSON has no word for: integer and
boolean arrays that are drawn but not differentiated (``take``'s indices,
``where``'s condition, ``cross_entropy``'s labels) and ``getitem``'s keys
(slices, ``...``, ``None``). JSON reports, worker messages, reproducers and
text reports all go through this module, so a parameter reads the same
everywhere and a stored report loads back to the values the engine was given.

JSON forms: a tuple is a list; an array is ``{"array": nested lists, "dtype":
"int64" | "bool"}``; a slice is ``{"slice": [start, stop, step]}``; ``...`` is
``{"ellipsis": true}``. Only integer and boolean arrays are parameters: a
float array is an operand.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["from_json", "python_value", "source", "to_json"]

#: The dtypes a parameter array may have, by JSON name.
_DTYPES = {"int64": np.int64, "int32": np.int32, "bool": np.bool_}


def to_json(value: Any) -> Any:
    """Return ``value`` as JSON data: tuples as lists, NumPy scalars as Python ones, arrays and slices tagged."""
    if isinstance(value, dict):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    if isinstance(value, np.ndarray):
        return {"array": value.tolist(), "dtype": _dtype_name(value)}
    if isinstance(value, slice):
        return {"slice": [to_json(value.start), to_json(value.stop), to_json(value.step)]}
    if value is Ellipsis:
        return {"ellipsis": True}
    if isinstance(value, np.generic):
        return value.item()
    return value


def from_json(value: Any) -> Any:
    """Return the parameter ``to_json`` encoded: lists as tuples, tagged objects as arrays, slices, ``...``.

    ValueError for a tagged object that is not one of the forms above (a
    malformed report or message): nothing here builds anything else.
    """
    if isinstance(value, list):
        return tuple(from_json(item) for item in value)
    if isinstance(value, dict):
        if set(value) == {"array", "dtype"}:
            if value["dtype"] not in _DTYPES:
                raise ValueError(f"a parameter array has dtype {value['dtype']!r}; only {', '.join(_DTYPES)} are parameters")
            return np.asarray(value["array"], dtype=_DTYPES[value["dtype"]])
        if set(value) == {"slice"} and isinstance(value["slice"], list) and len(value["slice"]) == 3:
            start, stop, step = value["slice"]
            return slice(start, stop, step)
        if value == {"ellipsis": True}:
            return Ellipsis
        return {key: from_json(item) for key, item in value.items()}
    return value


def python_value(value: Any) -> Any:
    """Return a parameter as the user writes it: tuples, not lists; Python numbers, not NumPy's.

    Accepts what a live run holds and what a stored report gives back
    (lists, tagged dicts): both end as the same value.
    """
    if isinstance(value, (list, tuple)):
        return tuple(python_value(item) for item in value)
    if isinstance(value, dict):
        decoded = from_json(value)
        return decoded if not isinstance(decoded, dict) else {key: python_value(item) for key, item in decoded.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def source(value: Any) -> str:
    """Return Python source for a parameter, as a reproducer writes it and a report prints it.

    Arrays are ``np.array([0, 0, 2])`` (``dtype=bool`` when boolean), slices
    ``slice(1, None, 2)``, ``...`` is ``...``; anything else is its ``repr``.
    """
    value = python_value(value)
    if isinstance(value, np.ndarray):
        listed = repr(value.tolist())
        return f"np.array({listed}, dtype=bool)" if value.dtype == np.bool_ else f"np.array({listed})"
    if isinstance(value, slice):
        return f"slice({source(value.start)}, {source(value.stop)}, {source(value.step)})"
    if value is Ellipsis:
        return "..."
    if isinstance(value, tuple):
        items = [source(item) for item in value]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    return repr(value)


def _dtype_name(array: np.ndarray) -> str:
    if array.dtype == np.bool_:
        return "bool"
    if np.issubdtype(array.dtype, np.integer):
        return "int64"
    raise ValueError(f"a parameter array must hold integers or booleans, not {array.dtype}")
