"""Good: grad(y, xs) without a cotangent (all-ones mode). Returns a bare array for one x."""

import numpy as np

import _tiny
from _tiny import exp, value, variable  # noqa: F401


def grad(y, xs):
    grads = _tiny.grad(y, xs, np.ones_like(y.value))
    return grads[0] if len(xs) == 1 else grads
