"""grad() adds each input's gradient into a buffer it never clears, as a training loop without zero_grad() does.

The engine keeps one gradient buffer per input position for the whole
process, and each grad() call adds its gradients in (a buffer of another
shape is replaced), so the same case answers g, then 2 g, then 3 g. Every op
shows it as soon as a case follows another of the same shapes; each answer
alone may look like a factor bug, but two calls on the same case disagree.
"""

import types

from gradcheck.examples.numpy_engine import make_engine

OP = "multiply"  # any op shows it
CATEGORY = "nondeterministic"

_base = make_engine(name="planted: grads_never_reset")
_buffers: list = []


def grad(y, xs, cotangent=None):
    fresh = _base.grad(y, xs, cotangent)
    for index, g in enumerate(fresh):
        if index < len(_buffers) and _buffers[index].shape == g.shape:
            _buffers[index] = _buffers[index] + g
        elif index < len(_buffers):
            _buffers[index] = g
        else:
            _buffers.append(g)
    return [buffer.copy() for buffer in _buffers[: len(fresh)]]


engine = types.SimpleNamespace(**{**vars(_base), "grad": grad})
