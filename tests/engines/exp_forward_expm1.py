"""exp's forward computes exp(x) - 1 (np.expm1); its backward is right.

A forward bug: the values differ before any gradient is taken.
"""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, unary_op

OP = "exp"
CATEGORY = "forward"

exp = unary_op(OP, np.expm1, lambda x, out: np.exp(x))

engine = make_engine(name="planted: exp_forward_expm1", overrides={OP: exp})
