"""The op registry: every op of the contract (docs/contract.md, section 1) as one row of one table.

A row says how to call the op (operands, static parameters), how to compute it
twice independently (a NumPy float64 forward for finite differences and a
TensorFlow forward for ``tf.GradientTape``), which shapes to draw (a rule named
in ``gradcheck.strategies``), where operand values may lie (``Domain``), and
what ``gradcheck.diagnosis`` needs to name a wrong backward rule (the right
rule in words, the wrong ones engines are known to have, the constant factors
worth a name). To add an op, add a row; nothing else branches on op names.

This module imports only NumPy: the command line reads it to validate
``--ops`` without paying for TensorFlow or Hypothesis.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from gradcheck import _ops_indexing
from gradcheck import _ops_conv
from gradcheck import _ops_lists
from gradcheck._opspec import (
    ABOVE_MINUS_ONE,
    DISTINCT,
    DIVISOR,
    FREE,
    LATTICE_A,
    LATTICE_B,
    NONZERO,
    POSITIVE,
    REQUIRED,
    SPREAD_OUT,
    TIE_GAP,
    Domain,
    OpSpec,
    Param,
    Slip,
    Factors,
    Shapes,
    Stacked,
    shifted_axis,
    stack_axis_param,
)

# The table's vocabulary (gradcheck._opspec) is re-exported: ``ops.Domain``, ``ops.FREE``...
__all__ = [
    "ABOVE_MINUS_ONE",
    "ALIASES",
    "DISTINCT",
    "DIVISOR",
    "FREE",
    "LATTICE_A",
    "LATTICE_B",
    "NONZERO",
    "POSITIVE",
    "SPREAD_OUT",
    "TIE_GAP",
    "OPS",
    "OP_NAMES",
    "REQUIRED",
    "Domain",
    "OpSpec",
    "Param",
    "Slip",
    "canonical_op",
    "forms",
]


# clip's bounds are kinks: values keep CLIP_MARGIN away from each, the range
# that passes the gradient first.
CLIP_MARGIN = 0.25


def _clip_domain(params: dict[str, Any]) -> tuple[Domain]:
    low, high = params["min"], params["max"]
    inside = (-3.0 if low is None else low + CLIP_MARGIN, 3.0 if high is None else high - CLIP_MARGIN)
    outside = []
    if low is not None:
        outside.append((-3.0, low - CLIP_MARGIN))
    if high is not None:
        outside.append((high + CLIP_MARGIN, 3.0))
    return (Domain((inside, *(interval for interval in outside if interval[0] <= interval[1]))),)


def _pow_domain(params: dict[str, Any]) -> tuple[Domain]:
    p = params["p"]
    if float(p).is_integer():
        return (FREE,) if p >= 0 else (NONZERO,)
    return (POSITIVE,)



# --- NumPy float64 forwards (the finite-difference oracle evaluates these) ---


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return shifted / np.sum(shifted, axis=axis, keepdims=True)


def _log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _logsumexp(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    peak = np.max(x, axis=axis, keepdims=True)
    result = peak + np.log(np.sum(np.exp(x - peak), axis=axis, keepdims=True))
    if keepdims:
        return result
    return np.reshape(result, np.sum(x, axis=axis).shape)


_erf = np.vectorize(math.erf, otypes=[np.float64])


def _gelu(x: np.ndarray) -> np.ndarray:
    # The exact GELU, x * Phi(x), through erf (NumPy has none; math.erf per entry).
    return 0.5 * x * (1.0 + _erf(np.asarray(x, dtype=np.float64) / math.sqrt(2.0)))


def _elu(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def _clip(x: np.ndarray, min: Any = None, max: Any = None) -> np.ndarray:  # noqa: A002 - the contract's names
    if min is not None:
        x = np.maximum(x, min)
    if max is not None:
        x = np.minimum(x, max)
    return x


def _axis_length(shapes: tuple[tuple[int, ...], ...], params: dict[str, Any]) -> int:
    return shapes[0][params.get("axis", -1)]


# --- Batching rules (``OpSpec.stacked``): a new leading axis for k cases ---


def _padded(shape: tuple[int, ...], rank: int) -> tuple[int, ...]:
    return (1,) * (rank - len(shape)) + tuple(shape)


def _stack_broadcast(shapes: Shapes, params: dict[str, Any], k: int) -> Stacked:
    # Broadcasting aligns trailing axes: a lower-rank operand gets size-1 axes
    # after the stacking axis, so the stacking axes line up.
    rank = max(len(shape) for shape in shapes)
    return tuple(_padded(shape, rank) for shape in shapes), params


def _stack_matmul(shapes: Shapes, params: dict[str, Any], k: int) -> Stacked:
    # 1-D operands are promoted as NumPy does (the product's extra axis has
    # size 1, so the output still reshapes), then batch axes are aligned.
    a, b = shapes
    a = (1,) + a if len(a) == 1 else a
    b = b + (1,) if len(b) == 1 else b
    rank = max(len(a), len(b))
    return (_padded(a, rank), _padded(b, rank)), params


def _stack_single_axis(shapes: Shapes, params: dict[str, Any], k: int) -> Stacked:
    return shapes, {**params, "axis": shifted_axis(params["axis"], len(shapes[0]))}


def _stack_permutation(shapes: Shapes, params: dict[str, Any], k: int) -> Stacked:
    rank = len(shapes[0])
    return shapes, {**params, "axes": (0, *(shifted_axis(a, rank) for a in params["axes"]))}


def _stack_reshape(shapes: Shapes, params: dict[str, Any], k: int) -> Stacked:
    return shapes, {**params, "shape": (k, *params["shape"])}


def _stack_broadcast_to(shapes: Shapes, params: dict[str, Any], k: int) -> Stacked:
    target = tuple(params["shape"])
    return (_padded(shapes[0], len(target)),), {**params, "shape": (k, *target)}


# --- Wrong rules and named factors (``OpSpec.slips``, ``OpSpec.factors``) ---

_IN_TERMS_OF_INPUT = "the derivative is written in terms of the input x where the output {y} was meant"
_ITSELF = "the function itself is used instead of its derivative"


def _spread_back(g: np.ndarray, x: np.ndarray, y: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """Return sum's backward for a reduction of ``x``: ``g`` copied to every entry it was reduced from."""
    kept = np.sum(x, axis=params["axis"], keepdims=True).shape
    return np.broadcast_to(np.reshape(g, kept), x.shape)


def _mean_factors(shapes: Shapes, output_shape: tuple[int, ...], params: dict[str, Any]) -> Factors:
    size = int(np.prod(shapes[0]))
    n = size // max(int(np.prod(output_shape)), 1)
    averaged = f"n = {n}, the number of elements averaged"
    return [
        (float(n), f"{averaged} (the division by n is missing)"),
        (1 / n, f"1/{n} = 1/n with {averaged} (the division by n is applied twice)"),
        (n / size, f"{{fraction}} = n/size (the backward divides by x.size = {size} "
                   f"where {averaged}, was meant)"),
    ]


def _pow_factors(shapes: Shapes, output_shape: tuple[int, ...], params: dict[str, Any]) -> Factors:
    p = params["p"]
    if p == 0:
        return []
    return [
        (p, f"p = {p} (the factor p is applied twice)"),
        (1 / p, f"{{fraction}} = 1/p with p = {p} (the factor p of p * x**(p - 1) is missing)"),
    ]


# --- Course ops: cumulative sums, variance and normalization ---


def _reduced_count(shape: tuple[int, ...], axis: Any) -> int:
    """Return how many entries a reduction of an array of ``shape`` over ``axis`` puts in each output."""
    axes = tuple(range(len(shape))) if axis is None else axis if isinstance(axis, tuple) else (axis,)
    return int(np.prod([shape[a] for a in axes]))


def _cumulative_sum(x: np.ndarray, axis: Any = None) -> np.ndarray:
    return np.cumsum(x, axis=axis)


def _tf_cumulative_sum(tf: Any, x: Any, axis: Any = None) -> Any:
    if axis is None:
        return tf.math.cumsum(tf.reshape(x, [-1]), axis=0)
    return tf.math.cumsum(x, axis=axis)


def _stack_cumulative(shapes: Shapes, params: dict[str, Any], k: int) -> Stacked:
    # axis=None scans the flattened operand: each case is one row of the stack.
    if params["axis"] is None:
        return ((int(np.prod(shapes[0])),),), {**params, "axis": 1}
    return _stack_single_axis(shapes, params, k)


def _reversed_scan_slip(g: np.ndarray, x: np.ndarray, y: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    axis = params["axis"]
    if axis is None:
        return np.reshape(np.cumsum(np.ravel(g)), x.shape)
    return np.cumsum(g, axis=axis)


def _variance(x: np.ndarray, axis: Any = None, keepdims: bool = False, correction: float = 0.0) -> np.ndarray:
    # Raised, not NaN: shrinking and declared support read an exception as "not a case of the op".
    if _reduced_count(x.shape, axis) - correction <= 0:
        raise ValueError(f"var over {_reduced_count(x.shape, axis)} entries with correction={correction}")
    return np.var(x, axis=axis, keepdims=keepdims, ddof=correction)


def _deviation(x: np.ndarray, axis: Any = None, keepdims: bool = False, correction: float = 0.0) -> np.ndarray:
    # One entry: std is 0, at sqrt's kink, with no derivative.
    if _reduced_count(x.shape, axis) < 2:
        raise ValueError("std over a single entry has no derivative")
    return _variance(x, axis, keepdims, correction) ** 0.5


def _tf_variance(tf: Any, x: Any, axis: Any = None, keepdims: bool = False, correction: float = 0.0) -> Any:
    count = _reduced_count(tuple(x.shape), axis)
    centered = x - tf.math.reduce_mean(x, axis=_tf_axis(axis), keepdims=True)
    squares = tf.math.reduce_sum(centered * centered, axis=_tf_axis(axis), keepdims=keepdims)
    return squares / tf.constant(count - correction, dtype=x.dtype)


def _tf_deviation(tf: Any, x: Any, axis: Any = None, keepdims: bool = False, correction: float = 0.0) -> Any:
    return tf.sqrt(_tf_variance(tf, x, axis, keepdims, correction))


def _centered_over_n(g: np.ndarray, x: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """Return ``g`` spread back times ``(x - mean(x)) / N``: the variance rule dividing by N whatever the correction."""
    axis = params["axis"]
    spread = np.broadcast_to(np.reshape(g, np.sum(x, axis=axis, keepdims=True).shape), x.shape)
    centered = x - np.mean(x, axis=axis, keepdims=True)
    return spread * centered / _reduced_count(x.shape, axis)


def _layer_norm(x: np.ndarray, axis: int = -1, eps: float = 1e-5) -> np.ndarray:
    centered = x - np.mean(x, axis=axis, keepdims=True)
    return centered / np.sqrt(np.mean(centered**2, axis=axis, keepdims=True) + eps)


def _tf_layer_norm(tf: Any, x: Any, axis: int = -1, eps: float = 1e-5) -> Any:
    # Not tf.nn.moments: its variance stops the gradient through the mean, which leaves the
    # first derivative right and the second one wrong (the reference of layer_norm (order 2)).
    centered = x - tf.math.reduce_mean(x, axis=axis, keepdims=True)
    variance = tf.math.reduce_mean(centered * centered, axis=axis, keepdims=True)
    return centered / tf.sqrt(variance + tf.constant(eps, dtype=x.dtype))


def _layer_norm_scale(x: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    axis = params["axis"]
    return 1 / np.sqrt(np.var(x, axis=axis, keepdims=True) + params["eps"])


def _layer_norm_conditioning(inputs: tuple[np.ndarray, ...], cotangent: np.ndarray, params: dict[str, Any]) -> float:
    """How far layer_norm's rounding exceeds its entries' sizes: (max|x| / std) * (max|g| / std) over the rows.

    Centering a row whose mean is far from 0 loses the digits its values
    share: ``x - mean`` is off by about eps * max|x| in every entry, which
    the gradient divides by std twice, whatever its own entries are (with an
    all-ones cotangent it is exactly 0). JAX's correct float32 layer_norm
    was off by 5.6e-6 on rows like [3.25, 3.75], over a bound of 5.0e-6.
    """
    (x,) = inputs
    axis = params["axis"]
    scale = _layer_norm_scale(x, params)
    g = np.broadcast_to(np.abs(cotangent), x.shape)  # a program step's cotangent is 0-d
    largest_x = np.max(np.abs(x), axis=axis, keepdims=True)
    largest_g = np.max(g, axis=axis, keepdims=True)
    return float(np.max(largest_x * scale * np.maximum(largest_g, 1.0) * scale, initial=1.0))


# --- TensorFlow forwards ---


def _tf_axis(axis: Any) -> Any:
    return list(axis) if isinstance(axis, tuple) else axis


def _tf_matmul(tf: Any, a: Any, b: Any) -> Any:
    # tf.linalg.matmul has no 1-D semantics: promote like NumPy, then drop the axis.
    vector_a, vector_b = a.shape.rank == 1, b.shape.rank == 1
    if vector_a:
        a = a[tf.newaxis, :]
    if vector_b:
        b = b[:, tf.newaxis]
    product = tf.linalg.matmul(a, b)
    if vector_a:
        product = tf.squeeze(product, axis=-2)
    if vector_b:
        product = tf.squeeze(product, axis=-1)
    return product


def _tf_clip(tf: Any, x: Any, low: Any, high: Any) -> Any:
    # tf.clip_by_value wants both bounds; clip takes either or both.
    if low is not None:
        x = tf.maximum(x, tf.constant(low, dtype=x.dtype))
    if high is not None:
        x = tf.minimum(x, tf.constant(high, dtype=x.dtype))
    return x


def _reduction(name: str, numpy_fn: Callable[..., np.ndarray], tf_name: str, rule: str,
               slips: tuple[Slip, ...] = (), factors: Callable[..., Factors] | None = None) -> "OpSpec":
    def tensorflow(tf: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return getattr(tf.math, tf_name)(x, axis=_tf_axis(axis), keepdims=keepdims)

    return OpSpec(
        name,
        ("x",),
        numpy_fn,
        tensorflow,
        shapes="reducible",
        params=(Param("axis", None), Param("keepdims", False)),
        param_rule="reduction",
        domains=(DISTINCT,) if name == "max" else (FREE,),
        stacked=stack_axis_param,
        vjp_rules=(rule,),
        slips=slips,
        factors=factors,
    )


def _unary(name: str, numpy_fn: Callable[..., np.ndarray], tf_fn: Callable[..., Any], rule: str,
           domain: Domain = FREE, slips: tuple[Slip, ...] = ()) -> OpSpec:
    return OpSpec(name, ("x",), numpy_fn, tf_fn, shapes="elementwise", domains=(domain,),
                  vjp_rules=(rule,), slips=slips)


def _binary(name: str, numpy_fn: Callable[..., np.ndarray], tf_fn: Callable[..., Any],
            rules: tuple[str, str], domains: tuple[Domain, Domain] = (FREE, FREE)) -> OpSpec:
    return OpSpec(name, ("a", "b"), numpy_fn, tf_fn, shapes="broadcast", domains=domains,
                  stacked=_stack_broadcast, vjp_rules=rules)


_TABLE: tuple[OpSpec, ...] = (
    _binary("add", np.add, lambda tf, a, b: tf.add(a, b), ("g", "g")),
    _binary("subtract", np.subtract, lambda tf, a, b: tf.subtract(a, b), ("g", "-g")),
    _binary("multiply", np.multiply, lambda tf, a, b: tf.multiply(a, b), ("g * b", "g * a")),
    _binary("divide", np.divide, lambda tf, a, b: tf.divide(a, b), ("g / b", "-g * a / b**2"),
            (FREE, DIVISOR)),
    _binary("maximum", np.maximum, lambda tf, a, b: tf.maximum(a, b),
            ("g where a > b, 0 elsewhere", "g where b > a, 0 elsewhere"), (LATTICE_A, LATTICE_B)),
    _unary("negative", np.negative, lambda tf, x: tf.negative(x), "-g"),
    _unary("exp", np.exp, lambda tf, x: tf.exp(x), "g * exp(x)", slips=(
        Slip("g * x", "g * y with y = exp(x)", "the input x is used where the output y was meant",
             lambda g, x, y, params: g * x),
    )),
    _unary("log", np.log, lambda tf, x: tf.math.log(x), "g / x", POSITIVE, slips=(
        Slip("g / x**2", "g / x", "one power of x too many", lambda g, x, y, params: g * (1 / x**2)),
        Slip("g * x", "g / x", "x multiplies where it should divide", lambda g, x, y, params: g * x),
    )),
    _unary("sqrt", np.sqrt, lambda tf, x: tf.sqrt(x), "g / (2 * sqrt(x))", POSITIVE, slips=(
        Slip("g / (2 * x)", "g / (2 * y) with y = sqrt(x)", _IN_TERMS_OF_INPUT.format(y="y"),
             lambda g, x, y, params: g * (1 / (2 * x))),
        Slip("g * sqrt(x) / 2", "g / (2 * sqrt(x))", "sqrt(x) multiplies where it should divide",
             lambda g, x, y, params: g * (y / 2)),
    )),
    _unary("tanh", np.tanh, lambda tf, x: tf.tanh(x), "g * (1 - tanh(x)**2)", slips=(
        Slip("g * (1 - x**2)", "g * (1 - y**2) with y = tanh(x)", _IN_TERMS_OF_INPUT.format(y="y"),
             lambda g, x, y, params: g * (1 - x**2)),
        Slip("g * (1 - tanh(x))", "g * (1 - tanh(x)**2)", "the square is missing",
             lambda g, x, y, params: g * (1 - y)),
    )),
    _unary("sigmoid", _sigmoid, lambda tf, x: tf.sigmoid(x), "g * s * (1 - s) with s = sigmoid(x)", slips=(
        Slip("g * s", "g * s * (1 - s) with s = sigmoid(x)", "the factor (1 - s) is missing",
             lambda g, x, y, params: g * y),
        Slip("g * x * (1 - x)", "g * s * (1 - s) with s = sigmoid(x)", _IN_TERMS_OF_INPUT.format(y="s"),
             lambda g, x, y, params: g * (x * (1 - x))),
    )),
    _unary("relu", lambda x: np.maximum(x, 0.0), lambda tf, x: tf.nn.relu(x), "g where x > 0, 0 elsewhere",
           NONZERO),
    _unary("abs", np.abs, lambda tf, x: tf.abs(x), "g * sign(x)", NONZERO, slips=(
        Slip("g (a derivative of 1)", "g * sign(x)", "the derivative of |x| is sign(x), -1 where x < 0",
             lambda g, x, y, params: g),
    )),
    _unary("sin", np.sin, lambda tf, x: tf.sin(x), "g * cos(x)", slips=(
        Slip("g * sin(x)", "g * cos(x)", _ITSELF, lambda g, x, y, params: g * y),
    )),
    _unary("cos", np.cos, lambda tf, x: tf.cos(x), "-g * sin(x)", slips=(
        Slip("g * sin(x)", "-g * sin(x)", "the minus sign of d cos(x)/dx = -sin(x) is missing",
             lambda g, x, y, params: g * np.sin(x)),
        Slip("g * cos(x)", "-g * sin(x)", _ITSELF, lambda g, x, y, params: g * y),
    )),
    OpSpec(
        "pow",
        ("x",),
        lambda x, p: np.power(x, p),
        # p is a tensor when an engine's pow is called with a tensor exponent (the pow_tensor row).
        lambda tf, x, p: tf.pow(x, p if tf.is_tensor(p) else tf.constant(p, dtype=x.dtype)),
        shapes="elementwise",
        params=(Param("p"),),
        param_rule="exponent",
        domains=_pow_domain,
        vjp_rules=("g * p * x**(p - 1)",),
        slips=(
            Slip("g * p * x**p", "g * p * x**(p - 1)", "the exponent was not lowered by one",
                 lambda g, x, y, params: g * (params["p"] * y)),
            Slip("g * x**p * log(x)", "g * p * x**(p - 1)",
                 "that is the derivative with respect to the exponent p, not the base x",
                 lambda g, x, y, params: g * (y * np.log(x))),
        ),
        factors=_pow_factors,
    ),
    OpSpec(
        "matmul",
        ("a", "b"),
        np.matmul,
        _tf_matmul,
        shapes="matmul",
        contraction=lambda shapes, params: shapes[0][-1],
        stacked=_stack_matmul,
        vjp_rules=("g @ swapaxes(b, -1, -2)", "swapaxes(a, -1, -2) @ g"),
    ),
    OpSpec(
        "matrix_transpose",
        ("x",),
        lambda x: np.swapaxes(x, -1, -2),
        lambda tf, x: tf.linalg.matrix_transpose(x),
        shapes="matrix",
        vjp_rules=("swapaxes(g, -1, -2)",),
    ),
    OpSpec(
        "permute_dims",
        ("x",),
        lambda x, axes: np.transpose(x, axes),
        lambda tf, x, axes: tf.transpose(x, perm=list(axes)),
        shapes="permutable",
        params=(Param("axes"),),
        param_rule="permutation",
        stacked=_stack_permutation,
        vjp_rules=("transpose(g, argsort(axes))",),
    ),
    OpSpec(
        "reshape",
        ("x",),
        lambda x, shape: np.reshape(x, shape),
        lambda tf, x, shape: tf.reshape(x, list(shape)),
        shapes="elementwise",
        params=(Param("shape"),),
        param_rule="reshape_target",
        stacked=_stack_reshape,
        vjp_rules=("reshape(g, x.shape)",),
    ),
    OpSpec(
        "broadcast_to",
        ("x",),
        lambda x, shape: np.broadcast_to(x, shape),
        lambda tf, x, shape: tf.broadcast_to(x, list(shape)),
        shapes="elementwise",
        params=(Param("shape"),),
        param_rule="broadcast_target",
        stacked=_stack_broadcast_to,
        vjp_rules=("g summed over the broadcast axes",),
    ),
    _reduction("sum", np.sum, "reduce_sum", "g spread back over the reduced axes"),
    _reduction(
        "mean", np.mean, "reduce_mean",
        "g spread back over the reduced axes and divided by n, the number of elements averaged",
        factors=_mean_factors,
    ),
    _reduction("max", np.max, "reduce_max", "g at the position of each maximum, 0 elsewhere", slips=(
        Slip("sum's backward (g copied to every entry)", "g at the position of each maximum only",
             "the gradient is routed to every entry instead of only to the maximum (x == max)",
             _spread_back),
    )),
    OpSpec(
        "softmax",
        ("x",),
        _softmax,
        lambda tf, x, axis=-1: tf.nn.softmax(x, axis=axis),
        shapes="nonscalar",
        params=(Param("axis", -1),),
        param_rule="single_axis",
        # Every entry (value and gradient) sums over the whole axis: exp's
        # normalizer forward, <g, softmax> backward.
        contraction=_axis_length,
        stacked=_stack_single_axis,
        vjp_rules=("s * (g - sum(g * s, axis, keepdims=True)) with s = softmax(x)",),
        slips=(
            Slip("g * s * (1 - s)", "s * (g - sum(g * s, axis, keepdims=True)) with s = softmax(x)",
                 "only the Jacobian's diagonal is kept (sigmoid's rule); the term -s * sum(g * s, axis) "
                 "coupling every output to every input is missing",
                 lambda g, x, y, params: g * (y * (1 - y))),
        ),
    ),
    OpSpec(
        "log_softmax",
        ("x",),
        _log_softmax,
        lambda tf, x, axis=-1: tf.nn.log_softmax(x, axis=axis),
        shapes="nonscalar",
        params=(Param("axis", -1),),
        param_rule="single_axis",
        # Every entry (value and gradient) sums over the whole axis: exp's
        # normalizer forward, <g, softmax> backward.
        contraction=_axis_length,
        stacked=_stack_single_axis,
        vjp_rules=("g - softmax(x) * sum(g, axis, keepdims=True)",),
        slips=(
            Slip("g - softmax(x) * g", "g - softmax(x) * sum(g, axis, keepdims=True)",
                 "the cotangent is not summed along the axis", lambda g, x, y, params: g - np.exp(y) * g),
        ),
    ),
    OpSpec(
        "logsumexp",
        ("x",),
        _logsumexp,
        lambda tf, x, axis=None, keepdims=False: tf.math.reduce_logsumexp(
            x, axis=_tf_axis(axis), keepdims=keepdims
        ),
        shapes="reducible",
        params=(Param("axis", None), Param("keepdims", False)),
        param_rule="reduction",
        stacked=stack_axis_param,
        vjp_rules=("g spread back over the reduced axes, times softmax(x) over them",),
        slips=(
            Slip("sum's backward (g copied to every entry)", "g * softmax(x) over the reduced axes",
                 "the weights softmax(x) = exp(x - logsumexp(x)) are missing", _spread_back),
        ),
    ),
    # Course ops: what autodiff courses assign beyond the elementary ops, each one row like the rest.
    _unary("log1p", np.log1p, lambda tf, x: tf.math.log1p(x), "g / (1 + x)", ABOVE_MINUS_ONE, slips=(
        Slip("g / x", "g / (1 + x)", "that is the derivative of log(x), not of log(1 + x)",
             lambda g, x, y, params: g * (1 / x)),
    )),
    OpSpec(
        "leaky_relu",
        ("x",),
        lambda x, negative_slope=0.01: np.where(x > 0, x, negative_slope * x),
        # Not tf.nn.leaky_relu: its alpha is a float32 attribute, off by 1e-9 in float64.
        lambda tf, x, negative_slope=0.01: tf.where(x > 0, x, negative_slope * x),
        shapes="elementwise",
        params=(Param("negative_slope", 0.01),),
        param_rule="negative_slope",
        domains=(NONZERO,),
        vjp_rules=("g * (1 if x > 0 else negative_slope)",),
        slips=(
            Slip("g * (1 if x > 0 else 0) (relu's rule)", "g * (1 if x > 0 else negative_slope)",
                 "the negative slope is ignored on the negative side",
                 lambda g, x, y, params: g * (x > 0)),
            Slip("g (a derivative of 1)", "g * (1 if x > 0 else negative_slope)",
                 "the negative side is passed through unscaled instead of multiplied by negative_slope",
                 lambda g, x, y, params: g),
        ),
    ),
    OpSpec(
        "elu",
        ("x",),
        _elu,
        lambda tf, x, alpha=1.0: tf.where(x > 0, x, alpha * tf.math.expm1(tf.minimum(x, 0.0))),
        shapes="elementwise",
        params=(Param("alpha", 1.0),),
        param_rule="elu_alpha",
        domains=(NONZERO,),
        vjp_rules=("g * (1 if x > 0 else alpha * exp(x))",),
        slips=(
            Slip("g * (1 if x > 0 else exp(x))", "g * (1 if x > 0 else alpha * exp(x))",
                 "the factor alpha is missing on the negative side",
                 lambda g, x, y, params: g * np.where(x > 0, 1.0, np.exp(np.minimum(x, 0.0)))),
            Slip("g * (1 if x > 0 else y)", "g * (1 if x > 0 else y + alpha) with y = elu(x)",
                 "the derivative alpha * exp(x) = y + alpha is written without its + alpha",
                 lambda g, x, y, params: g * np.where(x > 0, 1.0, y)),
        ),
    ),
    # Not tf.nn.gelu(x, approximate=False): in float64 (TensorFlow 2.21) it is off by 1e-9.
    _unary("gelu", _gelu, lambda tf, x: 0.5 * x * tf.math.erfc(-x / math.sqrt(2.0)),
           "g * (Phi(x) + x * phi(x)) with Phi, phi the standard normal CDF and density", slips=(
        Slip("g * Phi(x)", "g * (Phi(x) + x * phi(x))",
             "the term x * phi(x) of the product rule is missing (x * Phi(x) has two factors)",
             lambda g, x, y, params: g * (0.5 * (1.0 + _erf(x / math.sqrt(2.0))))),
    )),
    _unary("softplus", lambda x: np.logaddexp(0.0, x), lambda tf, x: tf.math.softplus(x),
           "g * sigmoid(x)", slips=(
        Slip("g * exp(x)", "g * sigmoid(x) = g * exp(x) / (1 + exp(x))",
             "the division by 1 + exp(x) is missing", lambda g, x, y, params: g * np.exp(x)),
        Slip("g * softplus(x)", "g * sigmoid(x)", _ITSELF, lambda g, x, y, params: g * y),
    )),
    _unary("expm1", np.expm1, lambda tf, x: tf.math.expm1(x), "g * exp(x)", slips=(
        Slip("g * (exp(x) - 1)", "g * exp(x) = g * (y + 1) with y = expm1(x)", _ITSELF,
             lambda g, x, y, params: g * y),
    )),
    OpSpec(
        "clip",
        ("x",),
        _clip,
        lambda tf, x, min=None, max=None: _tf_clip(tf, x, min, max),
        shapes="elementwise",
        params=(Param("min", None), Param("max", None)),
        param_rule="clip_bounds",
        domains=_clip_domain,
        vjp_rules=("g * (min < x < max)",),
        slips=(
            Slip("g (a derivative of 1 everywhere)", "g * (min < x < max)",
                 "clip lets the gradient through outside [min, max], where the output is the constant "
                 "bound and its derivative is 0",
                 lambda g, x, y, params: g),
        ),
    ),
    OpSpec(
        "cumulative_sum",
        ("x",),
        _cumulative_sum,
        _tf_cumulative_sum,
        shapes="nonscalar",
        params=(Param("axis", None),),
        param_rule="scan_axis",
        # The first output entry of a scan is one entry, the last the sum of the whole axis.
        contraction=lambda shapes, params: (int(np.prod(shapes[0])) if params.get("axis") is None
                                            else shapes[0][params["axis"]]),
        stacked=_stack_cumulative,
        vjp_rules=("the reversed cumulative sum of g: flip(cumsum(flip(g, axis), axis), axis) "
                   "(axis=None: of g, reshaped to x.shape)",),
        slips=(
            Slip("cumsum(g, axis)", "flip(cumsum(flip(g, axis), axis), axis)",
                 "the scan of the cotangent is not reversed: entry i of x feeds outputs i and after, "
                 "so its gradient sums g from i to the end, not from the start to i",
                 _reversed_scan_slip),
        ),
    ),
    OpSpec(
        "var",
        ("x",),
        _variance,
        _tf_variance,
        shapes="spread",
        params=(Param("axis", None), Param("keepdims", False), Param("correction", 0.0)),
        param_rule="variance",
        contraction=lambda shapes, params: _reduced_count(shapes[0], params.get("axis")),
        stacked=stack_axis_param,
        vjp_rules=("2 * g * (x - mean(x)) / (N - correction), g spread back over the reduced axes, "
                   "N the number of entries reduced",),
        slips=(
            Slip("2 * g * (x - mean(x)) / N", "2 * g * (x - mean(x)) / (N - correction)",
                 "the correction is ignored: the backward divides by N where the forward divided "
                 "by N - correction",
                 lambda g, x, y, params: 2 * _centered_over_n(g, x, params)),
        ),
    ),
    OpSpec(
        "std",
        ("x",),
        _deviation,
        _tf_deviation,
        shapes="spread",
        params=(Param("axis", None), Param("keepdims", False), Param("correction", 0.0)),
        param_rule="variance",
        # Distinct values: no reduced row is constant, where std has no derivative.
        domains=(DISTINCT,),
        contraction=lambda shapes, params: _reduced_count(shapes[0], params.get("axis")),
        stacked=stack_axis_param,
        vjp_rules=("g * (x - mean(x)) / ((N - correction) * std(x)), g spread back over the reduced "
                   "axes, N the number of entries reduced",),
        slips=(
            Slip("g * (x - mean(x)) / (N * std(x))", "g * (x - mean(x)) / ((N - correction) * std(x))",
                 "the correction is ignored: the backward divides by N where the forward divided "
                 "by N - correction",
                 lambda g, x, y, params: _centered_over_n(g, x, params)
                 / np.reshape(y, np.sum(x, axis=params["axis"], keepdims=True).shape)),
        ),
    ),
    OpSpec(
        "layer_norm",
        ("x",),
        _layer_norm,
        _tf_layer_norm,
        shapes="nonscalar",
        params=(Param("axis", -1), Param("eps", 1e-5)),
        param_rule="normalization",
        # Values 0.5 apart: rows far from constant, where the gradient grows like
        # 1/sqrt(eps) and float32 rounding with it.
        domains=(SPREAD_OUT,),
        contraction=_axis_length,
        conditioning=_layer_norm_conditioning,
        stacked=_stack_single_axis,
        vjp_rules=("(g - mean(g, axis) - y * mean(g * y, axis)) / sqrt(var(x, axis) + eps) "
                   "with y = layer_norm(x), the means with keepdims=True",),
        slips=(
            Slip("(g - mean(g, axis)) / sqrt(var(x, axis) + eps)",
                 "(g - mean(g, axis) - y * mean(g * y, axis)) / sqrt(var(x, axis) + eps)",
                 "the term through the variance, -y * mean(g * y, axis), is missing: the variance "
                 "depends on x too",
                 lambda g, x, y, params: (g - np.mean(g, axis=params["axis"], keepdims=True))
                 * _layer_norm_scale(x, params)),
            Slip("g / sqrt(var(x, axis) + eps)",
                 "(g - mean(g, axis) - y * mean(g * y, axis)) / sqrt(var(x, axis) + eps)",
                 "the terms through the mean and the variance are missing: both depend on x too",
                 lambda g, x, y, params: g * _layer_norm_scale(x, params)),
        ),
    ),
    *_ops_indexing.ROWS,
    *_ops_conv.ROWS,
    *_ops_lists.ROWS,
)

#: Every op of docs/contract.md, section 1, by canonical name, in the contract's order.
OPS: dict[str, OpSpec] = {spec.name: spec for spec in _TABLE}
OP_NAMES: tuple[str, ...] = tuple(OPS)

#: Other spellings an engine may use for an op (docs/contract.md, section 1).
ALIASES: dict[str, str] = {
    "mul": "multiply",
    "sub": "subtract",
    "div": "divide",
    "neg": "negative",
    "transpose": "permute_dims",
    "power": "pow",
    "cumsum": "cumulative_sum",
}


def canonical_op(name: str) -> str | None:
    """Return the canonical op name for ``name`` (an op or an alias), else None."""
    if name in OPS:
        return name
    return ALIASES.get(name)


def forms(name: str) -> tuple[str, ...]:
    """Return the rows that check the engine function ``name`` (an op or an alias): ``pow`` gives pow and pow_tensor.

    >>> forms("power")
    ('pow', 'pow_tensor')
    """
    canonical = canonical_op(name)
    if canonical is None:
        return ()
    function = OPS[canonical].engine_function
    return tuple(op for op, spec in OPS.items() if spec.engine_function == function)

