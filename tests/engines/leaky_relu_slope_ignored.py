"""leaky_relu's backward ignores negative_slope: relu's mask, a gradient of 0 where x < 0.

The forward is right; only the negative side of the backward is, with slope 0
instead of negative_slope.
"""

from gradcheck.examples.numpy_engine import make_engine, with_backward

OP = "leaky_relu"
CATEGORY = "mismatch"

leaky_relu = with_backward(
    OP, lambda out, x, negative_slope=0.01: lambda g: (g * (x.data > 0).astype(x.data.dtype),)
)

engine = make_engine(name="planted: leaky_relu_slope_ignored", overrides={OP: leaky_relu})
