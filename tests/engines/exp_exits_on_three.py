"""exp's backward ends the whole process (``os._exit(3)``) when its input has an axis of length 3.

Like a segfault in a C extension: no exception, no answer. The check must
report ``crash`` with the case that did it, and the run must go on with the
other ops. Loaded by path in tests/test_costly.py (not in ``_OP_BUGS``: it
kills the process that runs it).
"""

import os

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, node

OP = "exp"
CATEGORY = "crash"


def _backward(x, out):
    def backward(g):
        if 3 in x.data.shape:
            os._exit(3)
        return (g * out,)

    return backward


def exp(x):
    out = np.exp(x.data)
    return node(out, (x,), _backward(x, out))


engine = make_engine(name="planted: exp_exits_on_three", overrides={OP: exp})
