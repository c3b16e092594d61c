"""reshape's backward reshapes g to the requested shape instead of x's shape.

The closure names the wrong variable: ``shape`` (the forward's target) for
``x.shape``. The gradient keeps the output's shape.
"""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, with_backward

OP = "reshape"
CATEGORY = "shape"

reshape = with_backward(OP, lambda out, x, shape: lambda g: (np.reshape(g, shape),))

engine = make_engine(name="planted: reshape_to_requested_shape", overrides={OP: reshape})
