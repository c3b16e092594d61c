"""cross_entropy's backward forgets the 1/N of the mean over rows: g * (softmax(logits) - one_hot(labels)).

The forward averages the N rows' losses; this gradient is N times the right
one, right only where N = 1.
"""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, with_backward

OP = "cross_entropy"
CATEGORY = "mismatch"


def _backward(out, logits, labels):
    shifted = np.exp(logits.data - np.max(logits.data, axis=-1, keepdims=True))
    softmax = shifted / np.sum(shifted, axis=-1, keepdims=True)
    one_hot = np.zeros_like(logits.data)
    one_hot[np.arange(logits.shape[0]), labels] = 1
    return lambda g: (g * (softmax - one_hot),)


cross_entropy = with_backward(OP, _backward)

engine = make_engine(name="planted: cross_entropy_missing_mean", overrides={OP: cross_entropy})
