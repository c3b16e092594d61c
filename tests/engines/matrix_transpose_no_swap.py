"""matrix_transpose's backward passes g through without swapping it back.

The gradient has the output's shape: wrong shape for non-square matrices,
wrong values for square ones.
"""

from gradcheck.examples.numpy_engine import make_engine, with_backward

OP = "matrix_transpose"
CATEGORY = "shape"

matrix_transpose = with_backward(OP, lambda out, x: lambda g: (g,))

engine = make_engine(name="planted: matrix_transpose_no_swap", overrides={OP: matrix_transpose})
