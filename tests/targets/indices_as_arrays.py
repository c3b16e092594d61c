"""A correct engine whose take, getitem and where insist on getting NumPy arrays for their integer and boolean inputs.

docs/contract.md, section 1b: indices, keys' integer arrays and conditions are
passed as NumPy arrays, never as lists or engine values. Anything else raises.
"""

import numpy as np

from gradcheck.examples.numpy_engine import REFERENCE_OPS, make_engine


def _require(value, kind, what):
    if not isinstance(value, np.ndarray) or value.dtype.kind != kind:
        raise TypeError(f"{what} arrived as {type(value).__name__} {value!r}, not a NumPy array of kind {kind!r}")


def take(x, indices, axis=None):
    _require(indices, "i", "take's indices")
    return REFERENCE_OPS["take"](x, indices, axis=axis)


def getitem(x, key):
    for entry in key if isinstance(key, tuple) else (key,):
        if isinstance(entry, (list, dict)):
            raise TypeError(f"getitem's key holds a {type(entry).__name__}: {key!r}")
        if isinstance(entry, np.ndarray):
            _require(entry, "i", "getitem's integer-array key")
    return REFERENCE_OPS["getitem"](x, key)


def where(condition, a, b):
    _require(condition, "b", "where's condition")
    return REFERENCE_OPS["where"](condition, a, b)


engine = make_engine(name="indices as arrays", overrides={"take": take, "getitem": getitem, "where": where})
