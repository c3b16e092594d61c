"""The names of the derived modes (gradcheck.higher), in a module of their own that imports nothing.

The oracles and the runner both need them; ``gradcheck.higher`` is where they are explained.
"""

ORDER2 = "order 2"
FORWARD = "forward"
#: The derived modes, in the order their checks run after an op's own.
MODES = (ORDER2, FORWARD)
