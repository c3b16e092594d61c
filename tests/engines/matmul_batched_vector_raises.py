"""matmul's backward raises whenever a batched ``a`` meets a 1-D ``b``, whatever the sizes.

The rule's branch for batched ``a`` forgets to promote a 1-D ``b`` to a
column before swapping its last two axes, and ``np.swapaxes`` refuses a
vector: any ``a`` of 3 or more axes times a 1-D ``b`` raises, so
``(1, 1, 1) @ (1,)`` shows the bug as well as ``(2, 2, 2) @ (2,)``. Every
other case is right.
"""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, matmul_vjp, unbroadcast, with_backward

OP = "matmul"
CATEGORY = "exception"


def _backward(out, a, b):
    def backward(g):
        if a.ndim > 2:
            # The bug: b used as a matrix, 1-D or not.
            ga = np.matmul(g, np.swapaxes(b.data, -1, -2))
            gb = np.matmul(np.swapaxes(a.data, -1, -2), g)
            return unbroadcast(ga, a.shape), unbroadcast(gb, b.shape)
        return matmul_vjp(g, a.data, b.data)

    return backward


matmul = with_backward(OP, _backward)

engine = make_engine(name="planted: matmul_batched_vector_raises", overrides={OP: matmul})
