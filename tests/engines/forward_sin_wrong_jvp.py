"""sin's JVP rule uses ``-cos(x)``, the derivative of ``cos`` with the sign of ``sin``'s slipped in; its VJP is right.

Reverse mode (orders 1 and 2) is right; ``jvp`` of anything through ``sin``
is off, and ``<u, J t>`` from ``jvp`` disagrees with ``<J^T u, t>`` from ``grad``.
"""

import numpy as np
from _higher import higher

OP = "sin"
CATEGORY = "mismatch"
MODE = "forward"


def sin(x):
    return higher.node(np.sin(x.data), (x,),
                       lambda g: (g * higher.cos(x),),
                       lambda t: -t * np.cos(x.data))  # the bug: t * cos(x) was meant


engine = higher.make_engine(name="planted: forward_sin_wrong_jvp", overrides={OP: sin})
