"""divide's backward gives b the gradient g * a / b**2, missing the minus sign."""

import numpy as np

from gradcheck.examples.numpy_engine import binary_op, make_engine

OP = "divide"
CATEGORY = "mismatch"

divide = binary_op(OP, np.divide, lambda g, a, b, out: (g / b, g * a / (b * b)))

engine = make_engine(name="planted: divide_missing_minus", overrides={OP: divide})
