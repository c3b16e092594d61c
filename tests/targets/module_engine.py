"""Good: the module is the engine."""

from _tiny import add, exp, grad, multiply, value, variable  # noqa: F401
