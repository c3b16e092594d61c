"""Bad: raises while being imported (line 6)."""

from _tiny import add, grad, value, variable  # noqa: F401

SCALES = {"float64": 1.0}
SCALE = SCALES["float32"]
