"""clip's backward passes the cotangent through everywhere, also outside [min, max] where the output is a constant bound."""

from gradcheck.examples.numpy_engine import make_engine, with_backward

OP = "clip"
CATEGORY = "mismatch"

clip = with_backward(OP, lambda out, x, min=None, max=None: lambda g: (g,))

engine = make_engine(name="planted: clip_passes_gradient_outside", overrides={OP: clip})
