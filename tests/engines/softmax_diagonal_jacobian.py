"""softmax's backward keeps only the Jacobian's diagonal, g * s * (1 - s), like sigmoid's.

It drops the term ``-s * sum(g * s)`` that couples each output to every input.
"""

from gradcheck.examples.numpy_engine import make_engine, with_backward

OP = "softmax"
CATEGORY = "mismatch"

softmax = with_backward(OP, lambda out, x, axis=-1: lambda g: (g * out.data * (1 - out.data),))

engine = make_engine(name="planted: softmax_diagonal_jacobian", overrides={OP: softmax})
