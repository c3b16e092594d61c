"""concat's backward splits the cotangent with np.split(g, offsets), along axis 0 whatever the concat axis.

The offsets are the right ones (the operands' lengths along the concat axis),
the axis is np.split's default. Right where the concat axis is 0 (or the
operands are 1-D); elsewhere each gradient is a piece of g along axis 0,
which has the wrong shape: a one-operand concat is the only case where it
still has the right one (and the right values).
"""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, with_backward

OP = "concat"
CATEGORY = "shape"


def _backward(out, xs, axis=0):
    offsets = np.cumsum([x.shape[axis] for x in xs])[:-1]
    return lambda g: tuple(np.split(g, offsets))


concat = with_backward(OP, _backward)

engine = make_engine(name="planted: concat_split_wrong_axis", overrides={OP: concat})
