"""Good: a small float64 engine checked at order 2 and in forward mode (create_graph and jvp).

Every node keeps a backward rule built from the engine's own ops (so a
gradient made with ``create_graph=True`` can be differentiated again) and a
forward-mode rule (the JVP). Ops: add, subtract, negative, multiply, exp,
tanh, sin. ``tests/test_reports_higher.py`` writes reproducers against it and
against copies with one rule replaced; it imports nothing from ``tests``, so
a copy of the file is an engine on its own.
"""

import numpy as np

name = "second order tiny"
dtype = "float64"


class Node:
    """A value, its parents, its backward rule (cotangent node -> one node per parent) and its JVP rule."""

    def __init__(self, data, parents=(), backward=None, forward=None):
        self.data = np.asarray(data, dtype=np.float64)
        self.parents = parents
        self.backward = backward
        self.forward = forward


def variable(array):
    return Node(np.array(array, dtype=np.float64))


def value(x):
    return x.data


def _constant(array):
    return Node(array)


def _summed_to(array, shape):
    """Return ``array`` summed over the axes NumPy broadcast to reach its shape from ``shape``."""
    array = np.sum(array, axis=tuple(range(array.ndim - len(shape)))) if array.ndim > len(shape) else array
    return np.sum(array, axis=tuple(i for i, side in enumerate(shape) if side == 1 and array.shape[i] != 1),
                  keepdims=True)


def _reduce_to(g, shape):
    """Return the gradient ``g`` of a broadcast operand, summed back to the operand's ``shape``."""
    if g.data.shape == tuple(shape):
        return g
    return Node(_summed_to(g.data, shape), (g,), lambda h: [_broadcast(h, g.data.shape)],
                lambda t: _summed_to(t, shape))


def _broadcast(h, shape):
    return Node(np.broadcast_to(h.data, shape).copy(), (h,), lambda k: [_reduce_to(k, h.data.shape)],
                lambda t: np.broadcast_to(t, shape).copy())


def add(a, b):
    return Node(a.data + b.data, (a, b), lambda g: [_reduce_to(g, a.data.shape), _reduce_to(g, b.data.shape)],
                lambda ta, tb: ta + tb)


def negative(x):
    return Node(-x.data, (x,), lambda g: [negative(g)], lambda t: -t)


def subtract(a, b):
    return add(a, negative(b))


def multiply(a, b):
    return Node(a.data * b.data, (a, b),
                lambda g: [_reduce_to(multiply(g, b), a.data.shape), _reduce_to(multiply(g, a), b.data.shape)],
                lambda ta, tb: ta * b.data + a.data * tb)


def exp(x):
    out = Node(np.exp(x.data), (x,))
    out.backward = lambda g: [multiply(g, out)]
    out.forward = lambda t: t * out.data
    return out


def tanh(x):
    out = Node(np.tanh(x.data), (x,))
    out.backward = lambda g: [multiply(g, subtract(_constant(np.ones_like(out.data)), multiply(out, out)))]
    out.forward = lambda t: t * (1.0 - out.data ** 2)
    return out


def sin(x):
    return Node(np.sin(x.data), (x,), lambda g: [multiply(g, cos(x))], lambda t: t * np.cos(x.data))


def cos(x):
    return Node(np.cos(x.data), (x,), lambda g: [negative(multiply(g, sin(x)))], lambda t: -t * np.sin(x.data))


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
    """The VJP; with ``create_graph`` the gradients are nodes, differentiable again."""
    adjoint = {id(y): _constant(np.array(cotangent, dtype=np.float64))}
    for node in reversed(_topological(y)):
        if id(node) not in adjoint or node.backward is None:
            continue
        for parent, part in zip(node.parents, node.backward(adjoint[id(node)])):
            adjoint[id(parent)] = add(adjoint[id(parent)], part) if id(parent) in adjoint else part
    out = [adjoint.get(id(x), _constant(np.zeros_like(x.data))) for x in xs]
    return out if create_graph else [node.data for node in out]


def jvp(y, xs, tangents):
    """The derivative of ``y`` along ``tangents`` (one per x), in forward mode."""
    tangent = {id(x): np.asarray(t, dtype=np.float64) for x, t in zip(xs, tangents)}
    for node in _topological(y):
        if id(node) in tangent or node.forward is None:
            continue
        tangent[id(node)] = node.forward(*(tangent.get(id(p), np.zeros_like(p.data)) for p in node.parents))
    return tangent.get(id(y), np.zeros_like(y.data))
