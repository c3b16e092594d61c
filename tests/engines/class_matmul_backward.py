"""A Tensor class (``backward()`` with no gradient, ``.grad`` a Tensor) whose matmul backward reverses every axis.

The backward transposes with ``np.transpose`` where only the last two axes
should swap: right on matrices, wrong once an operand has a batch axis, e.g.
``(2, 2, 2) @ (2, 2)`` (on non-square batches it raises instead). Checked as
a class with no adapter: ``gradcheck check class_matmul_backward.py:Tensor``.
"""

import numpy as np

OP = "matmul"
CATEGORY = "mismatch"


class Tensor:
    def __init__(self, value, requires_grad=False):
        self._value = np.asarray(value)
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
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        out2 = a2 @ b2

        def rule(g):
            g2 = np.reshape(g, out2.shape)
            # The bug: np.transpose reverses every axis; np.swapaxes(x, -1, -2) was meant.
            ga = _sum_to(g2 @ np.transpose(b2), a2.shape).reshape(a.shape)
            gb = _sum_to(np.transpose(a2) @ g2, b2.shape).reshape(b.shape)
            return ga, gb

        return self._make(a @ b, (self, other), rule)

    def sum(self, dim=None):
        def rule(g):
            if dim is not None:
                g = np.expand_dims(g, dim)
            return (np.broadcast_to(g, self.shape).copy(),)

        return self._make(self._value.sum(axis=dim), (self,), rule)

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


engine = Tensor
