"""Bad: no grad."""

from _tiny import add, value, variable  # noqa: F401
