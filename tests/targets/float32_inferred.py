"""Good: a float32 engine that does not say so; gradcheck infers it from value()."""

import numpy as np

from _tiny import Node, add, grad, value  # noqa: F401


def variable(array):
    return Node(np.asarray(array, dtype=np.float32))
