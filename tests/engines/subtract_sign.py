"""subtract's backward gives b the gradient +g instead of -g."""

import numpy as np

from gradcheck.examples.numpy_engine import binary_op, make_engine

OP = "subtract"
CATEGORY = "mismatch"

subtract = binary_op(OP, np.subtract, lambda g, a, b, out: (g, g))

engine = make_engine(name="planted: subtract_sign", overrides={OP: subtract})
