"""flip's backward passes the cotangent through without flipping it back.

Output i along a flipped axis is input n - 1 - i, so the gradient is the
cotangent flipped along the same axes. Right only where g is symmetric along
them (or they have length 1).
"""

from gradcheck.examples.numpy_engine import make_engine, with_backward

OP = "flip"
CATEGORY = "mismatch"

flip = with_backward(OP, lambda out, x, axis=None: lambda g: (g,))

engine = make_engine(name="planted: flip_not_flipped", overrides={OP: flip})
