"""layer_norm's backward drops the term through the variance: (g - mean(g)) / sqrt(var + eps).

The right rule subtracts y * mean(g * y) too, y the output: the variance
depends on x as well. The one everyone forgets; right only where g * y
averages to zero along the axis.
"""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, with_backward

OP = "layer_norm"
CATEGORY = "mismatch"


def _backward(out, x, axis=-1, eps=1e-5):
    scale = 1 / np.sqrt(np.var(x.data, axis=axis, keepdims=True) + eps)
    return lambda g: (scale * (g - np.mean(g, axis=axis, keepdims=True)),)


layer_norm = with_backward(OP, _backward)

engine = make_engine(name="planted: layer_norm_missing_term", overrides={OP: layer_norm})
