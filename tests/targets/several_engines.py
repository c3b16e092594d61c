"""Bad without a NAME: two engines to choose from (lines 7 and 8)."""

from types import SimpleNamespace

import _tiny

fast = SimpleNamespace(variable=_tiny.variable, value=_tiny.value, grad=_tiny.grad, add=_tiny.add)
slow = SimpleNamespace(variable=_tiny.variable, value=_tiny.value, grad=_tiny.grad, exp=_tiny.exp)
