"""tanh's backward uses 1 - x**2, the right formula applied to the input instead of the output."""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, unary_op

OP = "tanh"
CATEGORY = "mismatch"

tanh = unary_op(OP, np.tanh, lambda x, out: 1 - x * x)

engine = make_engine(name="planted: tanh_derivative_of_input", overrides={OP: tanh})
