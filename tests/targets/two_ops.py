"""Good: an engine that defines matmul and sum only, both right (the bundled engine's).

Every other op is unsupported: the pytest plugin lists them in one
``gradcheck[unsupported]`` item.
"""

from gradcheck.examples.numpy_engine import make_engine

_every_op = make_engine(name="matmul and sum")
variable, value, grad = _every_op.variable, _every_op.value, _every_op.grad
matmul, sum = _every_op.matmul, _every_op.sum
name = "matmul and sum"
