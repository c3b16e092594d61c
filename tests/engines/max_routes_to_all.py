"""max's backward sends the gradient to every position, as sum's does, not to the argmax."""

from gradcheck.examples.numpy_engine import REFERENCE_OPS, make_engine, with_backward

OP = "max"
CATEGORY = "mismatch"


def _sum_backward(out, x, axis=None, keepdims=False):
    return REFERENCE_OPS["sum"](x, axis=axis, keepdims=keepdims)._backward


max = with_backward(OP, _sum_backward)  # noqa: A001 - the op's name

engine = make_engine(name="planted: max_routes_to_all", overrides={OP: max})
