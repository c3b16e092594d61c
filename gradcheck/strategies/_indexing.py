"""Parameter strategies of the indexing ops: indices with repeats, ``getitem`` keys, conditions, pad widths.

Integer and boolean arrays here are parameters (docs/contract.md, section 1b):
drawn to fit the operand shapes, passed to the engine as NumPy arrays, never
differentiated.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gradcheck.strategies._params import reduction_axes
from gradcheck.strategies._validation import check_int, check_shape

__all__ = ["conditions", "flip_axes", "index_arrays", "index_keys", "pad_widths", "take_params"]

#: Steps of a drawn slice, the plain one first (what a key shrinks to).
SLICE_STEPS = (None, 1, 2, -1, -2, 3)

#: Largest padding on one side of an axis.
MAX_PAD = 2


@st.composite
def _index_array(draw: st.DrawFn, length: int, max_size: int) -> np.ndarray:
    positions = draw(st.lists(st.integers(0, length - 1), min_size=1, max_size=max_size))
    # Repeats are what a scatter that overwrites gets wrong, so most draws get
    # one on purpose (and shrink toward it): a copy of a drawn position put
    # anywhere. Every position may be spelled negatively (-1 for length - 1).
    if draw(st.integers(0, 3)):
        copied = positions[draw(st.integers(0, len(positions) - 1))]
        positions.insert(draw(st.integers(0, len(positions))), copied)
    spelled = [draw(st.sampled_from((position, position - length))) for position in positions]
    array = np.array(spelled, dtype=np.int64)
    if array.size % 2 == 0 and draw(st.integers(0, 3)) == 3:
        array = array.reshape(2, -1)  # a matrix of indices: its axes replace the indexed one
    return array


def index_arrays(length: int, *, max_size: int = 5) -> st.SearchStrategy[np.ndarray]:
    """Return a strategy for int64 indices into an axis of ``length``: repeated and negative ones common.

    Three draws in four repeat an index; any index may be spelled from the end
    (``-1``); a few are 2-D.

    .. code-block:: pycon

        >>> index_arrays(3).example()  # doctest: +SKIP
        array([ 2, 0, -1])
    """
    length = check_int("length", length, 1)
    max_size = check_int("max_size", max_size, 1)
    return _index_array(length, max_size)


def take_params(shape: tuple[int, ...]) -> st.SearchStrategy[dict[str, Any]]:
    """Return a strategy for ``take``'s parameters: ``axis`` (None, an int, negative too) and ``indices`` fitting it.

    .. code-block:: pycon

        >>> take_params((2, 3)).example()  # doctest: +SKIP
        {'indices': array([0, 0, -1]), 'axis': -1}
    """
    shape = check_shape("shape", shape)
    ndim = check_int("ndim", len(shape), 1)

    def fitting(axis: int | None) -> st.SearchStrategy[dict[str, Any]]:
        length = math.prod(shape) if axis is None else shape[axis]
        return st.fixed_dictionaries({"indices": index_arrays(length), "axis": st.just(axis)})

    return st.one_of(st.none(), st.integers(-ndim, ndim - 1)).flatmap(fitting)


def _slice(length: int) -> st.SearchStrategy[slice]:
    bound = st.one_of(st.none(), st.integers(-length - 1, length))

    def non_empty(drawn: slice) -> slice:
        # An empty slice leaves nothing to differentiate: take the whole axis in that direction.
        return drawn if len(range(*drawn.indices(length))) else slice(None, None, drawn.step)

    return st.builds(slice, bound, bound, st.sampled_from(SLICE_STEPS)).map(non_empty)


@st.composite
def _key(draw: st.DrawFn, shape: tuple[int, ...]) -> Any:
    ndim = len(shape)
    named = draw(st.integers(1, ndim))  # axes the key names; the others are implicit or behind ...
    ellipsis_at = draw(st.one_of(st.none(), st.integers(0, named)))
    if ellipsis_at is None:
        axes = list(range(named))
    else:
        axes = list(range(ellipsis_at)) + list(range(ndim - (named - ellipsis_at), ndim))
    array_at = draw(st.one_of(st.none(), st.integers(0, named - 1)))
    entries: list[Any] = []
    for slot, axis in enumerate(axes):
        length = shape[axis]
        if slot == array_at:
            entries.append(draw(index_arrays(length, max_size=4).map(np.ravel)))
        else:
            entries.append(draw(st.one_of(_slice(length), st.integers(-length, length - 1))))
    if ellipsis_at is not None:
        entries.insert(ellipsis_at, Ellipsis)
    for _ in range(draw(st.integers(0, 2))):
        entries.insert(draw(st.integers(0, len(entries))), None)
    # A key of one entry is often written bare: x[::-1], x[idx].
    if len(entries) == 1 and draw(st.booleans()):
        return entries[0]
    return tuple(entries)


def index_keys(shape: tuple[int, ...]) -> st.SearchStrategy[Any]:
    """Return a strategy for ``getitem`` keys of an array of ``shape``.

    Basic slices (steps, negative steps and bounds, never empty), integers
    (negative too), ``None``, ``...`` and at most one integer array (with
    repeats), in a tuple or bare.

    .. code-block:: pycon

        >>> index_keys((3, 4)).example()  # doctest: +SKIP
        (None, slice(-1, None, -2), array([1, 1, -4]))
    """
    shape = check_shape("shape", shape)
    check_int("ndim", len(shape), 1)
    return _key(shape)


@st.composite
def _condition(draw: st.DrawFn, shapes: tuple[tuple[int, ...], ...], max_side: int) -> np.ndarray:
    out = np.broadcast_shapes(*shapes)
    shape = draw(hnp.broadcastable_shapes(out, min_dims=0, max_dims=max(len(out), 1), max_side=max_side))
    flags = draw(st.lists(st.booleans(), min_size=math.prod(shape), max_size=math.prod(shape)))
    return np.array(flags, dtype=np.bool_).reshape(shape)


def conditions(shapes: tuple[tuple[int, ...], ...], *, max_side: int = 3) -> st.SearchStrategy[np.ndarray]:
    """Return a strategy for ``where``'s boolean condition, broadcastable with the operands of ``shapes``.

    The condition may broadcast the operands further (a size-1 axis of theirs
    it stretches), so all three broadcast together.

    .. code-block:: pycon

        >>> conditions(((2, 1), (3,))).example()  # doctest: +SKIP
        array([[ True, False, False]])
    """
    shapes = tuple(check_shape("shapes", shape) for shape in shapes)
    return _condition(shapes, check_int("max_side", max_side, 1))


def flip_axes(ndim: int) -> st.SearchStrategy[Any]:
    """Return a strategy for ``flip``'s ``axis``: None (every axis), an int or a tuple, negative too."""
    return reduction_axes(check_int("ndim", ndim, 1))


def pad_widths(ndim: int) -> st.SearchStrategy[Any]:
    """Return a strategy for ``pad``'s ``pad_width`` in NumPy's forms: an int, ``(before, after)``, one pair per axis.

    .. code-block:: pycon

        >>> pad_widths(2).example()  # doctest: +SKIP
        ((0, 2), (1, 0))
    """
    ndim = check_int("ndim", ndim, 1)
    side = st.integers(0, MAX_PAD)
    pair = st.tuples(side, side)
    return st.one_of(pair, st.tuples(*[pair] * ndim), side)
