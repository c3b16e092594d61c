"""relu's forward writes into its input (np.maximum(x, 0, out=x)), and variable keeps the caller's array.

Values and gradients are right; the bug is that the array handed to
``variable`` has its negative entries zeroed afterwards.
"""

import numpy as np

from gradcheck.examples.numpy_engine import Tensor, make_engine, node

OP = "relu"
CATEGORY = "mutation"


def variable(array):
    """Wrap ``array`` without copying it (no conversion is needed for float64)."""
    return Tensor(np.asarray(array, dtype=np.float64))


def relu(x):
    out = np.maximum(x.data, 0, out=x.data)
    # x.data now holds relu(x); it is positive exactly where x was, so the mask is right.
    return node(out, (x,), lambda g: (g * (x.data > 0),))


engine = make_engine(name="planted: relu_inplace", overrides={"variable": variable, OP: relu})
