"""The TensorFlow tape from the question that started gradcheck, as the question wrote it.

A question titled "Autodiff implementation for gradient calculation"
built a breadth-first reverse-mode tape whose only op is ``matmul``, and got
gradients that disagree with ``tf.GradientTape`` for a batched product. Its
matmul rule transposes with ``tf.transpose``, which reverses *every* axis, where
only the last two should swap; on 2-D operands the two agree, so the bug hides
until a batch axis appears. `gradient_matmul`, `unbroadcast` and `gradient` are
the question's code, kept faithful, other weaknesses included:

* ``unbroadcast`` sums leading axes only, never size-1 batch axes;
* ``gradient_matmul`` asks ``a == dx`` first, so in ``matmul(x, x)`` both
  operands get the left operand's gradient;
* ``gradient`` walks breadth first and returns as soon as it *reaches* ``dx``,
  before every path to ``dx`` has been summed;
* ``tf.matmul`` rejects 1-D operands, so those raise.

What the question left out is added around it, nothing more: a `Node` type,
the ``matmul`` forward, an optional ``seed`` for ``gradient`` (the question
seeds with ones) and the contract (docs/contract.md, section 1) adapter (`variable`, `value`, `grad`).
Like the question, it computes in float32. `make_tape` builds the engine from
a matmul rule, so ``question_tape_fixed`` can swap in the accepted answer's.

.. code-block:: pycon

    >>> x = variable(np.array([[[1.0, 1.0], [2.0, 3.0]], [[4.0, 5.0], [6.0, 7.0]]]))
    >>> y = variable(np.array([[3.0, -7.0], [-1.0, 5.0]]))
    >>> gradient(matmul(x, y), y).numpy().tolist()  # tf.GradientTape: [[13, 13], [16, 16]]
    [[11.0, 11.0], [18.0, 18.0]]
"""

from __future__ import annotations

import types
from collections import defaultdict
from typing import Any, Callable, Sequence

import numpy as np
import tensorflow as tf

__all__ = [
    "Node",
    "dtype",
    "gradient",
    "gradient_matmul",
    "grad",
    "make_tape",
    "matmul",
    "name",
    "tape",
    "unbroadcast",
    "value",
    "variable",
]

#: ``gradient_matmul(node, dx, adj)``: the adjoint of ``node``'s parent ``dx``.
MatmulRule = Callable[["Node", "Node", tf.Tensor], "tf.Tensor | None"]


class Node:
    """A tape entry: a tensor, the nodes it was computed from, and whether it is a leaf.

    The question never shows its node type; these are the attributes its code
    reads. Nodes compare by identity, which ``p in working`` and ``a == dx`` rely on.
    """

    def __init__(self, tensor: tf.Tensor, parents: Sequence[Node] = (), is_store: bool = False):
        self.tensor = tensor
        self.parents = list(parents)
        self.is_store = is_store

    def __repr__(self) -> str:
        kind = "store" if self.is_store else "op"
        return f"Node({kind}, shape={tuple(self.tensor.shape)})"


# --- what the question implies but does not show ------------------------------


def variable(array: Any) -> Node:
    """Return a leaf holding ``array`` as float32, as ``tf.constant`` of Python floats is."""
    return Node(tf.constant(array, dtype=tf.float32), is_store=True)


def value(node: Node) -> np.ndarray:
    """Return the forward value of ``node``."""
    return node.tensor.numpy()


def matmul(a: Node, b: Node) -> Node:
    """Return the node for ``tf.matmul(a, b)``."""
    return Node(tf.matmul(a.tensor, b.tensor), parents=[a, b])


# --- the question's code ----------------------------------------------------


def gradient_matmul(node: Node, dx: Node, adj: tf.Tensor) -> tf.Tensor | None:
    """The question's matmul rule: ``tf.transpose`` reverses all axes (the bug)."""
    # dx is needed to know which of both parents should be derived
    a = node.parents[0]
    b = node.parents[1]
    # the operation was node.tensor = tf.matmul(a.tensor, b,tensor)
    if a == dx or b == dx:
        # result depends on which of the parents is the derivative
        mm = tf.matmul(adj, tf.transpose(b.tensor)) if a == dx else \
                tf.matmul(tf.transpose(a.tensor), adj)
        return mm
    else:
        return None


def unbroadcast(adjoint: tf.Tensor, node: tf.Tensor) -> tf.Tensor:
    """The question's unbroadcast: sums leading axes only, never size-1 axes."""
    dim_a = len(adjoint.shape)
    dim_b = len(node.shape)
    if dim_a > dim_b:
        sum = tuple(range(dim_a - dim_b))  # noqa: A001 - the question's name
        res = tf.math.reduce_sum(adjoint, axis = sum)
        return res
    return adjoint


def make_tape(gradient_matmul: MatmulRule, *, name: str) -> types.SimpleNamespace:
    """Return the question's tape as a the contract (docs/contract.md, section 1) engine, differentiating matmul with ``gradient_matmul``."""

    def gradient(y: Node, dx: Node, seed: tf.Tensor | None = None) -> tf.Tensor | None:
        # The question's algorithm; only ``seed`` is new (it seeded with ones).
        working = [y]
        adjoints = defaultdict(float)
        adjoints[y] = tf.ones(y.tensor.shape) if seed is None else seed
        while len(working) != 0:
            curr = working.pop(0)
            if curr == dx:
                return adjoints[curr]
            if curr.is_store:
                continue
            adj = adjoints[curr]
            for p in curr.parents:
                # for testing with matrix multiplication as only operation
                local_grad = gradient_matmul(curr, p, adj)
                adjoints[p] = unbroadcast(tf.add(adjoints[p], local_grad), p.tensor)
                if not p in working:  # noqa: E713 - the question's spelling
                    working.append(p)
        return None  # the question's loop falls off its end here, for a dx it never reaches

    def grad(y: Node, xs: Sequence[Node], cotangent: Any = None) -> list[np.ndarray]:
        """Return the question's ``gradient(y, x)`` for each x, seeded with ``cotangent``."""
        seed = None if cotangent is None else tf.constant(cotangent, dtype=tf.float32)
        adjoints = [gradient(y, x, seed) for x in xs]
        # The question's loop falls off its end, returning None, for an x it never reaches.
        return [np.zeros(x.tensor.shape, np.float32) if adjoint is None else adjoint.numpy()
                for x, adjoint in zip(xs, adjoints)]

    return types.SimpleNamespace(
        name=name,
        dtype="float32",
        variable=variable,
        value=value,
        matmul=matmul,
        gradient=gradient,
        gradient_matmul=gradient_matmul,
        grad=grad,
    )


tape = make_tape(gradient_matmul, name="question's tape (tf.transpose over all axes)")

# The module is itself the engine, and the question's own call ``gradient(w, x)`` reads as written.
name = tape.name
dtype = tape.dtype
gradient = tape.gradient
grad = tape.grad
