"""sigmoid's backward uses s instead of s * (1 - s)."""

from gradcheck.examples.numpy_engine import make_engine, with_backward

OP = "sigmoid"
CATEGORY = "mismatch"

sigmoid = with_backward(OP, lambda out, x: lambda g: (g * out.data,))

engine = make_engine(name="planted: sigmoid_derivative_s", overrides={OP: sigmoid})
