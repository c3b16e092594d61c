"""exp's backward converts to NumPy and back: ``g * np.exp(x)`` computed on arrays, wrapped as a constant.

The first derivative is right; the gradient is a constant, so every second
derivative through ``exp`` is zero (on ``exp`` alone, where it should be
``exp(x) * u * v``). Forward mode is right.
"""

import numpy as np
from _higher import higher

OP = "exp"
CATEGORY = "mismatch"
ORDER = 2


def exp(x):
    out = np.exp(x.data)
    # the bug: NumPy arrays out of g and x, back in as a leaf; `g * result` (engine ops) was meant
    return higher.node(out, (x,), lambda g: (higher.constant(g.data * np.exp(x.data), out.dtype),),
                       lambda t: t * out)


engine = higher.make_engine(name="planted: order2_exp_numpy_backward", overrides={OP: exp})
