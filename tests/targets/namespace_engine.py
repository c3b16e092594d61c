"""Good: a SimpleNamespace engine under a NAME, with its own name."""

from types import SimpleNamespace

import _tiny

HELPER_CONSTANT = 3

ENGINE = SimpleNamespace(
    name="namespace engine",
    variable=_tiny.variable,
    value=_tiny.value,
    grad=_tiny.grad,
    add=_tiny.add,
)
