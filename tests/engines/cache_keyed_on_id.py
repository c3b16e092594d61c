"""variable() caches the node it makes under id(array), and ids are reused once an array is freed.

Meant to save work when the same array is passed twice, the cache hands a
later call the node of an earlier, freed array that happened to live at the
same address: a value set checked after another of the same shapes may
compute with the earlier set's numbers. Which call is hit depends on the
allocator, so the bug shows on some value set, rarely the first.
"""

import types

from gradcheck.examples.numpy_engine import make_engine

OP = "sin"  # any op shows it
CATEGORY = "nondeterministic"

_base = make_engine(name="planted: cache_keyed_on_id")
_nodes: dict = {}


def variable(array):
    key = id(array)
    if key not in _nodes:
        _nodes[key] = _base.variable(array)
    return _nodes[key]


engine = types.SimpleNamespace(**{**vars(_base), "variable": variable})
