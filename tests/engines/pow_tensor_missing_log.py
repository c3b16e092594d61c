"""pow's backward for a tensor exponent y forgets log(x): the gradient w.r.t. y is g * x**y.

d(x**y)/dy = x**y * log(x); the gradient w.r.t. x (y * x**(y - 1)) and pow
with a number exponent stay right. Right only where x = e.
"""

import numpy as np

from gradcheck.examples.numpy_engine import REFERENCE_OPS, Tensor, make_engine, node, unbroadcast

OP = "pow_tensor"
CATEGORY = "mismatch"


def pow(x, p):  # noqa: A001 - the contract's op name
    if not isinstance(p, Tensor):
        return REFERENCE_OPS["pow"](x, p)
    out = x.data**p.data
    return node(out, (x, p), lambda g: (
        unbroadcast(g * p.data * x.data ** (p.data - 1), x.shape),
        unbroadcast(g * out, p.shape),
    ))


engine = make_engine(name="planted: pow_tensor_missing_log", overrides={"pow": pow})
