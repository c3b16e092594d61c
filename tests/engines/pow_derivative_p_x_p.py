"""pow's backward uses p * x**p instead of p * x**(p - 1)."""

from gradcheck.examples.numpy_engine import make_engine, with_backward

OP = "pow"
CATEGORY = "mismatch"

pow = with_backward(OP, lambda out, x, p: lambda g: (g * p * x.data ** p,))  # noqa: A001

engine = make_engine(name="planted: pow_derivative_p_x_p", overrides={OP: pow})
