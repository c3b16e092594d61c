"""Good: a float32 engine that says so."""

from _tiny import add, grad, value, variable  # noqa: F401

dtype = "float32"
