"""elu's backward drops alpha on the negative side: exp(x) where alpha * exp(x) is the derivative.

Right for the default alpha=1.0; wrong for any other.
"""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, with_backward

OP = "elu"
CATEGORY = "mismatch"

elu = with_backward(
    OP, lambda out, x, alpha=1.0: lambda g: (g * np.where(x.data > 0, 1, np.exp(np.minimum(x.data, 0))).astype(
        x.data.dtype),)
)

engine = make_engine(name="planted: elu_alpha_missing", overrides={OP: elu})
