"""where's backward sends the cotangent to both branches: a and b each get g, unmasked.

The output takes a where the condition holds and b elsewhere, so a's gradient
is g there and 0 elsewhere, b's the other way round. Only the summing back to
each operand's shape (broadcasting) is right.
"""

from gradcheck.examples.numpy_engine import make_engine, unbroadcast, with_backward

OP = "where"
CATEGORY = "mismatch"

where = with_backward(OP, lambda out, condition, a, b: lambda g: (unbroadcast(g, a.shape), unbroadcast(g, b.shape)))

engine = make_engine(name="planted: where_both_branches", overrides={OP: where})
