"""sqrt's backward divides by sqrt(x - x), a typo for sqrt(x): every gradient is inf or NaN."""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, unary_op

OP = "sqrt"
CATEGORY = "nonfinite"


def _typo_derivative(x, out):
    # The division by zero is the planted bug; keep NumPy from warning about it.
    with np.errstate(divide="ignore", invalid="ignore"):
        return 0.5 / np.sqrt(x - x)


sqrt = unary_op(OP, np.sqrt, _typo_derivative)

engine = make_engine(name="planted: sqrt_nonfinite", overrides={OP: sqrt})
