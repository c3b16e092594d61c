"""cumulative_sum's backward scans the cotangent forward, cumsum(g), instead of the reversed scan.

Entry i of x feeds outputs i, i + 1, ...: its gradient is the sum of g from i
to the end of the axis. This backward sums g from the start to i, right only
where g is symmetric along the axis.
"""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, with_backward

OP = "cumulative_sum"
CATEGORY = "mismatch"


def _backward(out, x, axis=None):
    if axis is None:
        return lambda g: (np.reshape(np.cumsum(g), x.shape),)
    return lambda g: (np.cumsum(g, axis=axis),)


cumulative_sum = with_backward(OP, _backward)

engine = make_engine(name="planted: cumsum_not_reversed", overrides={OP: cumulative_sum})
