"""abs's backward uses 1 instead of sign(x): wrong wherever x < 0."""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, unary_op

OP = "abs"
CATEGORY = "mismatch"

abs = unary_op(OP, np.abs, lambda x, out: np.ones_like(x))  # noqa: A001 - the op's name

engine = make_engine(name="planted: abs_derivative_one", overrides={OP: abs})
