"""negative's backward passes g through unchanged instead of -g."""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, unary_op

OP = "negative"
CATEGORY = "mismatch"

negative = unary_op(OP, np.negative, lambda x, out: np.ones_like(x))

engine = make_engine(name="planted: negative_sign", overrides={OP: negative})
