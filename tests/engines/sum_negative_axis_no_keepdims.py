"""sum has two bugs that both raise: its backward mishandles negative axes, and it has no ``keepdims``.

The backward finds the reduced axes by position, comparing them with the
``axis`` as given: a negative axis matches no position, so ``g`` is reshaped
to ``x``'s whole shape and NumPy raises (``sum(x, axis=-1)`` on ``(2,)``).
The forward takes no ``keepdims`` parameter, so ``sum(x, keepdims=True)``
raises TypeError. Two ``exception`` bugs of one op: a checker should report
both, each on its own minimal case.
"""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, node

OP = "sum"
CATEGORY = "exception"


def sum(x, axis=None):  # noqa: A001 - the op's name; no keepdims: the second bug
    out = np.sum(x.data, axis=tuple(axis) if isinstance(axis, list) else axis)
    axes = tuple(range(x.ndim)) if axis is None else tuple(np.atleast_1d(axis))
    # The first bug: axes compared as given, so a negative one matches no position.
    kept = tuple(1 if position in axes else size for position, size in enumerate(x.shape))
    return node(out, (x,), lambda g: (np.broadcast_to(np.reshape(g, kept), x.shape).copy(),))


engine = make_engine(name="planted: sum_negative_axis_no_keepdims", overrides={OP: sum})
