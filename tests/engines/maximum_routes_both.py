"""maximum's backward passes the gradient to both operands instead of the larger one."""

import numpy as np

from gradcheck.examples.numpy_engine import binary_op, make_engine

OP = "maximum"
CATEGORY = "mismatch"

maximum = binary_op(OP, np.maximum, lambda g, a, b, out: (g, g))

engine = make_engine(name="planted: maximum_routes_both", overrides={OP: maximum})
