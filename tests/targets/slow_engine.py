"""Correct but slow: negative answers at once, exp sleeps a quarter second per call.

For the signal tests (tests/test_cli_signals.py): the negative check finishes
quickly, exp's takes minutes, so a signal sent after negative's progress line
stops a run with one check done and one not. With GRADCHECK_TEST_PID_FILE set,
the process that loads the engine writes its pid there, so a test can see
that gradcheck stopped its worker.
"""

import os
import time

from gradcheck.examples.numpy_engine import make_engine

_base = make_engine()
variable, value, grad, negative = _base.variable, _base.value, _base.grad, _base.negative
dtype = "float64"
name = "slow"

if os.environ.get("GRADCHECK_TEST_PID_FILE"):
    with open(os.environ["GRADCHECK_TEST_PID_FILE"], "w") as pid_file:
        pid_file.write(str(os.getpid()))


def exp(x):
    time.sleep(0.25)
    return _base.exp(x)
