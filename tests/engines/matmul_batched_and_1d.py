"""matmul has two bugs: batched stacks transpose every axis, and a 1-D ``b`` gets ``a @ g``.

Two bugs of the same category (``mismatch``) in two classes of operands,
while plain matrices pass. For operands with a batch axis, the backward
transposes with ``np.transpose`` (the question's bug: every axis reversed
where only the last two should swap), shown by ``(2, 2, 2) @ (2, 2, 2)``.
For a 1-D ``b`` and a matrix ``a`` (``a @ v``), ``v``'s gradient multiplies ``g`` by ``a``
instead of by ``a``'s transpose: wrong values for a square ``a`` such as
``(2, 2) @ (2,)``, the wrong shape for another. A checker should report
both mismatches, each on its own minimal case.
"""

import numpy as np

from gradcheck.examples.numpy_engine import matmul_vjp, make_engine, unbroadcast, with_backward

OP = "matmul"
CATEGORY = "mismatch"


def _backward(out, a, b):
    def backward(g):
        if b.ndim == 1 and a.ndim > 1:
            ga, _ = matmul_vjp(g, a.data, b.data)
            # The bug: a @ g where swapaxes(a, -1, -2) @ g was meant.
            gb = np.matmul(a.data, g[..., np.newaxis])[..., 0]
            return ga, unbroadcast(gb, (gb.shape[-1],))
        batched = a.ndim > 2 or b.ndim > 2
        return matmul_vjp(g, a.data, b.data, transpose=np.transpose if batched else lambda x: np.swapaxes(x, -1, -2))

    return backward


matmul = with_backward(OP, _backward)

engine = make_engine(name="planted: matmul_batched_and_1d", overrides={OP: matmul})
