"""tanh never returns when its input has an axis of length 3 (a loop that waits forever); right elsewhere.

Not a wrong gradient: the check must end anyway, report ``timeout`` on the
smallest such input, ``x: (3,)``, and cost about three time limits in all,
not one per shrinking step. Loaded by path in tests/test_costly.py (not in
``_OP_BUGS``: every check of it waits out time limits).
"""

import time

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, node

OP = "tanh"
CATEGORY = "timeout"

#: Seconds each hanging call waited before it was stopped: what the hangs cost, in process.
HUNG: list[float] = []


def tanh(x):
    if 3 in x.data.shape:
        started = time.perf_counter()
        try:
            while True:
                time.sleep(0.01)
        finally:
            HUNG.append(time.perf_counter() - started)
    out = np.tanh(x.data)
    return node(out, (x,), lambda g: (g * (1 - out**2),))


engine = make_engine(name="planted: tanh_hangs_on_three", overrides={OP: tanh})
