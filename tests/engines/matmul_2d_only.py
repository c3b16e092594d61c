"""matmul's backward assumes both operands are matrices, so a 1-D operand raises.

``np.swapaxes(v, -1, -2)`` on a vector has no second axis to swap; the
reference promotes a 1-D operand to a row or column first. Batched operands
are handled right.
"""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, unbroadcast, with_backward

OP = "matmul"
CATEGORY = "exception"


def _matrix_only_backward(out, a, b):
    def backward(g):
        ga = np.matmul(g, np.swapaxes(b.data, -1, -2))
        gb = np.matmul(np.swapaxes(a.data, -1, -2), g)
        return unbroadcast(ga, a.shape), unbroadcast(gb, b.shape)

    return backward


matmul = with_backward(OP, _matrix_only_backward)

engine = make_engine(name="planted: matmul_2d_only", overrides={OP: matmul})
