"""Static-parameter strategies: axes, permutations, reshape and broadcast targets, exponents."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from gradcheck.strategies._validation import check_int, check_shape

__all__ = [
    "EXPONENTS",
    "broadcast_targets",
    "class_labels",
    "concat_axes",
    "einsum_subscripts",
    "exponents",
    "permutations",
    "reduction_axes",
    "reshape_targets",
    "scan_axes",
    "single_axes",
    "stack_axes",
    "variance_params",
]

#: Exponents tried first (and shrunk toward): the ones hand-written rules get wrong.
EXPONENTS = (2.0, 3.0, 0.5, -1.0, 1.5, -2.0, 1.0, -0.5)


def reduction_axes(ndim: int) -> st.SearchStrategy[Any]:
    """Return a strategy for a reduction's ``axis``: None, an int (negative too) or a tuple.

    .. code-block:: pycon

        >>> reduction_axes(3).example()  # doctest: +SKIP
        (0, -1)
    """
    ndim = check_int("ndim", ndim, 0)
    if ndim == 0:
        return st.none()
    return st.one_of(
        st.none(),
        st.integers(-ndim, ndim - 1),
        st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).flatmap(
            # Each axis of the tuple may be spelled negatively.
            lambda axes: st.tuples(*[st.sampled_from((axis, axis - ndim)) for axis in axes])
        ),
    )


def single_axes(ndim: int) -> st.SearchStrategy[int]:
    """Return a strategy for one axis of an ``ndim``-D array, negative spellings included.

    .. code-block:: pycon

        >>> single_axes(2).example()  # doctest: +SKIP
        -2
    """
    ndim = check_int("ndim", ndim, 1)
    return st.integers(-ndim, ndim - 1)


def permutations(ndim: int) -> st.SearchStrategy[tuple[int, ...]]:
    """Return a strategy for a permutation of ``range(ndim)``.

    .. code-block:: pycon

        >>> permutations(3).example()  # doctest: +SKIP
        (2, 0, 1)
    """
    ndim = check_int("ndim", ndim, 0)
    uniform = st.permutations(range(ndim)).map(tuple)
    if ndim < 3:
        return uniform
    # Below 3 axes every permutation is its own inverse, and of the 6 of 3
    # axes only the 2 cycles are not: on the others a backward rule that
    # applies ``axes`` where it should apply their inverse is right. Rotations,
    # which are not their own inverse but for a half turn of an even number of
    # axes, get half the draws (uniform draws give cycles a third).
    rotations = st.integers(1, ndim - 1).map(lambda shift: tuple((i + shift) % ndim for i in range(ndim)))
    return st.one_of(uniform, rotations)


def _prime_factors(n: int) -> list[int]:
    factors, divisor = [], 2
    while n > 1:
        while n % divisor == 0:
            factors.append(divisor)
            n //= divisor
        divisor += 1
    return factors


@st.composite
def _reshape_target(draw: st.DrawFn, shape: tuple[int, ...], max_dims: int) -> tuple[int, ...]:
    size = math.prod(shape)
    factors = draw(st.permutations(_prime_factors(size)))
    ndim = draw(st.integers(0 if size == 1 else 1, max_dims))
    sides = [1] * ndim
    for factor in factors:
        sides[draw(st.integers(0, ndim - 1))] *= factor
    if ndim and draw(st.booleans()):
        sides[draw(st.integers(0, ndim - 1))] = -1
    return tuple(sides)


def reshape_targets(shape: tuple[int, ...], *, max_dims: int = 4) -> st.SearchStrategy[tuple[int, ...]]:
    """Return a strategy for shapes ``shape`` can be reshaped to, sometimes with one ``-1``.

    .. code-block:: pycon

        >>> reshape_targets((2, 6)).example()  # doctest: +SKIP
        (3, -1, 1)
    """
    shape = check_shape("shape", shape)
    max_dims = check_int("max_dims", max_dims, 1)
    return _reshape_target(shape, max_dims)


@st.composite
def _broadcast_target(draw: st.DrawFn, shape: tuple[int, ...], max_new_dims: int, max_side: int):
    new = draw(st.lists(st.integers(1, max_side), max_size=max_new_dims))
    grown = [draw(st.integers(1, max_side)) if side == 1 else side for side in shape]
    return tuple(new) + tuple(grown)


def broadcast_targets(
    shape: tuple[int, ...], *, max_new_dims: int = 2, max_side: int = 3
) -> st.SearchStrategy[tuple[int, ...]]:
    """Return a strategy for shapes ``shape`` broadcasts to: new leading axes, size-1 axes grown.

    .. code-block:: pycon

        >>> broadcast_targets((3, 1)).example()  # doctest: +SKIP
        (2, 3, 2)
    """
    shape = check_shape("shape", shape)
    max_new_dims = check_int("max_new_dims", max_new_dims, 0)
    max_side = check_int("max_side", max_side, 1)
    return _broadcast_target(shape, max_new_dims, max_side)


def exponents(*, width: int = 64) -> st.SearchStrategy[float]:
    """Return a strategy for ``pow``'s exponent: the usual suspects first, then any float.

    Exponents near 0 are left out (``x ** 0`` has a 0 * inf gradient at 0).

    .. code-block:: pycon

        >>> exponents().example()  # doctest: +SKIP
        1.5
    """
    if width not in (32, 64):
        raise InvalidArgument(f"width={width!r} must be 32 or 64.")
    return st.one_of(
        st.sampled_from(EXPONENTS),
        st.floats(-3.0, 3.0, width=32 if width == 32 else 64).filter(lambda p: abs(p) >= 0.25),
    )



def scan_axes(ndim: int) -> st.SearchStrategy[Any]:
    """Return a strategy for a cumulative sum's ``axis``: None (the flattened array) or one axis, negative too.

    .. code-block:: pycon

        >>> scan_axes(2).example()  # doctest: +SKIP
        -1
    """
    ndim = check_int("ndim", ndim, 1)
    return st.one_of(st.none(), st.integers(-ndim, ndim - 1))


def _reduced_count(shape: tuple[int, ...], axis: Any) -> int:
    axes = tuple(range(len(shape))) if axis is None else axis if isinstance(axis, tuple) else (axis,)
    return math.prod(shape[a] for a in axes)


def variance_params(shape: tuple[int, ...]) -> st.SearchStrategy[dict[str, Any]]:
    """Return a strategy for ``var``/``std``'s parameters: a reduction's ``axis`` and ``keepdims``, ``correction`` 0 or 1.

    Every drawn axis reduces at least two entries, so that ``correction=1``
    never divides by zero and ``std`` has a derivative; a shape of one entry
    has no such axis (nothing is drawn: the caller draws another shape).

    .. code-block:: pycon

        >>> variance_params((2, 3)).example()  # doctest: +SKIP
        {'axis': -1, 'keepdims': False, 'correction': 1.0}
    """
    shape = tuple(shape)
    if math.prod(shape) < 2:
        return st.nothing()
    axes = reduction_axes(len(shape)).filter(lambda axis: _reduced_count(shape, axis) >= 2)
    return st.fixed_dictionaries(
        {"axis": axes, "keepdims": st.booleans(), "correction": st.sampled_from((0.0, 1.0))}
    )


def concat_axes(shapes: tuple[tuple[int, ...], ...]) -> st.SearchStrategy[int]:
    """Return a strategy for ``concat``'s ``axis``: one along which ``shapes`` may differ, negative spellings too.

    Nothing is drawn when no axis fits (shapes that differ along two axes).

    .. code-block:: pycon

        >>> concat_axes(((2, 3), (2, 1))).example()  # doctest: +SKIP
        -1
    """
    shapes = tuple(check_shape("shapes", shape) for shape in shapes)
    rank = len(shapes[0])
    fitting = [axis for axis in range(rank)
               if all(len(shape) == rank and shape[:axis] + shape[axis + 1:] == shapes[0][:axis] + shapes[0][axis + 1:]
                      for shape in shapes)]
    if not fitting:
        return st.nothing()
    return st.sampled_from(fitting).flatmap(lambda axis: st.sampled_from((axis, axis - rank)))


def stack_axes(ndim: int) -> st.SearchStrategy[int]:
    """Return a strategy for ``stack``'s ``axis``: an axis of the output, which has ``ndim + 1`` axes, negative too.

    .. code-block:: pycon

        >>> stack_axes(2).example()  # doctest: +SKIP
        -3
    """
    ndim = check_int("ndim", ndim, 0)
    return st.integers(-(ndim + 1), ndim)


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


@st.composite
def _subscripts(draw: st.DrawFn, shapes: tuple[tuple[int, ...], ...]) -> str:
    sizes: dict[str, int] = {}
    terms = []
    for shape in shapes:
        term = ""
        for side in shape:
            # A new letter, or one of the same size: another operand's (a batch
            # axis or a contraction) or this operand's own (a trace).
            fresh = _LETTERS[len(sizes)]
            letter = draw(st.sampled_from([fresh, *(old for old, size in sizes.items() if size == side)]))
            sizes.setdefault(letter, side)
            term += letter
        terms.append(term)
    # The output: some of the letters, each once, in any order (a transposed output).
    order = draw(st.permutations(list(sizes)))
    kept = draw(st.integers(0, len(order)))
    return ",".join(terms) + "->" + "".join(order[:kept])


def einsum_subscripts(shapes: tuple[tuple[int, ...], ...]) -> st.SearchStrategy[str]:
    """Return a strategy for explicit ``einsum`` subscripts that fit operands of ``shapes``.

    Axes of one size may share a letter: across operands (a batch axis when the
    output keeps it, a contraction when it drops it) or within one (a trace,
    a diagonal); the output keeps any of the letters in any order.

    .. code-block:: pycon

        >>> einsum_subscripts(((2, 3), (3, 2))).example()  # doctest: +SKIP
        'ab,ba->'
    """
    shapes = tuple(check_shape("shapes", shape) for shape in shapes)
    if not shapes or sum(len(shape) for shape in shapes) > len(_LETTERS):
        raise InvalidArgument(f"shapes={shapes!r} must be 1 or more shapes of at most {len(_LETTERS)} axes in all.")
    return _subscripts(shapes)


def class_labels(shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    """Return a strategy for ``cross_entropy``'s labels given logits of ``shape`` (N, C): N int64 classes in [0, C).

    .. code-block:: pycon

        >>> class_labels((3, 4)).example()  # doctest: +SKIP
        array([0, 3, 3])
    """
    shape = check_shape("shape", shape)
    if len(shape) != 2:
        raise InvalidArgument(f"shape={shape!r} must be logits' (N, C).")
    rows, classes = shape
    return st.lists(st.integers(0, classes - 1), min_size=rows, max_size=rows).map(
        lambda labels: np.array(labels, dtype=np.int64).reshape(rows)
    )
