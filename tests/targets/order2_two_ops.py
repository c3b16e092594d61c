"""Good: tanh and multiply, float64, checked at order 2 and in forward mode (the pytest plugin's and grading's tests).

Each node keeps a backward closure built from the engine's own ops, so
``grad(..., create_graph=True)`` returns nodes that ``grad`` differentiates
again (docs/contract.md, section 1), and a forward closure for ``jvp``. A
gradient that does not reach an ``x`` is zeros for it. ``saved_output(out)``
is what tanh's backward multiplies by: the output node itself; a test engine
that replaces it by a detached copy (``Node(out.data)``) plants the classic
order-2 bug, right at order 1 and zero at order 2.
"""

import numpy as np

name = "tanh and multiply, order 2 and forward mode"


class Node:
    def __init__(self, data, parents=(), backward=None, forward=None):
        self.data = np.asarray(data, dtype=np.float64)
        self.parents = parents
        self.backward = backward  # cotangent node -> one cotangent node per parent
        self.forward = forward  # tangents of the parents (arrays) -> this node's tangent


def variable(array):
    return Node(np.array(array, dtype=np.float64))


def value(node):
    return node.data


def _sum_to(g, shape):
    """Return ``g`` summed down to ``shape`` (undoing broadcasting), differentiable again."""
    data = g.data
    while data.ndim > len(shape):
        data = data.sum(axis=0)
    data = data.sum(axis=tuple(i for i, size in enumerate(shape) if size == 1 and data.shape[i] != 1), keepdims=True)
    return Node(data.reshape(shape), (g,), lambda h: [_broadcast(h, g.data.shape)],
                lambda t: _sum_to(Node(t), shape).data)


def _broadcast(h, shape):
    """Return ``h`` broadcast to ``shape``, differentiable again."""
    return Node(np.broadcast_to(h.data, shape), (h,), lambda g: [_sum_to(g, h.data.shape)],
                lambda t: np.broadcast_to(t, shape))


def _plus(a, b):
    # Sums cotangents; not the engine's add (which would then be checked).
    return Node(a.data + b.data, (a, b), lambda g: [_sum_to(g, a.data.shape), _sum_to(g, b.data.shape)],
                lambda ta, tb: ta + tb)


def multiply(a, b):
    return Node(a.data * b.data, (a, b),
                lambda g: [_sum_to(multiply(g, b), a.data.shape), _sum_to(multiply(g, a), b.data.shape)],
                lambda ta, tb: ta * b.data + a.data * tb)


def tanh(x):
    out = Node(np.tanh(x.data), (x,), None, lambda t: t * (1 - np.tanh(x.data) ** 2))
    # 1 - out**2, built from the output node so that the gradient is differentiable again.
    out.backward = lambda g: [multiply(g, _one_minus_square(out))]
    return out


def _one_minus_square(y):
    return Node(1 - y.data ** 2, (y,), lambda g: [multiply(g, _scale(y, -2.0))], lambda t: -2 * y.data * t)


def _scale(y, factor):
    return Node(factor * y.data, (y,), lambda g: [_scale(g, factor)], lambda t: factor * t)


def _topological(y):
    order, seen = [], set()

    def visit(node):
        if id(node) in seen:
            return
        seen.add(id(node))
        for parent in node.parents:
            visit(parent)
        order.append(node)

    visit(y)
    return order


def grad(y, xs, cotangent, create_graph=False):
    adjoint = {id(y): Node(np.asarray(cotangent, dtype=np.float64))}
    for node in reversed(_topological(y)):
        if id(node) not in adjoint or node.backward is None:
            continue
        for parent, g in zip(node.parents, node.backward(adjoint[id(node)])):
            adjoint[id(parent)] = _plus(adjoint[id(parent)], g) if id(parent) in adjoint else g
    grads = [adjoint.get(id(x), Node(np.zeros_like(x.data))) for x in xs]
    return grads if create_graph else [g.data for g in grads]


def jvp(y, xs, tangents):
    tangent = {id(x): np.asarray(t, dtype=np.float64) for x, t in zip(xs, tangents)}
    for node in _topological(y):
        if id(node) in tangent:
            continue
        if node.forward is None:
            tangent[id(node)] = np.zeros_like(node.data)
        else:
            tangent[id(node)] = node.forward(*(tangent[id(parent)] for parent in node.parents))
    return tangent[id(y)]
