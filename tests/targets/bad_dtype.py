"""Bad: a dtype gradcheck does not check (line 5)."""

from _tiny import add, grad, value, variable  # noqa: F401

dtype = "float16"
