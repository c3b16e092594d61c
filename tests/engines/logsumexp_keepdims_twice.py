"""logsumexp's backward re-inserts the reduced axes even when keepdims=True already kept them.

With ``keepdims=True`` the gradient broadcasts against the extra axes and
comes back with more dimensions than x; with ``keepdims=False`` it is right.
"""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, reduced_axes, with_backward

OP = "logsumexp"
CATEGORY = "shape"


def _backward(out, x, axis=None, keepdims=False):
    axes = reduced_axes(axis, x.ndim)
    return lambda g: (np.expand_dims(g, axes) * np.exp(x.data - np.expand_dims(out.data, axes)),)


logsumexp = with_backward(OP, _backward)

engine = make_engine(name="planted: logsumexp_keepdims_twice", overrides={OP: logsumexp})
