"""var's backward divides by N whatever the correction: 2 * g * (x - mean) / N.

The forward divides by N - correction; with ``correction=1`` the gradient is
(N - 1) / N of the right one, and right with ``correction=0``.
"""

import numpy as np

from gradcheck.examples.numpy_engine import _with_kept_dims, make_engine, reduced_axes, with_backward

OP = "var"
CATEGORY = "mismatch"


def _backward(out, x, axis=None, keepdims=False, correction=0.0):
    axes = reduced_axes(axis, x.ndim)
    count = int(np.prod([x.shape[a] for a in axes]))
    centered = x.data - np.mean(x.data, axis=axes, keepdims=True)
    return lambda g: (_with_kept_dims(g, axis, x.ndim, keepdims) * (2 * centered / count),)


var = with_backward(OP, _backward)

engine = make_engine(name="planted: var_correction_ignored", overrides={OP: var})
