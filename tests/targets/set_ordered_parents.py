"""Good: the reference NumPy engine, but its backward pass visits a node's parents in *set* order.

Like micrograd (``self._prev = set(_children)``), the topological sort walks
each node's parents out of a ``set``. The order a set yields depends on its
members' hashes, and these change from one call to the next (micrograd's are
ids; here each node's hash is a scrambled serial number, so that a run is replayable),
so the reverse sweep visits the consumers of a reused value in a different
order on each call, and the value's gradient sums the same contributions in
a different order. Every answer is correct to rounding; two calls differ only
by the reassociation of those sums — which is not nondeterminism.

``engine`` computes in float64, ``engine32`` in float32.
"""

from __future__ import annotations

import itertools

from gradcheck.examples.numpy_engine import Tensor, make_engine

_serial = itertools.count()


class _Hashed:
    """A node as a set member: hashed by a serial number drawn when the node is first put in a set."""

    __slots__ = ("node", "serial")

    def __init__(self, node: Tensor) -> None:
        self.node = node
        self.serial = next(_serial)

    def __hash__(self) -> int:
        # Scattered like ids are, so that a small set's order changes from call to call.
        return hash((self.serial,))


def _set_order(y: Tensor) -> list[Tensor]:
    """Return the nodes ``y`` depends on, each after its parents, walking parents in set order."""
    wrapped: dict[int, _Hashed] = {}

    def member(node: Tensor) -> _Hashed:
        return wrapped.setdefault(id(node), _Hashed(node))

    order: list[Tensor] = []
    done: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(y, False)]
    while stack:
        current, parents_done = stack.pop()
        if parents_done:
            order.append(current)
            continue
        if id(current) in done:
            continue
        done.add(id(current))
        stack.append((current, True))
        parents = {member(parent) for parent in current._parents}
        stack.extend((entry.node, False) for entry in parents if id(entry.node) not in done)
    return order


def _set_ordered_sweep(y: Tensor, seed) -> None:
    y.grad = seed
    for current in reversed(_set_order(y)):
        if current._backward is None or current.grad is None:
            continue
        for parent, contribution in zip(current._parents, current._backward(current.grad)):
            if contribution is not None:
                parent.grad = contribution if parent.grad is None else parent.grad + contribution


engine = make_engine("float64", name="numpy engine, parents in set order (float64)", backward_pass=_set_ordered_sweep)
engine32 = make_engine("float32", name="numpy engine, parents in set order (float32)", backward_pass=_set_ordered_sweep)
