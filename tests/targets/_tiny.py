"""A tiny, correct reverse-mode engine that the fixture engines import.

Being a sibling import, it also checks that a target's folder is on sys.path
while the target is loaded. Same-shape operands only: enough for loading tests.
"""

import numpy as np


class Node:
    def __init__(self, value, parents=()):
        self.value = value
        self.parents = parents  # (parent node, vjp) pairs


def variable(array):
    return Node(np.array(array, dtype=np.float64))


def value(x):
    return x.value


def grad(y, xs, cotangent):
    order, seen = [], set()

    def visit(node):
        if id(node) not in seen:
            seen.add(id(node))
            for parent, _ in node.parents:
                visit(parent)
            order.append(node)

    visit(y)
    grads = {id(y): np.asarray(cotangent, dtype=np.float64)}
    for node in reversed(order):
        if id(node) in grads:
            for parent, vjp in node.parents:
                grads[id(parent)] = grads.get(id(parent), 0.0) + vjp(grads[id(node)])
    return [grads.get(id(x), np.zeros_like(x.value)) for x in xs]


def add(a, b):
    return Node(a.value + b.value, [(a, lambda g: g), (b, lambda g: g)])


def multiply(a, b):
    return Node(a.value * b.value, [(a, lambda g: g * b.value), (b, lambda g: g * a.value)])


def exp(x):
    out = np.exp(x.value)
    return Node(out, [(x, lambda g: g * out)])
