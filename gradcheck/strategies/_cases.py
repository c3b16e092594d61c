"""Whole cases for one op: shapes, then parameters, then values, then cotangent."""

from __future__ import annotations

import functools
import itertools
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
from hypothesis import reject
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from gradcheck import ops
from gradcheck.case import Case, CaseBatch
from gradcheck.strategies._indexing import conditions, flip_axes, index_keys, pad_widths, take_params
from gradcheck.strategies._geometry import conv_params, pool_params
from gradcheck.strategies._params import (
    broadcast_targets,
    class_labels,
    concat_axes,
    einsum_subscripts,
    exponents,
    permutations,
    reduction_axes,
    reshape_targets,
    scan_axes,
    single_axes,
    stack_axes,
    variance_params,
)
from gradcheck.strategies._shapes import operand_shapes
from gradcheck.strategies._validation import check_dtype, check_int, check_shape
from gradcheck.strategies._values import COTANGENT_DOMAIN, RECIPES, SEEDS, STYLE_INDICES, STYLES, realize

__all__ = ["PARAM_RULES", "case_size", "declared_params", "op_cases", "simplest_case", "smaller_cases"]

_Shapes = tuple[tuple[int, ...], ...]

#: (operand style, cotangent style) of each value set of a batch, by position:
#: indices into ``STYLES``, simplest first. Simple operands come with a
#: varied cotangent too, since that is what shows a backward rule that
#: misplaces it.
STYLE_PAIRS: tuple[tuple[int, int], ...] = tuple(
    (STYLES.index(operands), STYLES.index(cotangent))
    for operands, cotangent in (
        ("constant", "constant"),
        ("constant", "integers"),
        ("integers", "constant"),
        ("integers", "integers"),
        ("halves", "halves"),
        ("uniform", "uniform"),
        ("edges", "uniform"),
        ("uniform", "edges"),
    )
)

#: leaky_relu's negative slopes, the default first: a rule that drops the
#: slope (relu's) or ignores it (a derivative of 1) is off by far more than
#: rounding at the larger ones.
NEGATIVE_SLOPES = (0.01, 0.2, 0.5)
#: elu's alphas, the default first (where exp(x) and alpha * exp(x) agree).
ELU_ALPHAS = (1.0, 0.5, 2.0)
#: clip's (min, max): both bounds, one of them, bounds of one sign; values
#: keep away from them (``gradcheck.ops.CLIP_MARGIN``).
CLIP_BOUNDS = ((-1.0, 1.0), (None, 0.5), (-0.5, None), (0.5, 2.0), (-2.0, -1.0))

#: ``param_rule`` column of the op table -> strategy for the params dict.
PARAM_RULES: dict[str, Callable[[_Shapes, int], st.SearchStrategy[dict[str, Any]]]] = {
    "reduction": lambda shapes, width: st.fixed_dictionaries(
        {"axis": reduction_axes(len(shapes[0])), "keepdims": st.booleans()}
    ),
    "single_axis": lambda shapes, width: st.fixed_dictionaries({"axis": single_axes(len(shapes[0]))}),
    "permutation": lambda shapes, width: st.fixed_dictionaries({"axes": permutations(len(shapes[0]))}),
    "reshape_target": lambda shapes, width: st.fixed_dictionaries({"shape": reshape_targets(shapes[0])}),
    "broadcast_target": lambda shapes, width: st.fixed_dictionaries(
        {"shape": broadcast_targets(shapes[0])}
    ),
    "exponent": lambda shapes, width: st.fixed_dictionaries({"p": exponents(width=width)}),
    "negative_slope": lambda shapes, width: st.fixed_dictionaries(
        {"negative_slope": st.sampled_from(NEGATIVE_SLOPES)}
    ),
    "elu_alpha": lambda shapes, width: st.fixed_dictionaries({"alpha": st.sampled_from(ELU_ALPHAS)}),
    "clip_bounds": lambda shapes, width: st.sampled_from(CLIP_BOUNDS).map(
        lambda bounds: {"min": bounds[0], "max": bounds[1]}
    ),
    "scan_axis": lambda shapes, width: st.fixed_dictionaries({"axis": scan_axes(len(shapes[0]))}),
    "variance": lambda shapes, width: variance_params(shapes[0]),
    # eps keeps its default: the check is of the backward rule, not of eps.
    "normalization": lambda shapes, width: st.fixed_dictionaries(
        {"axis": single_axes(len(shapes[0])), "eps": st.just(1e-5)}
    ),
    # Indexing: integer and boolean arrays (indices, conditions) and keys drawn to fit the shapes.
    "take_indices": lambda shapes, width: take_params(shapes[0]),
    "index_key": lambda shapes, width: st.fixed_dictionaries({"key": index_keys(shapes[0])}),
    "condition": lambda shapes, width: st.fixed_dictionaries({"condition": conditions(shapes)}),
    "flip_axes": lambda shapes, width: st.fixed_dictionaries({"axis": flip_axes(len(shapes[0]))}),
    "pad_width": lambda shapes, width: st.fixed_dictionaries({"pad_width": pad_widths(len(shapes[0]))}),
    "conv1d": lambda shapes, width: conv_params(shapes),
    "conv2d": lambda shapes, width: conv_params(shapes),
    "pool2d": lambda shapes, width: pool_params(shapes[0]),
    "concat_axis": lambda shapes, width: st.fixed_dictionaries({"axis": concat_axes(shapes)}),
    "stack_axis": lambda shapes, width: st.fixed_dictionaries({"axis": stack_axes(len(shapes[0]))}),
    "einsum_subscripts": lambda shapes, width: st.fixed_dictionaries({"subscripts": einsum_subscripts(shapes)}),
    "class_labels": lambda shapes, width: st.fixed_dictionaries({"labels": class_labels(shapes[0])}),
}


@functools.lru_cache(maxsize=4096)
def _param_strategy(rule: str, shapes: _Shapes, width: int) -> st.SearchStrategy[dict[str, Any]]:
    # Built once per (rule, shapes): see gradcheck.strategies._values.values.
    return PARAM_RULES[rule](shapes, width)


def declared_params(draw: st.DrawFn, spec: ops.OpSpec, shapes: _Shapes, drawn: dict[str, Any],
                    supported: Mapping[str, Sequence[Any]]) -> dict[str, Any] | None:
    """Return ``drawn`` with each parameter in ``supported`` replaced by one of its values that fits ``shapes``.

    ``supported`` is an engine's declared partial support for ``spec``'s op
    (``gradcheck.support``): its parameters take only those values, the
    others keep what was drawn. None when no combination fits these shapes
    (the caller draws other shapes).
    """
    names = [param.name for param in spec.params if param.name in supported]
    inputs = [np.ones(shape) for shape in shapes]
    fitting = []
    for values in itertools.product(*(supported[name] for name in names)):
        candidate = {**drawn, **dict(zip(names, values))}
        try:
            with np.errstate(all="ignore"):
                spec.reference(*inputs, **candidate)
        except Exception:  # noqa: BLE001 - NumPy saying these parameters do not fit these shapes
            continue
        fitting.append(candidate)
    return draw(st.sampled_from(fitting)) if fitting else None


@st.composite
def _op_case(draw: st.DrawFn, spec: ops.OpSpec, dtype: str, shapes: st.SearchStrategy[_Shapes],
             fixed_params: dict[str, Any] | None, ones: bool, sets: int | None,
             supported: Mapping[str, Sequence[Any]] | None = None) -> Case | CaseBatch:
    operand_shapes_ = draw(shapes)
    width = 32 if dtype == "float32" else 64
    if fixed_params is not None:
        drawn = fixed_params
    elif spec.param_rule:
        drawn = draw(_param_strategy(spec.param_rule, operand_shapes_, width))
        if supported:
            restricted = declared_params(draw, spec, operand_shapes_, drawn, supported)
            if restricted is None:
                reject()  # no declared value fits these shapes: draw others
            drawn = restricted
    else:
        drawn = {}
    # In the op's own parameter order, which is how reports print them.
    params = {param.name: drawn[param.name] for param in spec.params}
    if sets is None:
        # One recipe for the operands and a style of its own for the cotangent
        # (simple operands often need a varied cotangent to show a bug): drawing
        # costs the same for any number and size of operands (see
        # gradcheck.strategies.values).
        style, seed = draw(RECIPES)
        pairs: list[tuple[int, int]] = [(style, draw(STYLE_INDICES))]
    else:
        # One seed for the whole batch, and the styles by position, simplest
        # first: every example tries each kind of values, a failure is
        # reported on the simplest set that shows it, and Hypothesis makes
        # one choice per example instead of three per set.
        seed = draw(SEEDS)
        pairs = [STYLE_PAIRS[index % len(STYLE_PAIRS)] for index in range(sets)]
    cases = _value_sets(spec, dtype, operand_shapes_, params, ones, seed, pairs)
    return cases[0] if sets is None else CaseBatch(cases)


def _value_sets(spec: ops.OpSpec, dtype: str, shapes: _Shapes, params: dict[str, Any], ones: bool,
                seed: int, pairs: Sequence[tuple[int, int]]) -> list[Case]:
    """Return one case per (operand style, cotangent style) pair, all drawn from one ``seed``."""
    width = 32 if dtype == "float32" else 64
    domains = spec.domains_for(params, len(shapes))
    rng = np.random.default_rng(seed)
    output_shape: tuple[int, ...] | None = None
    cases = []
    for style, cotangent_style in pairs:
        inputs = tuple(realize(shape, domain, width, style, rng) for shape, domain in zip(shapes, domains))
        if output_shape is None:
            output_shape = np.shape(spec.reference(*inputs, **params))
        if ones:
            cotangent = np.ones(output_shape)
        else:
            cotangent = realize(output_shape, COTANGENT_DOMAIN, width, cotangent_style, rng)
        cases.append(Case(spec.name, spec.names_for(len(shapes)), inputs, params, cotangent, dtype))
    return cases


def op_cases(
    op: str,
    *,
    dtype: str = "float64",
    max_dims: int = 3,
    max_side: int = 4,
    ones_cotangent: bool = False,
    shapes: Any = None,
    params: dict[str, Any] | None = None,
    sets: int | None = None,
    supported: Mapping[str, Sequence[Any]] | None = None,
) -> st.SearchStrategy[Case | CaseBatch]:
    """Return a strategy for cases of ``op``: operands in its domain, parameters, a cotangent.

    ``op`` is a name of the contract (docs/contract.md, section 1) or an alias. Every case satisfies the op's
    constraints by construction (no filtering): shapes are compatible, values
    lie in the domain, parameters fit the shapes. ``shapes`` (one shape per
    operand) and ``params`` fix what would otherwise be drawn: only the values
    and the cotangent vary. With ``sets=k`` each example is a ``CaseBatch`` of
    ``k`` cases: one draw of shapes and parameters with ``k`` value sets, which
    the oracles answer for in one call (how ``check_op`` searches).
    ``supported`` maps some of the op's parameters to the only values to draw
    for them (an engine's declared partial support, ``gradcheck.support``);
    the other parameters are drawn as usual.

    .. code-block:: pycon

        >>> op_cases("matmul").example()  # doctest: +SKIP
        Case(op='matmul', names=('a', 'b'), inputs=(array([[1.]]), array([[0.5]])), ...)
        >>> op_cases("sum", shapes=[(3, 4)], params={"axis": 1}).example()  # doctest: +SKIP
        Case(op='sum', names=('x',), inputs=(array([[...]]),), params={'axis': 1, 'keepdims': False}, ...)
        >>> op_cases("softmax", supported={"axis": [-1]}).example()  # doctest: +SKIP
        Case(op='softmax', names=('x',), inputs=(array([...]),), params={'axis': -1}, ...)
    """
    name = ops.canonical_op(op) if isinstance(op, str) else None
    if name is None:
        raise InvalidArgument(f"op={op!r} is not an op of gradcheck; use one of {', '.join(ops.OP_NAMES)}.")
    spec = ops.OPS[name]
    dtype = check_dtype(dtype)
    max_dims = check_int("max_dims", max_dims, 2)
    max_side = check_int("max_side", max_side, 1)
    if sets is not None:
        sets = check_int("sets", sets, 1)
    supported = _check_supported(spec, supported)
    if shapes is None:
        if params is not None:
            raise InvalidArgument(f"params={params!r} needs shapes= as well: parameters are drawn to fit the shapes.")
        shape_strategy = operand_shapes(spec.shapes, max_dims=max_dims, max_side=max_side)
        fixed_params = None
    else:
        fixed = _check_fixed(spec, shapes, params)
        shape_strategy, fixed_params = st.just(fixed[0]), fixed[1]
    return _op_case(spec, dtype, shape_strategy, fixed_params, bool(ones_cotangent), sets, supported)


def _check_supported(spec: ops.OpSpec, supported: Any) -> dict[str, tuple[Any, ...]] | None:
    """Validate ``supported`` for ``spec``: its parameters, each with a non-empty sequence of values."""
    if supported is None:
        return None
    names = [param.name for param in spec.params]
    if not isinstance(supported, Mapping):
        raise InvalidArgument(f"supported={supported!r} must map parameters of {spec.name} to lists of values.")
    checked: dict[str, tuple[Any, ...]] = {}
    for name, values in supported.items():
        if name not in names:
            listed = f" (its parameters: {', '.join(names)})" if names else ""
            raise InvalidArgument(f"supported={supported!r}: {spec.name} has no parameter {name!r}{listed}.")
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise InvalidArgument(f"supported={supported!r}: {name}={values!r} must be a non-empty list of values.")
        checked[name] = tuple(values)
    return checked or None


def _check_fixed(spec: ops.OpSpec, shapes: Any, params: dict[str, Any] | None) -> tuple[_Shapes, dict[str, Any] | None]:
    """Validate fixed ``shapes`` and ``params`` for ``spec`` by computing its reference on zeros."""
    if isinstance(shapes, (str, bytes)) or not hasattr(shapes, "__len__") or (
        not shapes if spec.variadic else len(shapes) != len(spec.operands)
    ):
        wanted = "one shape or more" if spec.variadic else "one shape per operand"
        raise InvalidArgument(
            f"shapes={shapes!r} must hold {wanted} of {spec.name} ({', '.join(spec.operands)})."
        )
    fixed_shapes = tuple(check_shape("shapes", shape) for shape in shapes)
    given = dict(params or {})
    unknown = set(given) - {param.name for param in spec.params}
    if unknown:
        raise InvalidArgument(f"params={params!r}: {spec.name} has no parameter {', '.join(sorted(unknown))}.")
    if spec.param_rule and params is None:
        return fixed_shapes, None  # drawn to fit the fixed shapes
    full: dict[str, Any] = {}
    for param in spec.params:
        if param.name in given:
            full[param.name] = given[param.name]
        elif param.default is ops.REQUIRED:
            raise InvalidArgument(f"params={params!r} lacks {param.name!r}, which {spec.name} requires.")
        else:
            full[param.name] = param.default
    try:
        spec.reference(*[np.zeros(shape) for shape in fixed_shapes], **full)
    except Exception as exc:  # noqa: BLE001 - NumPy says why the shapes or params do not fit
        raise InvalidArgument(
            f"shapes={shapes!r} with params={full!r} do not fit {spec.name}: {exc}"
        ) from None
    return fixed_shapes, full


def simplest_case(op: str, dtype: str = "float64", *, ones_cotangent: bool = False) -> Case:
    """Return the simplest case of ``op``, an op without parameters: every operand of shape (2,), constant values.

    What gradcheck first calls an engine's function with to see whether it
    takes a form of the op at all (``pow`` with a tensor exponent).

    .. code-block:: pycon

        >>> simplest_case("pow_tensor").describe()  # doctest: +SKIP
        'pow_tensor(x: (2,), y: (2,))'
    """
    spec = ops.OPS[op]
    if spec.params:
        raise InvalidArgument(f"op={op!r} has parameters, which a simplest case would have to draw.")
    shapes = ((2,),) * (1 if spec.variadic else len(spec.operands))
    return _value_sets(spec, check_dtype(dtype), shapes, {}, ones_cotangent, 0, STYLE_PAIRS[:1])[0]


def smaller_cases(case: Case, *, sets: int = len(STYLE_PAIRS), ones_cotangent: bool = False,
                  seeds: Sequence[int] = (0, 1), resize: bool = True) -> Iterator[CaseBatch]:
    """Yield batches of cases of ``case``'s op and parameters that are smaller than ``case``.

    Smaller shapes come first, smallest first: each side lowered toward 1
    (one axis, the axes it broadcasts with, or every axis of that size at
    once), a leading axis dropped; only shapes the op accepts with
    ``case``'s parameters. Then ``case``'s own shapes with other values. Each
    batch holds the value sets of ``op_cases(..., sets=sets)`` drawn from one
    of ``seeds``, simplest first, keeping those smaller than ``case`` (by
    ``case_size``): a failure that still shows on one is a smaller minimal
    case. ``resize=False`` keeps ``case``'s shapes (they were fixed).

    .. code-block:: pycon

        >>> case = op_cases("matmul", shapes=[(2, 2, 2), (2,)]).example()
        >>> next(smaller_cases(case))[0].shapes  # doctest: +SKIP
        ((1, 1, 1), (1,))
    """
    spec = ops.OPS[case.op]
    pairs = [STYLE_PAIRS[index % len(STYLE_PAIRS)] for index in range(check_int("sets", sets, 1))]
    current = case_size(case)
    candidates = sorted(_smaller_shapes(case.shapes), key=_shapes_size) if resize else []
    for shapes, seed in [*((shapes, seeds[0]) for shapes in candidates if _fits(spec, shapes, case.params)),
                         *((case.shapes, seed) for seed in seeds)]:
        batch = [smaller for smaller in _value_sets(spec, case.dtype, shapes, case.params, ones_cotangent, seed, pairs)
                 if case_size(smaller) < current]
        if batch:
            yield CaseBatch(batch)


def case_size(case: Case) -> tuple[tuple[int, int], tuple[int, int, float]]:
    """Return how big ``case`` is, to compare: its shapes (entries, then axes), then its values.

    Values count by how many entries are not whole numbers, how many
    distinct numbers there are, and their largest magnitude.
    """
    arrays = [*case.inputs, case.cotangent]
    flat = np.concatenate([np.ravel(array) for array in arrays]) if arrays else np.zeros(0)
    values = (int(np.count_nonzero(flat != np.round(flat))), int(np.unique(flat).size),
              float(np.max(np.abs(flat), initial=0.0)))
    return _shapes_size(case.shapes), values


def _shapes_size(shapes: _Shapes) -> tuple[int, int]:
    return sum(int(np.prod(shape)) for shape in shapes), sum(len(shape) for shape in shapes)


def _smaller_shapes(shapes: _Shapes) -> set[_Shapes]:
    """Return shapes one step smaller than ``shapes``: a side lowered, or a leading axis dropped."""
    found: set[_Shapes] = set()

    def lowered(where: set[tuple[int, int]], side: int) -> _Shapes:
        return tuple(tuple(side if (i, j) in where else old for j, old in enumerate(shape))
                     for i, shape in enumerate(shapes))

    axes = [(i, j) for i, shape in enumerate(shapes) for j in range(len(shape))]
    for i, j in axes:
        size = shapes[i][j]
        if size == 1:
            continue
        alone = {(i, j)}
        # The same axis of the other operands, counted from the right as broadcasting aligns them.
        aligned = alone | {(k, len(other) - len(shapes[i]) + j) for k, other in enumerate(shapes)
                           if 0 <= len(other) - len(shapes[i]) + j < len(other)
                           and other[len(other) - len(shapes[i]) + j] == size}
        everywhere = {(k, m) for k, m in axes if shapes[k][m] == size}
        for where in (alone, aligned, everywhere):
            found.update(lowered(where, side) for side in {1, size - 1})
    # Every side 1 at once: where a failure that does not depend on the sizes ends.
    found.add(tuple((1,) * len(shape) for shape in shapes))
    for i, shape in enumerate(shapes):
        if shape:
            found.add(tuple(other[1:] if k == i else other for k, other in enumerate(shapes)))
    rank = max((len(shape) for shape in shapes), default=0)
    if rank:
        found.add(tuple(shape[1:] if len(shape) == rank else shape for shape in shapes))
    found.discard(tuple(tuple(shape) for shape in shapes))
    return found


def _fits(spec: ops.OpSpec, shapes: _Shapes, params: dict[str, Any]) -> bool:
    """Return whether ``spec`` accepts operands of ``shapes`` with ``params`` (its reference runs on zeros)."""
    try:
        with np.errstate(all="ignore"):
            spec.reference(*[np.zeros(shape) for shape in shapes], **params)
    except Exception:  # noqa: BLE001 - NumPy refuses the shapes or parameters: not a case of the op
        return False
    return True
