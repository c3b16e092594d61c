"""maximum's backward routes g with boolean indexing on each operand's own array.

``ga[a > b] = g[a > b]`` needs a, b and g of one shape: with broadcast
operands the mask has the broadcast shape and NumPy raises "boolean index did
not match". Same-shape operands are right.
"""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, with_backward

OP = "maximum"
CATEGORY = "exception"


def _routes(a, b):
    def backward(g):
        mask = a.data > b.data
        ga, gb = np.zeros(a.shape), np.zeros(b.shape)
        ga[mask] = g[mask]
        gb[~mask] = g[~mask]
        return ga, gb

    return backward


maximum = with_backward(OP, lambda out, a, b: _routes(a, b))

engine = make_engine(name="planted: maximum_broadcast_raises", overrides={OP: maximum})
