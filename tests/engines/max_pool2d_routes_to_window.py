"""max_pool2d's backward sends each window's gradient to every entry of the window, not only to its maximum.

The forward is right. Every entry a window read gets that window's g (added
up where windows overlap), as if the pool were a sum. Right only for 1 by 1
windows.
"""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, pool_windows, scatter_windows, with_backward

OP = "max_pool2d"
CATEGORY = "mismatch"


def _backward(out, x, kernel_size, stride=None):
    windows, kernel, steps = pool_windows(x.data, kernel_size, stride)
    # The bug: g broadcast to the whole window, where only the argmax should get it.
    return lambda g: (scatter_windows(np.broadcast_to(g[..., None, None], windows.shape), x.shape, steps, (1, 1)),)


max_pool2d = with_backward(OP, _backward)

engine = make_engine(name="planted: max_pool2d_routes_to_window", overrides={OP: max_pool2d})
