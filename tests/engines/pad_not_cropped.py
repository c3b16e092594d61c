"""pad's backward returns the cotangent of the padded output as is, not cropped back to x.

The gradient then has the padded shape; it is right only for a zero padding.
"""

from gradcheck.examples.numpy_engine import make_engine, with_backward

OP = "pad"
CATEGORY = "shape"

pad = with_backward(OP, lambda out, x, pad_width: lambda g: (g,))

engine = make_engine(name="planted: pad_not_cropped", overrides={OP: pad})
