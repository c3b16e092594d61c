"""log's backward uses 1 / x**2 instead of 1 / x."""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, unary_op

OP = "log"
CATEGORY = "mismatch"

log = unary_op(OP, np.log, lambda x, out: 1 / (x * x))

engine = make_engine(name="planted: log_derivative_squared", overrides={OP: log})
