"""Good: ops under the contract (docs/contract.md, section 1) aliases (mul, transpose, power)."""

import numpy as np

from _tiny import Node, grad, value, variable  # noqa: F401


def mul(a, b):
    return Node(a.value * b.value, [(a, lambda g: g * b.value), (b, lambda g: g * a.value)])


def transpose(x, axes):
    inverse = np.argsort(axes)
    return Node(np.transpose(x.value, axes), [(x, lambda g: np.transpose(g, inverse))])


def power(x, p):
    return Node(x.value**p, [(x, lambda g: g * p * x.value ** (p - 1))])


def add(a, b):  # the canonical name: no alias recorded for add
    return Node(a.value + b.value, [(a, lambda g: g), (b, lambda g: g)])
