"""Bad: imports a module that is not installed (line 4)."""

import numpy as np  # noqa: F401
import gradcheck_no_such_module  # noqa: F401

from _tiny import add, grad, value, variable  # noqa: F401
