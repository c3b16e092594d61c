"""add's backward writes g into a zero array of each operand's shape (``out += g``), with no unbroadcast.

Where an operand was broadcast, NumPy raises "non-broadcastable output
operand": an exception caused by the missing sum over the broadcast axes.
Same-shape operands are right.
"""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, with_backward

OP = "add"
CATEGORY = "exception"


def _into(shape, g):
    out = np.zeros(shape)
    out += g  # the bug: g has the broadcast shape
    return out


add = with_backward(OP, lambda out, a, b: lambda g: (_into(a.shape, g), _into(b.shape, g)))

engine = make_engine(name="planted: add_unbroadcast_raises", overrides={OP: add})
