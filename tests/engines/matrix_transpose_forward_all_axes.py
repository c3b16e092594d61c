"""matrix_transpose reverses every axis (np.transpose), forward and backward alike.

Only the last two axes should swap; on matrices the two agree, so the bug
shows once the input has a batch axis, e.g. ``(2, 2, 2)``. The backward is
the right VJP of what this forward computes (it reverses the cotangent's axes
too): the gradient is right for the wrong function. A checker should report
``forward`` only and say that the forward is what to fix.
"""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, node

OP = "matrix_transpose"
CATEGORY = "forward"


def matrix_transpose(x):
    """Return ``x`` with every axis reversed (the bug), differentiated consistently."""
    return node(np.transpose(x.data), (x,), lambda g: (np.transpose(g),))


engine = make_engine(name="planted: matrix_transpose_forward_all_axes", overrides={OP: matrix_transpose})
