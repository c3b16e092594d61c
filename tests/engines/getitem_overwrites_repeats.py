"""getitem's backward assigns the cotangent, grad[key] = g, where it must add it up (np.add.at).

With an integer array that names an entry twice (``x[[0, 0]]``) that entry
feeds two outputs and the assignment keeps one of their cotangents. Right
for basic keys (slices, integers, ``None``, ``...``) and arrays without repeats.
"""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, with_backward

OP = "getitem"
CATEGORY = "mismatch"


def _backward(out, x, key):
    def backward(g):
        grad = np.zeros(x.shape, dtype=g.dtype)
        grad[key] = g
        return (grad,)

    return backward


getitem = with_backward(OP, _backward)

engine = make_engine(name="planted: getitem_overwrites_repeats", overrides={OP: getitem})
