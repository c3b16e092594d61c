"""The backward pass overwrites a node's gradient instead of accumulating it.

A node used more than once keeps only the last contribution. Every op's
operands are distinct nodes, so no single op shows the bug; a program that
uses a value twice does, e.g. ``u = sin(x); multiply(u, exp(u))``.
"""

import functools

from gradcheck.examples.numpy_engine import make_engine, reverse_sweep

OP = None  # shows only in programs
CATEGORY = "mismatch"


def _overwrite(total, contribution):
    return contribution


engine = make_engine(
    name="planted: traversal_overwrites",
    backward_pass=functools.partial(reverse_sweep, accumulate=_overwrite),
)
