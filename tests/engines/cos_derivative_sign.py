"""cos's backward uses +sin(x) instead of -sin(x)."""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, unary_op

OP = "cos"
CATEGORY = "mismatch"

cos = unary_op(OP, np.cos, lambda x, out: np.sin(x))

engine = make_engine(name="planted: cos_derivative_sign", overrides={OP: cos})
