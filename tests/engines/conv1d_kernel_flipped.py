"""conv1d's backward flips the kernel, as for a true convolution, though the forward is a cross-correlation.

The forward is right (PyTorch's conv1d, no flip). The backward reads
w[o, c, K - 1 - k] where w[o, c, k] was meant, for the input's gradient, and
puts the weight's gradient back to front. Right whenever the kernel has one
tap (or is symmetric).
"""

import numpy as np

from gradcheck.examples.numpy_engine import (
    conv_windows, crop_padding, make_engine, scatter_windows, spatial_pairs, with_backward,
)

OP = "conv1d"
CATEGORY = "mismatch"


def _backward(out, x, w, stride=1, padding=0, dilation=1):
    s, p, d = (spatial_pairs(value, 1) for value in (stride, padding, dilation))
    padded = np.pad(x.data, [(0, 0), (0, 0), (p[0], p[0])])
    windows = conv_windows(padded, w.shape[2:], s, d)

    def backward(g):
        # The bug: the kernel flipped, in both gradients.
        flipped = w.data[:, :, ::-1]
        dx = crop_padding(scatter_windows(np.einsum("noL,ock->ncLk", g, flipped), padded.shape, s, d), p)
        return dx, np.einsum("noL,ncLk->ock", g, windows)[:, :, ::-1]

    return backward


conv1d = with_backward(OP, _backward)

engine = make_engine(name="planted: conv1d_kernel_flipped", overrides={OP: conv1d})
