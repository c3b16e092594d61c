"""grad() recycles the gradient buffers it made, without zeroing them, once it has made four of a shape.

To spare allocations, the engine keeps every gradient buffer it made; from
the fifth gradient of a shape on, it reuses the oldest one and adds the new
gradient into it (``buffer += g`` where ``buffer[...] = g`` was meant). The
first calls are right, so a case run twice at the start of a check passes;
the state shows on a later value set, as a wrong answer that changes from
one call to the next.
"""

import collections
import types

from gradcheck.examples.numpy_engine import make_engine

OP = "sin"  # any op shows it
CATEGORY = "nondeterministic"

_base = make_engine(name="planted: pooled_buffers_not_zeroed")
_pool: dict = collections.defaultdict(list)
_FRESH = 4


def grad(y, xs, cotangent=None):
    answers = []
    for g in _base.grad(y, xs, cotangent):
        buffers = _pool[g.shape]
        if len(buffers) < _FRESH:
            buffer = g.copy()
        else:
            buffer = buffers.pop(0)
            buffer += g
        buffers.append(buffer)
        answers.append(buffer.copy())
    return answers


engine = types.SimpleNamespace(**{**vars(_base), "grad": grad})
