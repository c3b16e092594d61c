"""tanh takes 0.2 s when its input has an axis of length 3, and never returns when it has one of length 4.

The slow shapes finish within a 0.5 s time limit and are no failure; the
hanging ones are. After the first timeout a check shortens the limit while it
shrinks, under which the slow shapes time out too: the minimal timeout must
still be one seen at the full limit, on an input with an axis of length 4.
Loaded by path in tests/test_costly.py (not in ``_OP_BUGS``: the bug is the
cost, not the category).
"""

import time

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, node

OP = "tanh"
CATEGORY = "timeout"


def tanh(x):
    while 4 in x.data.shape:
        time.sleep(0.01)
    if 3 in x.data.shape:
        time.sleep(0.2)
    out = np.tanh(x.data)
    return node(out, (x,), lambda g: (g * (1 - out**2),))


engine = make_engine(name="planted: tanh_slow_on_three", overrides={OP: tanh})
