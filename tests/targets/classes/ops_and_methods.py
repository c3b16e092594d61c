"""Good: a Tensor class with operators and methods, ``backward(grad)`` taking the output's gradient.

The style of most course engines: NumPy data, a closure per op that
accumulates into its parents' ``grad`` (an array, None until reached), and a
topological sweep. ``gradcheck check ops_and_methods.py:Tensor`` checks it as
it is.
"""

import numpy as np


def _unbroadcast(g, shape):
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, side in enumerate(shape):
        if side == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


class Tensor:
    def __init__(self, data, requires_grad=False, _parents=()):
        self.data = np.asarray(data)
        self.requires_grad = requires_grad
        self.grad = None
        self._parents = _parents
        self._backward = lambda: None

    @property
    def shape(self):
        return self.data.shape

    def _accumulate(self, g):
        self.grad = g if self.grad is None else self.grad + g

    def _node(self, data, parents, backward):
        out = Tensor(data, _parents=parents)

        def run():
            backward(out.grad)

        out._backward = run
        return out

    def __add__(self, other):
        return self._node(self.data + other.data, (self, other), lambda g: (
            self._accumulate(_unbroadcast(g, self.shape)), other._accumulate(_unbroadcast(g, other.shape))))

    def __sub__(self, other):
        return self._node(self.data - other.data, (self, other), lambda g: (
            self._accumulate(_unbroadcast(g, self.shape)), other._accumulate(_unbroadcast(-g, other.shape))))

    def __mul__(self, other):
        return self._node(self.data * other.data, (self, other), lambda g: (
            self._accumulate(_unbroadcast(g * other.data, self.shape)),
            other._accumulate(_unbroadcast(g * self.data, other.shape))))

    def __truediv__(self, other):
        return self._node(self.data / other.data, (self, other), lambda g: (
            self._accumulate(_unbroadcast(g / other.data, self.shape)),
            other._accumulate(_unbroadcast(-g * self.data / other.data**2, other.shape))))

    def __neg__(self):
        return self._node(-self.data, (self,), lambda g: self._accumulate(-g))

    def __pow__(self, p):
        return self._node(self.data**p, (self,), lambda g: self._accumulate(g * p * self.data ** (p - 1)))

    def __matmul__(self, other):
        a, b = self.data, other.data
        # NumPy's 1-D rules: a vector is a (1, n) row on the left, an (n, 1) column on the right.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        out2 = a2 @ b2

        def backward(g):
            g2 = np.reshape(g, out2.shape)
            ga = _unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2.shape)
            gb = _unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2.shape)
            self._accumulate(ga.reshape(a.shape))
            other._accumulate(gb.reshape(b.shape))

        return self._node(a @ b, (self, other), backward)

    def exp(self):
        y = np.exp(self.data)
        return self._node(y, (self,), lambda g: self._accumulate(g * y))

    def log(self):
        return self._node(np.log(self.data), (self,), lambda g: self._accumulate(g / self.data))

    def tanh(self):
        y = np.tanh(self.data)
        return self._node(y, (self,), lambda g: self._accumulate(g * (1 - y**2)))

    def relu(self):
        return self._node(np.maximum(self.data, 0), (self,), lambda g: self._accumulate(g * (self.data > 0)))

    def sum(self, axis=None, keepdims=False):
        def backward(g):
            if not keepdims and axis is not None:
                g = np.expand_dims(g, axis)
            self._accumulate(np.broadcast_to(g, self.shape).copy())

        return self._node(self.data.sum(axis=axis, keepdims=keepdims), (self,), backward)

    def reshape(self, *shape):
        return self._node(self.data.reshape(*shape), (self,), lambda g: self._accumulate(g.reshape(self.shape)))

    def transpose(self, *axes):
        axes = axes or tuple(reversed(range(self.data.ndim)))
        inverse = tuple(np.argsort(axes))
        return self._node(self.data.transpose(axes), (self,), lambda g: self._accumulate(g.transpose(inverse)))

    def backward(self, grad=None):
        order, seen = [], set()

        def visit(node):
            if id(node) not in seen:
                seen.add(id(node))
                for parent in node._parents:
                    visit(parent)
                order.append(node)

        visit(self)
        self.grad = np.ones_like(self.data) if grad is None else np.asarray(grad)
        for node in reversed(order):
            node._backward()
