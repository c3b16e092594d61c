"""matmul's JVP rule forgets the second operand's term: ``ta @ b`` where ``ta @ b + a @ tb`` was meant.

Reverse mode (orders 1 and 2) is right; ``jvp`` is right only along tangents
that leave ``b`` fixed. 1-D operands go through the same rule.
"""

from _higher import higher

OP = "matmul"
CATEGORY = "mismatch"
MODE = "forward"


def matrices(a, b):
    return higher.node(a.data @ b.data, (a, b),
                       lambda g: (higher.unbroadcast(higher.matmul_matrices(g, higher.matrix_transpose(b)), a.shape),
                                  higher.unbroadcast(higher.matmul_matrices(higher.matrix_transpose(a), g), b.shape)),
                       lambda ta, tb: ta @ b.data)  # the bug: + a.data @ tb is missing


engine = higher.make_engine(name="planted: forward_matmul_jvp_one_side", overrides={OP: higher.matmul_from(matrices)})
