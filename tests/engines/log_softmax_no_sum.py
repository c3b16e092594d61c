"""log_softmax's backward is g - softmax * g: it forgets to sum g along the axis.

The right rule is ``g - softmax * sum(g, axis)``.
"""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, with_backward

OP = "log_softmax"
CATEGORY = "mismatch"

log_softmax = with_backward(OP, lambda out, x, axis=-1: lambda g: (g - np.exp(out.data) * g,))

engine = make_engine(name="planted: log_softmax_no_sum", overrides={OP: log_softmax})
