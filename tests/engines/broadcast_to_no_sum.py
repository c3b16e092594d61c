"""broadcast_to's backward returns the broadcast-shape gradient instead of summing it back."""

from gradcheck.examples.numpy_engine import make_engine, with_backward

OP = "broadcast_to"
CATEGORY = "shape"

broadcast_to = with_backward(OP, lambda out, x, shape: lambda g: (g,))

engine = make_engine(name="planted: broadcast_to_no_sum", overrides={OP: broadcast_to})
