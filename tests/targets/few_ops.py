"""Good: a correct engine with three ops only (add, negative, exp), for tests of what a small engine lacks."""

from gradcheck.examples.numpy_engine import make_engine

_base = make_engine()
variable, value, grad = _base.variable, _base.value, _base.grad
add, negative, exp = _base.add, _base.negative, _base.exp
dtype = "float64"
name = "few ops"
