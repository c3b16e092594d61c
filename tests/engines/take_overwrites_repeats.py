"""take's backward assigns the cotangent, grad[indices] = g, where it must add it up (np.add.at).

An index named twice feeds two outputs, so its entry of x gets both cotangent
entries; the assignment keeps one. Right whenever no index repeats.
"""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, with_backward

OP = "take"
CATEGORY = "mismatch"


def _backward(out, x, indices, axis=None):
    def backward(g):
        grad = np.zeros(x.data.size if axis is None else x.shape, dtype=g.dtype)
        grad[indices if axis is None else (slice(None),) * (axis % x.ndim) + (indices,)] = g
        return (np.reshape(grad, x.shape),)

    return backward


take = with_backward(OP, _backward)

engine = make_engine(name="planted: take_overwrites_repeats", overrides={OP: take})
