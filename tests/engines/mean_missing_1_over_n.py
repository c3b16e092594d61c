"""mean's backward is sum's: it forgets to divide by the number of averaged entries."""

from gradcheck.examples.numpy_engine import REFERENCE_OPS, make_engine, with_backward

OP = "mean"
CATEGORY = "mismatch"


def _sum_backward(out, x, axis=None, keepdims=False):
    return REFERENCE_OPS["sum"](x, axis=axis, keepdims=keepdims)._backward


mean = with_backward(OP, _sum_backward)

engine = make_engine(name="planted: mean_missing_1_over_n", overrides={OP: mean})
