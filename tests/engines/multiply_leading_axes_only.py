"""multiply's backward sums broadcast gradients over leading axes only, missing size-1 axes.

``(2, 3) * (1, 3)`` broadcasts b along a size-1 axis, not a leading one, so
b's gradient keeps shape ``(2, 3)``. The question's ``unbroadcast`` has the
same gap.
"""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, with_backward

OP = "multiply"
CATEGORY = "shape"


def sum_leading_axes(g, shape):
    """Sum the axes ``g`` has in front of ``shape``'s, and no others."""
    return np.sum(g, axis=tuple(range(g.ndim - len(shape))))


multiply = with_backward(OP, lambda out, a, b: lambda g: (
    sum_leading_axes(g * b.data, a.shape),
    sum_leading_axes(g * a.data, b.shape),
))

engine = make_engine(name="planted: multiply_leading_axes_only", overrides={OP: multiply})
