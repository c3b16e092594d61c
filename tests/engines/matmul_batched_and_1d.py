"""matmul has two bugs: batched stacks transpose every axis, and a vector's gradient skips a transpose.

Two bugs of the same category (``mismatch``) in two classes of operands,
while plain matrices pass. For operands with a batch axis, the backward
transposes with ``np.transpose`` (the question's bug: every axis reversed
where only the last two should swap), shown by ``(2, 2, 2) @ (2, 2, 2)``.
For a vector times a matrix (or a matrix times a vector), the vector's
gradient multiplies ``g`` by the matrix where its transpose was meant
(``a @ g`` for ``a @ v``, ``swapaxes(b) @ g`` for ``v @ b``): wrong values
for a square matrix such as ``(2, 2) @ (2,)``, a raise for another. A
checker should report both mismatches, each on its own minimal case.
"""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, matmul_vjp, with_backward

OP = "matmul"
CATEGORY = "mismatch"


def _backward(out, a, b):
    def backward(g):
        if 1 in (a.ndim, b.ndim) and max(a.ndim, b.ndim) == 2:
            ga, gb = matmul_vjp(g, a.data, b.data)
            # The bug: the matrix where its transpose was meant.
            if b.ndim == 1:
                gb = np.matmul(a.data, g)
            else:
                ga = np.matmul(np.swapaxes(b.data, -1, -2), g)
            return ga, gb
        batched = a.ndim > 2 or b.ndim > 2
        return matmul_vjp(g, a.data, b.data, transpose=np.transpose if batched else lambda x: np.swapaxes(x, -1, -2))

    return backward


matmul = with_backward(OP, _backward)

engine = make_engine(name="planted: matmul_batched_and_1d", overrides={OP: matmul})
