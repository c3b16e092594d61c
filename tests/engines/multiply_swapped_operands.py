"""multiply's backward swaps the operands: a's gradient is g * a instead of g * b."""

import numpy as np

from gradcheck.examples.numpy_engine import binary_op, make_engine

OP = "multiply"
CATEGORY = "mismatch"

multiply = binary_op(OP, np.multiply, lambda g, a, b, out: (g * a, g * b))

engine = make_engine(name="planted: multiply_swapped_operands", overrides={OP: multiply})
