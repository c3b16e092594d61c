"""avg_pool2d's backward does not divide by the window size: each window's g, not g / (kH * kW), to its entries.

The forward is right (a mean). The gradient is kH * kW times the right one.
Right only for 1 by 1 windows.
"""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, pool_windows, scatter_windows, with_backward

OP = "avg_pool2d"
CATEGORY = "mismatch"


def _backward(out, x, kernel_size, stride=None):
    windows, kernel, steps = pool_windows(x.data, kernel_size, stride)
    # The bug: g where g / (kernel[0] * kernel[1]) was meant.
    return lambda g: (scatter_windows(np.broadcast_to(g[..., None, None], windows.shape), x.shape, steps, (1, 1)),)


avg_pool2d = with_backward(OP, _backward)

engine = make_engine(name="planted: avg_pool2d_not_divided", overrides={OP: avg_pool2d})
