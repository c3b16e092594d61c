"""permute_dims's backward applies the permutation again instead of its inverse.

Right for swaps, which are their own inverse; a 3-cycle such as ``(1, 2, 0)``
scrambles the values on a cube and the shape on anything else, so a checker
may report ``shape`` as well.
"""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, with_backward

OP = "permute_dims"
CATEGORY = "mismatch"

permute_dims = with_backward(OP, lambda out, x, axes: lambda g: (np.transpose(g, axes),))

engine = make_engine(name="planted: permute_dims_not_inverse", overrides={OP: permute_dims})
