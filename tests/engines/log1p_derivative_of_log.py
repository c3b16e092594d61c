"""log1p's backward uses log's derivative, 1 / x, instead of 1 / (1 + x)."""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, unary_op

OP = "log1p"
CATEGORY = "mismatch"

log1p = unary_op(OP, np.log1p, lambda x, out: 1 / x)

engine = make_engine(name="planted: log1p_derivative_of_log", overrides={OP: log1p})
