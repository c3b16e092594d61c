"""conv2d's backward crops the padded input's gradient at the start: dx_padded[..., :H, :W], not [..., p:p+H, p:p+W].

The forward and the weight's gradient are right. The input's gradient is
computed for the padded input, then cut to x's shape from the top-left
corner: shifted by the padding. Right whenever the padding is 0.
"""

import numpy as np

from gradcheck.examples.numpy_engine import (
    conv_windows, make_engine, scatter_windows, spatial_pairs, with_backward,
)

OP = "conv2d"
CATEGORY = "mismatch"


def _backward(out, x, w, stride=1, padding=0, dilation=1):
    s, p, d = (spatial_pairs(value, 2) for value in (stride, padding, dilation))
    padded = np.pad(x.data, [(0, 0), (0, 0), *((q, q) for q in p)])
    windows = conv_windows(padded, w.shape[2:], s, d)
    height, width = x.shape[2:]

    def backward(g):
        d_padded = scatter_windows(np.einsum("noHW,ocij->ncHWij", g, w.data), padded.shape, s, d)
        # The bug: the padding is cropped from the end only.
        return d_padded[:, :, :height, :width], np.einsum("noHW,ncHWij->ocij", g, windows)

    return backward


conv2d = with_backward(OP, _backward)

engine = make_engine(name="planted: conv2d_padding_cropped_at_start", overrides={OP: conv2d})
