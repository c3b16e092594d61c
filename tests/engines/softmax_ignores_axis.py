"""softmax ignores its axis argument and always normalises over the last axis.

A forward bug whenever ``axis`` is not the last axis.
"""

from gradcheck.examples.numpy_engine import REFERENCE_OPS, make_engine

OP = "softmax"
CATEGORY = "forward"


def softmax(x, axis=-1):
    return REFERENCE_OPS[OP](x, axis=-1)


engine = make_engine(name="planted: softmax_ignores_axis", overrides={OP: softmax})
