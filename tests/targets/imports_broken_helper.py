"""Bad: a sibling module it imports (line 4) raises."""

from _tiny import add, grad, value, variable  # noqa: F401
import _broken_helper  # noqa: F401
