"""Value strategies: arrays inside an op's domain, and cotangents."""

from __future__ import annotations

import functools
import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from gradcheck.ops import FREE, Domain
from gradcheck.strategies._validation import check_dtype, check_shape

__all__ = ["COTANGENT_RANGE", "STYLES", "cotangents", "values"]

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


#: How an array's values are spread, simplest first: Hypothesis shrinks a
#: failing case toward the first style in which it still fails.
STYLES = ("constant", "integers", "halves", "uniform", "edges")

# Largest seed drawn; NumPy's generator makes the values from it.
_MAX_SEED = 2**32 - 1


def _simplest(low: float, high: float) -> float:
    """Return the simplest number in [low, high]: 0, else 1 or -1, else the integer nearest 0, else low."""
    for candidate in (0.0, 1.0, -1.0):
        if low <= candidate <= high:
            return candidate
    nearest = math.ceil(low) if low > 0 else math.floor(high)
    return float(nearest) if low <= nearest <= high else low


def _grid(low: float, high: float, step: float, rng: np.random.Generator, size: int) -> np.ndarray:
    first, last = math.ceil(low / step), math.floor(high / step)
    if first > last:
        return rng.uniform(low, high, size)
    return rng.integers(first, last, size, endpoint=True) * step


def _in_interval(style: int, low: float, high: float, rng: np.random.Generator, size: int) -> np.ndarray:
    name = STYLES[style]
    if name == "constant":
        return np.full(size, _simplest(low, high))
    if name == "integers":
        return _grid(low, high, 1.0, rng, size)
    if name == "halves":
        return _grid(low, high, 0.5, rng, size)
    if name == "uniform":
        return rng.uniform(low, high, size)
    # "edges": the ends of the interval, where a domain bug shows first, and
    # values just inside them.
    ends = rng.choice(np.array([low, high]), size)
    inward = np.where(ends == low, 1.0, -1.0) * rng.uniform(0.0, 0.05 * (high - low), size)
    return ends + inward * rng.integers(0, 2, size)


def _round_into(array: np.ndarray, low: float, high: float, width: int) -> np.ndarray:
    """Round to the dtype of ``width`` bits, staying inside [low, high]."""
    if width == 64:
        return array
    typed = np.float32

    def inside(bound: float, toward: float) -> float:
        rounded = typed(bound)
        if (rounded < bound and toward > bound) or (rounded > bound and toward < bound):
            rounded = np.nextafter(rounded, typed(toward))
        return float(rounded)

    return np.clip(array.astype(typed).astype(np.float64), inside(low, high), inside(high, low))


def realize(shape: tuple[int, ...], domain: Domain, width: int, style: int,
            rng: np.random.Generator) -> np.ndarray:
    """Return an array of ``shape`` in ``domain`` spread as ``STYLES[style]``, drawn from ``rng``."""
    size = math.prod(shape)
    if domain.distinct:
        # A permutation of evenly spaced values: no two entries tie.
        order = np.arange(size, dtype=np.float64) if style == 0 else rng.permutation(size).astype(np.float64)
        return ((order - (size - 1) / 2) * 0.5).reshape(shape)
    if domain.lattice is not None:
        step, offset = domain.lattice
        low, high = domain.intervals[0]
        first, last = math.ceil((low - offset) / step), math.floor((high - offset) / step)
        if style == 0:
            ks = np.full(size, min(max(0, first), last))
        else:
            ks = rng.integers(first, last, size, endpoint=True)
        return (offset + ks * step).reshape(shape)
    intervals = domain.intervals
    if style == 0 or len(intervals) == 1:
        # The simplest arrays keep to the first (preferred) interval.
        low, high = intervals[0]
        return _round_into(_in_interval(style, low, high, rng, size), low, high, width).reshape(shape)
    chosen = rng.integers(0, len(intervals), size)
    array = np.empty(size)
    for index, (low, high) in enumerate(intervals):
        where = chosen == index
        count = int(np.count_nonzero(where))
        if count:
            array[where] = _round_into(_in_interval(style, low, high, rng, count), low, high, width)
    return array.reshape(shape)


# Hypothesis mixes in integer literals found in the modules imported from the
# working folder, so the seeds it draws would depend on what a test suite
# imported. Drawn from a range no literal lies in and shifted back, the same
# seed gives the same cases whatever is imported.
_SEED_OFFSET = 3 * 2**40
#: A seed for NumPy's generator. Hypothesis shrinks it toward 0.
SEEDS = st.integers(_SEED_OFFSET, _SEED_OFFSET + _MAX_SEED).map(lambda n: n - _SEED_OFFSET)

#: An index into STYLES.
STYLE_INDICES = st.integers(0, len(STYLES) - 1)
#: A recipe: (style, seed). Hypothesis shrinks both toward 0.
RECIPES = st.tuples(STYLE_INDICES, SEEDS)


def _from_recipe(shape: tuple[int, ...], domain: Domain, width: int, recipe: tuple[int, int]) -> np.ndarray:
    style, seed = recipe
    return realize(shape, domain, width, style, np.random.default_rng(seed))


def values(
    shape: tuple[int, ...], *, domain: Domain = FREE, dtype: str = "float64"
) -> st.SearchStrategy[np.ndarray]:
    """Return a strategy for float64 arrays of ``shape`` with values in ``domain``.

    Values are exactly representable in ``dtype``, so an engine computing in
    float32 and the float64 oracles start from the same numbers. Hypothesis
    draws a small *recipe* per array (a style from ``STYLES`` and seeds for
    NumPy's generator), not each entry: drawing costs the same for 4 entries
    as for 4096, and a failing case shrinks toward the simplest style that
    still fails: one constant (0, else 1), then small integers, then halves.

    .. code-block:: pycon

        >>> from gradcheck.ops import Domain
        >>> values((2, 3), domain=Domain(((0.25, 4.0),))).example()  # doctest: +SKIP
        array([[1. , 3. , 2.5], [0.5, 4. , 1. ]])
    """
    return _values(check_shape("shape", shape), _check_domain(domain), _WIDTH[check_dtype(dtype)])


# Strategies are immutable, and building one (and Hypothesis validating it on
# first draw) costs more than drawing from it: each distinct set of validated
# arguments builds its strategy once.
@functools.lru_cache(maxsize=4096)
def _values(shape: tuple[int, ...], domain: Domain, width: int) -> st.SearchStrategy[np.ndarray]:
    return RECIPES.map(functools.partial(_from_recipe, shape, domain, width))


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


#: Cotangents are drawn like values in these intervals: never 0, so no
#: gradient entry is multiplied away.
COTANGENT_DOMAIN = Domain(((0.5, COTANGENT_RANGE[1]), (COTANGENT_RANGE[0], -0.5)))


@functools.lru_cache(maxsize=4096)
def _cotangents(shape: tuple[int, ...], width: int, ones: bool) -> st.SearchStrategy[np.ndarray]:
    if ones:
        return st.just(np.ones(shape))
    return _values(shape, COTANGENT_DOMAIN, width)
