"""Bad: a syntax error on line 6."""

from _tiny import add, value, variable  # noqa: F401


def grad(y, xs cotangent):
    return []
