"""sum's backward lays the reduced axes out in front, then reshapes where it should transpose.

The gradient has x's shape, but its values land along the wrong axis unless
the reduced axes were the leading ones: for ``x`` of shape ``(2, 2)`` and
``axis=1`` row i should get ``g[i]`` and gets ``g`` instead.
"""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, reduced_axes, with_backward

OP = "sum"
CATEGORY = "mismatch"


def _backward(out, x, axis=None, keepdims=False):
    axes = reduced_axes(axis, x.ndim)
    reduced_sizes = tuple(x.shape[i] for i in axes)
    kept_sizes = tuple(size for i, size in enumerate(x.shape) if i not in axes)

    def backward(g):
        spread = np.broadcast_to(np.reshape(g, kept_sizes), reduced_sizes + kept_sizes)
        return (np.reshape(spread, x.shape),)

    return backward


sum = with_backward(OP, _backward)  # noqa: A001 - the op's name

engine = make_engine(name="planted: sum_reduced_axes_first", overrides={OP: sum})
