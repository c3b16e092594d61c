"""conv2d's backward ignores the stride: output entry i goes back to the input entries from i on, not from i * stride.

The forward is right. The backward takes the windows of a stride-1
convolution (as many as the strided output has), so each cotangent entry
reaches the wrong input entries, and the weight's gradient pairs g with the
wrong windows. Right whenever the stride is 1.
"""

import numpy as np

from gradcheck.examples.numpy_engine import (
    conv_windows, crop_padding, make_engine, scatter_windows, spatial_pairs, with_backward,
)

OP = "conv2d"
CATEGORY = "mismatch"


def _backward(out, x, w, stride=1, padding=0, dilation=1):
    p, d = spatial_pairs(padding, 2), spatial_pairs(dilation, 2)
    padded = np.pad(x.data, [(0, 0), (0, 0), *((q, q) for q in p)])
    rows, columns = out.shape[2:]
    # The bug: stride (1, 1) where `stride` was meant.
    windows = conv_windows(padded, w.shape[2:], (1, 1), d)[:, :, :rows, :columns]

    def backward(g):
        d_windows = np.einsum("noHW,ocij->ncHWij", g, w.data)
        dx = crop_padding(scatter_windows(d_windows, padded.shape, (1, 1), d), p)
        return dx, np.einsum("noHW,ncHWij->ocij", g, windows)

    return backward


conv2d = with_backward(OP, _backward)

engine = make_engine(name="planted: conv2d_stride_ignored", overrides={OP: conv2d})
