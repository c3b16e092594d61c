"""The founding question's traversal: a breadth-first ``gradient(y, dx)`` that returns at dx.

Every op's rule is right. The backward pass is the question's: a working list
popped from the front, each popped node propagating its current adjoint to
its parents, and a return the moment ``dx`` itself is popped. An input reached
along paths of different lengths (``t = sin(x); multiply(t, x)``) is returned
before the longer path has contributed. No single op shows it.
"""

import types

import numpy as np

from gradcheck.examples.numpy_engine import accumulate, make_engine

OP = None  # shows only in programs
CATEGORY = "mismatch"


def gradient(y, dx, seed):
    """The question's loop, with the reference rules' local backward closures."""
    adjoints = {id(y): seed}
    working = [y]
    while working:
        current = working.pop(0)
        if current is dx:
            return adjoints[id(current)]
        if current._backward is None:  # a leaf that is not dx
            continue
        for parent, contribution in zip(current._parents, current._backward(adjoints[id(current)])):
            if contribution is None:
                continue
            adjoints[id(parent)] = accumulate(adjoints.get(id(parent)), contribution)
            if not any(parent is waiting for waiting in working):
                working.append(parent)
    return np.zeros_like(dx.data)


_reference = make_engine(name="planted: traversal_early_exit")


def grad(y, xs, cotangent):
    seed = np.array(cotangent, dtype=y.data.dtype)
    return [np.array(gradient(y, x, seed)) for x in xs]


engine = types.SimpleNamespace(**{**vars(_reference), "grad": grad})
