"""tanh's backward uses its saved output detached: a NumPy copy wrapped as a new leaf, not the output node.

This is a custom op whose ``backward`` reads a saved tensor that is no longer
connected to the graph (``out.detach()`` in PyTorch). The first derivative is
right; the gradient's graph does not reach ``x`` through ``1 - out**2``, so
the second derivative of ``tanh`` alone, ``-2 tanh(x) (1 - tanh(x)**2)``, comes
out zero. Forward mode is right.
"""

import numpy as np
from _higher import higher

OP = "tanh"
CATEGORY = "mismatch"
ORDER = 2


def tanh(x):
    out = np.tanh(x.data)
    saved = higher.constant(out, out.dtype)  # the bug: the output node `result` was meant
    return higher.node(out, (x,), lambda g: (g * (1 - saved * saved),), lambda t: t * (1 - out * out))


engine = higher.make_engine(name="planted: order2_tanh_detached", overrides={OP: tanh})
