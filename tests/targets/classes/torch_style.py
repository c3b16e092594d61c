"""Good: a PyTorch-flavoured Tensor whose ``backward()`` takes no gradient, with partial ops.

* ``backward()`` takes no argument (gradcheck seeds ``sum(y * cotangent)``
  with the class's own ``*`` and ``sum``), and ``.grad`` is a ``Tensor``;
* the value is read with ``.numpy()`` (there is no ``.data``);
* ``sum(dim=None)`` has no ``keepdims``: it supports only that;
* ``transpose()`` takes no axes and reverses every axis: it is
  ``permute_dims`` with reversed axes, not ``matrix_transpose``;
* ``mean(dim=None, keepdim=False)`` spells its parameters as PyTorch does;
* ``cumsum(dim)`` needs its axis (no flattened scan: ``axis=None`` is left out);
* ``var(dim=None, keepdim=False)`` has no ``correction``: population variance only.
"""

import numpy as np


class Tensor:
    def __init__(self, value, requires_grad=False):
        self._value = np.asarray(value)
        self.requires_grad = requires_grad
        self.grad = None
        self._parents = ()
        self._rule = None

    def numpy(self):
        return self._value

    @property
    def shape(self):
        return self._value.shape

    @staticmethod
    def _make(value, parents, rule):
        out = Tensor(value)
        out._parents, out._rule = parents, rule
        return out

    def __add__(self, other):
        return self._make(self._value + other._value, (self, other),
                          lambda g: (_sum_to(g, self.shape), _sum_to(g, other.shape)))

    def __mul__(self, other):
        return self._make(self._value * other._value, (self, other),
                          lambda g: (_sum_to(g * other._value, self.shape), _sum_to(g * self._value, other.shape)))

    def __matmul__(self, other):
        a, b = self._value, other._value
        # NumPy's 1-D rules: a vector is a (1, n) row on the left, an (n, 1) column on the right.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        out2 = a2 @ b2

        def rule(g):
            g2 = np.reshape(g, out2.shape)
            ga = _sum_to(g2 @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
            gb = _sum_to(np.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
            return ga, gb

        return self._make(a @ b, (self, other), rule)

    def exp(self):
        y = np.exp(self._value)
        return self._make(y, (self,), lambda g: (g * y,))

    def sigmoid(self):
        s = 1 / (1 + np.exp(-self._value))
        return self._make(s, (self,), lambda g: (g * s * (1 - s),))

    def sum(self, dim=None):
        def rule(g):
            if dim is not None:
                g = np.expand_dims(g, dim)
            return (np.broadcast_to(g, self.shape).copy(),)

        return self._make(self._value.sum(axis=dim), (self,), rule)

    def mean(self, dim=None, keepdim=False):
        n = self._value.size // max(np.mean(self._value, axis=dim, keepdims=True).size, 1)

        def rule(g):
            if dim is not None and not keepdim:
                g = np.expand_dims(g, dim)
            return (np.broadcast_to(g, self.shape) / n,)

        return self._make(self._value.mean(axis=dim, keepdims=keepdim), (self,), rule)

    def cumsum(self, dim):
        def rule(g):
            return (np.flip(np.cumsum(np.flip(g, dim), axis=dim), dim),)

        return self._make(np.cumsum(self._value, axis=dim), (self,), rule)

    def var(self, dim=None, keepdim=False):
        x = self._value
        centered = x - x.mean(axis=dim, keepdims=True)
        n = x.size // max(np.mean(x, axis=dim, keepdims=True).size, 1)

        def rule(g):
            if dim is not None and not keepdim:
                g = np.expand_dims(g, dim)
            return (2 * np.broadcast_to(g, self.shape) * centered / n,)

        return self._make(np.var(x, axis=dim, keepdims=keepdim), (self,), rule)

    def transpose(self):
        return self._make(self._value.T, (self,), lambda g: (g.T,))

    def backward(self):
        order, seen = [], set()

        def visit(node):
            if id(node) not in seen:
                seen.add(id(node))
                for parent in node._parents:
                    visit(parent)
                order.append(node)

        visit(self)
        grads = {id(self): np.ones_like(self._value)}
        for node in reversed(order):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node._rule is None:
                node.grad = Tensor(g if node.grad is None else node.grad.numpy() + g)
                continue
            for parent, contribution in zip(node._parents, node._rule(g)):
                grads[id(parent)] = grads[id(parent)] + contribution if id(parent) in grads else contribution


def _sum_to(g, shape):
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, side in enumerate(shape):
        if side == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g
