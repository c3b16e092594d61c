"""matmul's backward has two paths, and the one ``create_graph=True`` takes gives wrong first-order values.

Like a PyTorch backward that runs under ``no_grad`` unless a graph of the
gradient is asked for, the rule computes in NumPy when nothing records
(``create_graph=False``: right) and with the engine's ops when something does.
On that path a's gradient multiplies the forward *output* by ``b^T`` (``out``
for ``g``, the same shape): the gradients ``grad(..., create_graph=True)``
returns are wrong before any second derivative is taken. Order 1 and forward
mode are right.
"""

import numpy as np
from _higher import higher

OP = "matmul"
CATEGORY = "mismatch"
ORDER = 2


def matrices(a, b):
    def vjp(g):
        if not higher.grad_enabled():  # create_graph=False: the NumPy path, right
            ga = higher.constant(g.data @ np.swapaxes(b.data, -1, -2), g.data.dtype)
            gb = higher.constant(np.swapaxes(a.data, -1, -2) @ g.data, g.data.dtype)
        else:
            ga = higher.matmul_matrices(result, higher.matrix_transpose(b))  # the bug: g for result
            gb = higher.matmul_matrices(higher.matrix_transpose(a), g)
        return higher.unbroadcast(ga, a.shape), higher.unbroadcast(gb, b.shape)

    result = higher.node(a.data @ b.data, (a, b), vjp, lambda ta, tb: ta @ b.data + a.data @ tb)
    return result


engine = higher.make_engine(name="planted: order2_matmul_create_graph_values", overrides={OP: higher.matmul_from(matrices)})
