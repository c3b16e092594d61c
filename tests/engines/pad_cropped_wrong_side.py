"""pad's backward crops the cotangent from the wrong side: g[after:after + n] instead of g[before:before + n].

x sits after the ``before`` padding of each axis; the two crops agree only
where every axis is padded equally on both sides.
"""

import numpy as np

from gradcheck.examples.numpy_engine import make_engine, with_backward

OP = "pad"
CATEGORY = "mismatch"


def _backward(out, x, pad_width):
    pairs = np.broadcast_to(np.asarray(pad_width), (x.ndim, 2))
    crop = tuple(slice(int(after), int(after) + size) for (_, after), size in zip(pairs, x.shape))
    return lambda g: (g[crop],)


pad = with_backward(OP, _backward)

engine = make_engine(name="planted: pad_cropped_wrong_side", overrides={OP: pad})
