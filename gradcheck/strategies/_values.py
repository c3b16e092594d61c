"""Value strategies: arrays inside an op's domain, and cotangents."""

from __future__ import annotations

import functools
import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.extra import numpy as hnp

from gradcheck.ops import FREE, Domain
from gradcheck.strategies._validation import check_dtype, check_shape

__all__ = ["COTANGENT_RANGE", "cotangents", "values"]

#: Cotangent entries lie in this range; never all ones unless asked, since an
#: all-ones cotangent cannot see a backward rule that ignores it.
COTANGENT_RANGE = (-2.0, 2.0)

_WIDTH = {"float32": 32, "float64": 64}


def _check_domain(domain: Domain) -> Domain:
    if not isinstance(domain, Domain):
        raise InvalidArgument(f"domain={domain!r} must be a gradcheck.ops.Domain.")
    if not domain.intervals:
        raise InvalidArgument(f"domain={domain!r} has no intervals.")
    for low, high in domain.intervals:
        if not low <= high:
            raise InvalidArgument(f"domain interval ({low!r}, {high!r}) has low > high.")
    if domain.lattice is not None and not domain.lattice[0] > 0:
        raise InvalidArgument(f"domain lattice step {domain.lattice[0]!r} must be positive.")
    return domain


def _elements(domain: Domain, width: int) -> st.SearchStrategy[float]:
    if domain.lattice is not None:
        step, offset = domain.lattice
        low, high = domain.intervals[0]
        first, last = math.ceil((low - offset) / step), math.floor((high - offset) / step)
        return st.integers(first, last).map(lambda k: offset + k * step)
    # The first interval is tried first, so values shrink toward its simplest number.
    return st.one_of(
        *[
            st.floats(low, high, width=width, allow_nan=False, allow_infinity=False, allow_subnormal=False)
            for low, high in domain.intervals
        ]
    )


def _distinct(shape: tuple[int, ...], step: float) -> st.SearchStrategy[np.ndarray]:
    # A permutation of evenly spaced values: no two entries tie, and it shrinks
    # toward the sorted (identity) order.
    size = math.prod(shape)
    centre = (size - 1) / 2
    return st.permutations(range(size)).map(
        lambda order: ((np.asarray(order, dtype=np.float64) - centre) * step).reshape(shape)
    )


def values(
    shape: tuple[int, ...], *, domain: Domain = FREE, dtype: str = "float64"
) -> st.SearchStrategy[np.ndarray]:
    """Return a strategy for float64 arrays of ``shape`` with values in ``domain``.

    Values are exactly representable in ``dtype``, so an engine computing in
    float32 and the float64 oracles start from the same numbers, and they shrink
    toward small simple numbers (0, 1, 0.5, ...).

    .. code-block:: pycon

        >>> from gradcheck.ops import Domain
        >>> values((2, 3), domain=Domain(((0.25, 4.0),))).example()  # doctest: +SKIP
        array([[1. , 1. , 2.5], [1. , 0.5, 1. ]])
    """
    return _values(check_shape("shape", shape), _check_domain(domain), _WIDTH[check_dtype(dtype)])


# Strategies are immutable, and building one (and Hypothesis validating it on
# first draw) costs more than drawing from it: each distinct set of validated
# arguments builds its strategy once.
@functools.lru_cache(maxsize=4096)
def _values(shape: tuple[int, ...], domain: Domain, width: int) -> st.SearchStrategy[np.ndarray]:
    if domain.distinct:
        return _distinct(shape, step=0.5)
    return hnp.arrays(np.float64, shape, elements=_elements(domain, width))


def cotangents(
    shape: tuple[int, ...], *, dtype: str = "float64", ones: bool = False
) -> st.SearchStrategy[np.ndarray]:
    """Return a strategy for the cotangent of an output of ``shape``.

    With ``ones=True`` it is always all ones (the weaker check used for engines
    whose ``grad`` takes no cotangent).

    .. code-block:: pycon

        >>> cotangents((2,)).example()  # doctest: +SKIP
        array([ 1.5, -0.25])
    """
    return _cotangents(check_shape("shape", shape), _WIDTH[check_dtype(dtype)], bool(ones))


@functools.lru_cache(maxsize=4096)
def _cotangents(shape: tuple[int, ...], width: int, ones: bool) -> st.SearchStrategy[np.ndarray]:
    if ones:
        return st.just(np.ones(shape))
    low, high = COTANGENT_RANGE
    return hnp.arrays(np.float64, shape, elements=st.floats(low, high, width=width, allow_subnormal=False))
