"""Bad: value is not a function (line 5)."""

from _tiny import add, grad, variable  # noqa: F401

value = 3
