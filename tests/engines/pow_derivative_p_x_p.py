"""pow's backward uses p * x**p instead of p * x**(p - 1).

Only for a number exponent p: a tensor exponent (pow_tensor) gets the
reference rule, so the one bug shows in pow's check alone.
"""

from gradcheck.examples.numpy_engine import REFERENCE_OPS, Tensor, make_engine, with_backward

OP = "pow"
CATEGORY = "mismatch"

_planted = with_backward(OP, lambda out, x, p: lambda g: (g * p * x.data ** p,))


def pow(x, p):  # noqa: A001 - the contract's op name
    return REFERENCE_OPS[OP](x, p) if isinstance(p, Tensor) else _planted(x, p)


engine = make_engine(name="planted: pow_derivative_p_x_p", overrides={OP: pow})
