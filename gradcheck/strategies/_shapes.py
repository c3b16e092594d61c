"""Operand-shape strategies, built on ``hypothesis.extra.numpy``."""

from __future__ import annotations

import functools

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.extra import numpy as hnp

from gradcheck.strategies._geometry import conv_shapes, pool_shapes
from gradcheck.strategies._validation import check_int, check_order

__all__ = ["MATMUL_SIGNATURE", "broadcastable_shapes", "matmul_shapes", "operand_shapes"]

#: NumPy's matmul as a generalized-ufunc signature: 1-D operands are the
#: optional ``m?``/``p?`` dimensions; everything left of the core dimensions
#: is a broadcast batch.
MATMUL_SIGNATURE = "(m?,n),(n,p?)->(m?,p?)"

_STACK_SIGNATURE = "(m,n),(n,p)->(m,p)"

#: Largest side of the densely searched small-shape space.
SMALL_SIDE = 2


def broadcastable_shapes(
    num_shapes: int = 2,
    *,
    min_dims: int = 0,
    max_dims: int = 3,
    min_side: int = 1,
    max_side: int = 4,
) -> st.SearchStrategy[tuple[tuple[int, ...], ...]]:
    """Return a strategy for ``num_shapes`` mutually broadcastable shapes.

    Shapes differ in rank and use size-1 axes, the cases where a gradient must
    be summed back to its operand's shape.

    .. code-block:: pycon

        >>> broadcastable_shapes().example()  # doctest: +SKIP
        ((2, 1, 3), (3,))
    """
    num_shapes = check_int("num_shapes", num_shapes, 1)
    min_dims, max_dims = check_int("min_dims", min_dims, 0), check_int("max_dims", max_dims, 0)
    min_side, max_side = check_int("min_side", min_side, 1), check_int("max_side", max_side, 1)
    check_order("min_dims", min_dims, "max_dims", max_dims)
    check_order("min_side", min_side, "max_side", max_side)
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes,
        min_dims=min_dims,
        max_dims=max_dims,
        min_side=min_side,
        max_side=max_side,
    ).map(lambda drawn: drawn.input_shapes)


def matmul_shapes(
    *, max_batch_dims: int = 2, min_side: int = 1, max_side: int = 4
) -> st.SearchStrategy[tuple[tuple[int, ...], ...]]:
    """Return a strategy for the operand shapes of ``matmul`` with NumPy semantics.

    Covers 1-D operands on either side and broadcast batch stacks such as
    ``(2, 2, 2) @ (2, 2)`` or ``(2, 1, 3, 4) @ (5, 4, 1)``.

    .. code-block:: pycon

        >>> matmul_shapes().example()  # doctest: +SKIP
        ((2, 1, 3), (3,))
    """
    max_batch_dims = check_int("max_batch_dims", max_batch_dims, 0)
    min_side, max_side = check_int("min_side", min_side, 1), check_int("max_side", max_side, 1)
    check_order("min_side", min_side, "max_side", max_side)
    any_operands = hnp.mutually_broadcastable_shapes(
        signature=MATMUL_SIGNATURE, max_dims=max_batch_dims, min_side=min_side, max_side=max_side
    )
    if max_batch_dims == 0:
        return any_operands.map(lambda drawn: drawn.input_shapes)
    # NumPy's signature alone spends most draws on 1-D operands and unbatched
    # matrices; batched stacks, where backward rules most often go wrong
    # (transposing the batch axes, not summing a broadcast batch), get half.
    stacks = hnp.mutually_broadcastable_shapes(
        signature=_STACK_SIGNATURE, min_dims=1, max_dims=max_batch_dims,
        min_side=min_side, max_side=max_side,
    )
    return st.one_of(stacks, any_operands).map(lambda drawn: drawn.input_shapes)


def operand_shapes(
    rule: str, *, max_dims: int = 3, max_side: int = 4
) -> st.SearchStrategy[tuple[tuple[int, ...], ...]]:
    """Return a strategy for one op's operand shapes, by shape-rule name.

    ``rule`` is the ``shapes`` column of ``gradcheck.ops.OPS``: ``elementwise``,
    ``broadcast``, ``matmul``, ``matrix`` (at least 2-D), ``permutable`` and
    ``nonscalar`` (at least 1-D), ``reducible`` (any rank), ``spread`` (at least
    1-D, sides of at least 2), ``concat`` (1 to 4 shapes differing along one
    axis), ``stack`` (1 to 4 equal shapes), ``einsum`` (1 to 3 shapes of rank
    0 to 3), ``logits`` ((N, C)).

    .. code-block:: pycon

        >>> operand_shapes("matrix").example()  # doctest: +SKIP
        ((3, 1, 2),)
    """
    max_dims = check_int("max_dims", max_dims, 2)
    max_side = check_int("max_side", max_side, 1)
    if rule not in _RULES:
        raise InvalidArgument(f"rule={rule!r} is not a shape rule; use one of {', '.join(_RULES)}.")
    return _operand_shapes(rule, max_dims, max_side)


# Built once per argument set: building a strategy (and Hypothesis validating
# it on first draw) costs more than a draw, and op_cases asks for one per case.
@functools.lru_cache(maxsize=None)
def _operand_shapes(rule: str, max_dims: int, max_side: int) -> st.SearchStrategy[tuple[tuple[int, ...], ...]]:
    full = _RULES[rule](max_dims, max_side)
    if max_side < SMALL_SIDE:
        return full
    # A hundred examples cannot cover every shape up to ``max_side``, so two
    # small spaces get two thirds of the draws. Sides <= 2: size-1 axes
    # broadcast against 2s (gradients not summed back). Every side == 2: no
    # axis can be told from another by its size, so an axis-order bug (a
    # transpose over all axes, a permutation instead of its inverse) cannot
    # hide behind a shape error and shows as wrong numbers. Cases shrink
    # toward the first space.
    return st.one_of(
        _RULES[rule](max_dims, SMALL_SIDE),
        _RULES[rule](max_dims, SMALL_SIDE, SMALL_SIDE),
        full,
    )


def _single(min_dims: int):
    def rule(max_dims: int, max_side: int, min_side: int = 1):
        return hnp.array_shapes(
            min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
        ).map(lambda shape: (shape,))

    return rule


def _concat_shapes(max_dims: int, max_side: int, min_side: int = 1):
    """1 to 4 shapes of one rank (at least 1) that differ along one axis only: concat's operands."""

    @st.composite
    def rule(draw: st.DrawFn) -> tuple[tuple[int, ...], ...]:
        base = draw(hnp.array_shapes(min_dims=1, max_dims=max_dims, min_side=min_side, max_side=max_side))
        axis = draw(st.integers(0, len(base) - 1))
        sizes = draw(st.lists(st.integers(min_side, max_side), min_size=1, max_size=4))
        return tuple(base[:axis] + (size,) + base[axis + 1:] for size in sizes)

    return rule()


def _stack_shapes(max_dims: int, max_side: int, min_side: int = 1):
    """1 to 4 copies of one shape (any rank): stack's operands."""
    return st.tuples(
        hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=min_side, max_side=max_side), st.integers(1, 4)
    ).map(lambda drawn: (drawn[0],) * drawn[1])


def _einsum_shapes(max_dims: int, max_side: int, min_side: int = 1):
    """1 to 3 shapes of rank 0 to 3: einsum's operands (the subscripts are drawn to fit them)."""
    return st.lists(
        hnp.array_shapes(min_dims=0, max_dims=min(max_dims, 3), min_side=min_side, max_side=max_side),
        min_size=1, max_size=3,
    ).map(tuple)


_RULES = {
    "elementwise": _single(0),
    "reducible": _single(0),
    "nonscalar": _single(1),
    "permutable": _single(1),
    "matrix": _single(2),
    # At least 1-D with every side >= 2 where max_side allows: any axis reduces
    # two entries or more (var with a correction, std).
    "spread": lambda max_dims, max_side, min_side=1: _single(1)(
        max_dims, max_side, min(max_side, max(min_side, 2))
    ),
    "broadcast": lambda max_dims, max_side, min_side=1: broadcastable_shapes(
        2, max_dims=max_dims, min_side=min_side, max_side=max_side
    ),
    "concat": _concat_shapes,
    "stack": _stack_shapes,
    "einsum": _einsum_shapes,
    # cross_entropy's logits: (N, C).
    "logits": lambda max_dims, max_side, min_side=1: hnp.array_shapes(
        min_dims=2, max_dims=2, min_side=min_side, max_side=max_side
    ).map(lambda shape: (shape,)),
    "matmul": lambda max_dims, max_side, min_side=1: matmul_shapes(
        max_batch_dims=max(0, max_dims - 1), min_side=min_side, max_side=max_side
    ),
    # Fixed ranks (max_dims does not apply); max_side bounds batch and channels.
    "conv1d": lambda max_dims, max_side, min_side=1: conv_shapes(1, max_side=max_side, min_side=min_side),
    "conv2d": lambda max_dims, max_side, min_side=1: conv_shapes(2, max_side=max_side, min_side=min_side),
    "pool2d": lambda max_dims, max_side, min_side=1: pool_shapes(max_side=max_side, min_side=min_side),
}

SHAPE_RULES = tuple(_RULES)

