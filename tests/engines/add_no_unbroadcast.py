"""add's backward does not sum the gradient over broadcast axes.

Each operand gets the output-shaped gradient as is, so an operand that was
broadcast (``(2, 3) + (3,)``) gets a gradient of the wrong shape.
"""

from gradcheck.examples.numpy_engine import make_engine, with_backward

OP = "add"
CATEGORY = "shape"

add = with_backward(OP, lambda out, a, b: lambda g: (g, g))

engine = make_engine(name="planted: add_no_unbroadcast", overrides={OP: add})
