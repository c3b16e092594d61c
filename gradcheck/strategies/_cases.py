"""Whole cases for one op: shapes, then parameters, then values, then cotangent."""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from gradcheck import ops
from gradcheck.case import Case
from gradcheck.strategies._params import (
    broadcast_targets,
    exponents,
    permutations,
    reduction_axes,
    reshape_targets,
    single_axes,
)
from gradcheck.strategies._shapes import operand_shapes
from gradcheck.strategies._validation import check_dtype, check_int
from gradcheck.strategies._values import cotangents, values

__all__ = ["PARAM_RULES", "op_cases"]

_Shapes = tuple[tuple[int, ...], ...]

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
}


@functools.lru_cache(maxsize=4096)
def _param_strategy(rule: str, shapes: _Shapes, width: int) -> st.SearchStrategy[dict[str, Any]]:
    # Built once per (rule, shapes): see gradcheck.strategies._values.values.
    return PARAM_RULES[rule](shapes, width)


@st.composite
def _op_case(draw: st.DrawFn, spec: ops.OpSpec, dtype: str, max_dims: int, max_side: int,
             ones: bool) -> Case:
    shapes = draw(operand_shapes(spec.shapes, max_dims=max_dims, max_side=max_side))
    width = 32 if dtype == "float32" else 64
    drawn = draw(_param_strategy(spec.param_rule, shapes, width)) if spec.param_rule else {}
    # In the op's own parameter order, which is how reports print them.
    params = {param.name: drawn[param.name] for param in spec.params}
    inputs = tuple(
        draw(values(shape, domain=domain, dtype=dtype))
        for shape, domain in zip(shapes, spec.domains_for(params))
    )
    output_shape = np.shape(spec.reference(*inputs, **params))
    cotangent = draw(cotangents(output_shape, dtype=dtype, ones=ones))
    return Case(spec.name, spec.operands, inputs, params, cotangent, dtype)


def op_cases(
    op: str,
    *,
    dtype: str = "float64",
    max_dims: int = 3,
    max_side: int = 4,
    ones_cotangent: bool = False,
) -> st.SearchStrategy[Case]:
    """Return a strategy for cases of ``op``: operands in its domain, parameters, a cotangent.

    ``op`` is a name of CONTRACT 1 or an alias. Every case satisfies the op's
    constraints by construction (no filtering): shapes are compatible, values
    lie in the domain, parameters fit the shapes.

    .. code-block:: pycon

        >>> op_cases("matmul").example()  # doctest: +SKIP
        Case(op='matmul', names=('a', 'b'), inputs=(array([[1.]]), array([[0.5]])), ...)
    """
    name = ops.canonical_op(op) if isinstance(op, str) else None
    if name is None:
        raise InvalidArgument(f"op={op!r} is not an op of gradcheck; use one of {', '.join(ops.OP_NAMES)}.")
    dtype = check_dtype(dtype)
    max_dims = check_int("max_dims", max_dims, 2)
    max_side = check_int("max_side", max_side, 1)
    return _op_case(ops.OPS[name], dtype, max_dims, max_side, bool(ones_cotangent))
