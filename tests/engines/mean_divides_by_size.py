"""mean's backward divides by x.size, the count of a full reduction, whatever the axis.

Right for ``axis=None``; too small whenever only some axes are averaged.
"""

from gradcheck.examples.numpy_engine import REFERENCE_OPS, make_engine, with_backward

OP = "mean"
CATEGORY = "mismatch"


def _backward(out, x, axis=None, keepdims=False):
    spread = REFERENCE_OPS["sum"](x, axis=axis, keepdims=keepdims)._backward
    return lambda g: (spread(g)[0] / x.data.size,)


mean = with_backward(OP, _backward)

engine = make_engine(name="planted: mean_divides_by_size", overrides={OP: mean})
