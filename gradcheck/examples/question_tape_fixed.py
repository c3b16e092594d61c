"""The question's tape with the accepted answer's fix: transpose only the last two axes.

The answer replaced ``tf.transpose`` (every axis reversed) by ``tf.matmul``'s
``transpose_a``/``transpose_b`` flags (the matrix axes swapped). Everything else
is `gradcheck.examples.question_tape`, unchanged, and so are its other
weaknesses: 1-D operands still raise, size-1 batch axes are still not summed,
``matmul(x, x)`` still differentiates as if x were only the left operand, and
the breadth-first walk still stops when it first reaches ``dx``. The fix
makes the question's example right; gradcheck shows it does not make the tape
right.
"""

from __future__ import annotations

import tensorflow as tf

from gradcheck.examples.question_tape import Node, make_tape, matmul, value, variable

__all__ = ["dtype", "gradient", "gradient_matmul", "grad", "matmul", "name", "tape", "value", "variable"]


def gradient_matmul(node: Node, dx: Node, adj: tf.Tensor) -> tf.Tensor | None:
    """The accepted answer's matmul rule."""
    a = node.parents[0]
    b = node.parents[1]
    if a == dx:
        return tf.matmul(adj, b.tensor, transpose_b=True)
    elif b == dx:
        return tf.matmul(a.tensor, adj, transpose_a=True)
    else:
        return None


tape = make_tape(gradient_matmul, name="question's tape, fixed (transpose_a/transpose_b)")

name = tape.name
dtype = tape.dtype
gradient = tape.gradient
grad = tape.grad
