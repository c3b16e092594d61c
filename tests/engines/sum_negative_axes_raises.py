"""sum's backward finds the reduced axes with ``i in axes``, which never matches a negative axis.

With ``keepdims=False`` and a negative (or mixed-sign) axis, the shape it
reshapes the cotangent to keeps the reduced axis at full size, and NumPy
raises "cannot reshape array". Non-negative axes and ``axis=None`` are right.
"""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, with_backward

OP = "sum"
CATEGORY = "exception"


def _backward(out, x, axis=None, keepdims=False):
    axes = tuple(range(x.ndim)) if axis is None else (axis if isinstance(axis, tuple) else (axis,))
    kept = [1 if i in axes else side for i, side in enumerate(x.shape)]  # the bug: -1 is never an i

    def backward(g):
        return (np.broadcast_to(np.reshape(g, kept), x.shape).copy(),)

    return backward


sum = with_backward(OP, _backward)  # noqa: A001 - the op's name

engine = make_engine(name="planted: sum_negative_axes_raises", overrides={OP: sum})
