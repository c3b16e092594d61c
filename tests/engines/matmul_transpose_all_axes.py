"""matmul's backward transposes with np.transpose, reversing every axis: the question's bug.

Only the last two axes should swap. On matrices the two agree, so the bug
shows only once an operand has a batch axis, e.g. ``(2, 2, 2) @ (2, 2)``.
Everything else (1-D operands, broadcast batch axes) is NumPy's semantics.
On non-square batches the reversed operand no longer lines up and matmul
raises, so a checker may also report ``exception`` or ``shape``.
"""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, matmul_vjp, with_backward

OP = "matmul"
CATEGORY = "mismatch"

matmul = with_backward(OP, lambda out, a, b: lambda g: matmul_vjp(g, a.data, b.data, transpose=np.transpose))

engine = make_engine(name="planted: matmul_transpose_all_axes", overrides={OP: matmul})
