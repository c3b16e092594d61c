"""A Tensor class (operators and methods, ``backward(grad)``) whose ``exp`` backward multiplies by x, not exp(x).

Checked as a class with no adapter: ``gradcheck check class_exp_derivative.py:Tensor``.
Its other ops (``+``, ``*``, ``sum``) are right.
"""

import numpy as np

OP = "exp"
CATEGORY = "mismatch"


class Tensor:
    def __init__(self, data, requires_grad=False):
        self.data = np.asarray(data)
        self.grad = None
        self._parents = ()
        self._rule = None

    @staticmethod
    def _node(data, parents, rule):
        out = Tensor(data)
        out._parents, out._rule = parents, rule
        return out

    def __add__(self, other):
        return self._node(self.data + other.data, (self, other),
                          lambda g: (_sum_to(g, self.data.shape), _sum_to(g, other.data.shape)))

    def __mul__(self, other):
        return self._node(self.data * other.data, (self, other),
                          lambda g: (_sum_to(g * other.data, self.data.shape), _sum_to(g * self.data, other.data.shape)))

    def exp(self):
        return self._node(np.exp(self.data), (self,), lambda g: (g * self.data,))  # the bug: g * exp(x) was meant

    def sum(self, axis=None, keepdims=False):
        def rule(g):
            if axis is not None and not keepdims:
                g = np.expand_dims(g, axis)
            return (np.broadcast_to(g, self.data.shape).copy(),)

        return self._node(self.data.sum(axis=axis, keepdims=keepdims), (self,), rule)

    def backward(self, grad):
        order, seen = [], set()

        def visit(node):
            if id(node) not in seen:
                seen.add(id(node))
                for parent in node._parents:
                    visit(parent)
                order.append(node)

        visit(self)
        self.grad = np.asarray(grad)
        for node in reversed(order):
            if node._rule is not None and node.grad is not None:
                for parent, g in zip(node._parents, node._rule(node.grad)):
                    parent.grad = g if parent.grad is None else parent.grad + g


def _sum_to(g, shape):
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, side in enumerate(shape):
        if side == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


engine = Tensor
