"""multiply's backward ignores the incoming gradient: a's gradient is b, not g * b.

Right for an all-ones cotangent, which is why docs/contract.md's section 1 ``grad`` takes one.
"""

import numpy as np

from gradcheck.examples.numpy_engine import binary_op, make_engine

OP = "multiply"
CATEGORY = "mismatch"

multiply = binary_op(
    OP, np.multiply, lambda g, a, b, out: (np.broadcast_to(b, g.shape), np.broadcast_to(a, g.shape))
)

engine = make_engine(name="planted: multiply_ignores_cotangent", overrides={OP: multiply})
