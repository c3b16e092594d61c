"""Test helpers: the same computation two ways, in an engine and under ``tf.GradientTape``.

A *program* is ``program(ops, *operands)`` where ``ops`` is a namespace of op
functions named as in docs/contract.md, section 1: an engine, or `TF` below. Running one
program on both sides keeps the tests free of a second, hand-written copy of
each expression. This oracle is deliberately independent of gradcheck's own
op table and checker, so the tests that use it vouch for the examples and the
planted bugs on their own.
"""

from __future__ import annotations

import types
from typing import Any, Callable, Sequence

import numpy as np
import tensorflow as tf

__all__ = [
    "TF",
    "Program",
    "cotangent_like",
    "discrepancies",
    "engine_vjp",
    "op_program",
    "sample",
    "tf_vjp",
]

#: float64 engines and TensorFlow differ by rounding only.
TOLERANCE = {"rtol": 1e-9, "atol": 1e-12}

Program = Callable[..., Any]


def _tf_axis(axis: Any) -> Any:
    return list(axis) if isinstance(axis, tuple) else axis


def _tf_reduction(reduce: Callable[..., tf.Tensor]) -> Callable[..., tf.Tensor]:
    return lambda x, axis=None, keepdims=False: reduce(x, axis=_tf_axis(axis), keepdims=keepdims)


def _tf_matmul(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    # tf.linalg.matmul has no 1-D semantics: promote like NumPy, then drop the axes.
    vector_a, vector_b = a.shape.rank == 1, b.shape.rank == 1
    product = tf.linalg.matmul(a[tf.newaxis, :] if vector_a else a, b[:, tf.newaxis] if vector_b else b)
    promoted = [-2] * vector_a + [-1] * vector_b
    return tf.squeeze(product, axis=promoted) if promoted else product


def _tf_cumulative_sum(x: tf.Tensor, axis: Any = None) -> tf.Tensor:
    return tf.math.cumsum(tf.reshape(x, [-1]) if axis is None else x, axis=0 if axis is None else axis)


def _tf_moment(reduce: Callable[..., tf.Tensor], power: float) -> Callable[..., tf.Tensor]:
    # TensorFlow divides by N: rescale by (N / (N - correction)) ** power (1 for var, 1/2 for std).
    def moment(x: tf.Tensor, axis: Any = None, keepdims: bool = False, correction: float = 0.0) -> tf.Tensor:
        count = tf.cast(tf.size(x) // tf.size(reduce(x, axis=_tf_axis(axis))), x.dtype)
        return reduce(x, axis=_tf_axis(axis), keepdims=keepdims) * (count / (count - correction)) ** power

    return moment


def _tf_layer_norm(x: tf.Tensor, axis: int = -1, eps: float = 1e-5) -> tf.Tensor:
    mean, variance = tf.nn.moments(x, axes=[axis], keepdims=True)
    return tf.nn.batch_normalization(x, mean, variance, offset=None, scale=None, variance_epsilon=eps)


def _tf_moved(x: tf.Tensor, move: Callable[[np.ndarray], np.ndarray]) -> tf.Tensor:
    # Which entry of x lands where is read off NumPy moving a grid of positions;
    # the values and their gradient are TensorFlow's gather.
    positions = move(np.arange(int(np.prod(x.shape)), dtype=np.int64).reshape(tuple(x.shape)))
    return tf.gather(tf.reshape(x, [-1]), positions)


def _tf_pad(x: tf.Tensor, pad_width: Any) -> tf.Tensor:
    # NumPy's forms (an int, one pair, a pair per axis) all broadcast to a pair per axis.
    return tf.pad(x, np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (len(x.shape), 2)))

def _tf_pairs(value: Any, count: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * count


def _tf_window_taps(padded: tf.Tensor, kernel: Sequence[int], stride: Sequence[int],
                    dilation: Sequence[int]) -> list[tuple[tuple[int, ...], tf.Tensor]]:
    """Return, per kernel tap, the entries of ``padded`` (N, C, *sizes) it meets: one per output entry."""
    sizes = padded.shape[2:]
    out = [(n - d * (k - 1) - 1) // s + 1 for n, k, s, d in zip(sizes, kernel, stride, dilation)]
    taps = []
    for tap in np.ndindex(*kernel):
        where = tuple(slice(t * d, t * d + s * (n - 1) + 1, s) for t, n, s, d in zip(tap, out, stride, dilation))
        taps.append((tap, padded[(slice(None), slice(None)) + tuple(where)]))
    return taps


def _tf_conv(spatial: int) -> Callable[..., tf.Tensor]:
    # Tap by tap with strided slices (not tf.nn.conv*, which gradcheck's own row uses).
    letters = "hw"[:spatial]

    def conv(x: tf.Tensor, w: tf.Tensor, stride: Any = 1, padding: Any = 0, dilation: Any = 1) -> tf.Tensor:
        s, p, d = (_tf_pairs(value, spatial) for value in (stride, padding, dilation))
        padded = tf.pad(x, [[0, 0], [0, 0], *([q, q] for q in p)])
        return tf.add_n([
            tf.einsum(f"nc{letters},oc->no{letters}", window, w[(slice(None), slice(None)) + tuple(tap)])
            for tap, window in _tf_window_taps(padded, w.shape[2:], s, d)
        ])

    return conv


def _tf_pool(reduce: Callable[..., tf.Tensor]) -> Callable[..., tf.Tensor]:
    def pool(x: tf.Tensor, kernel_size: Any, stride: Any = None) -> tf.Tensor:
        kernel = _tf_pairs(kernel_size, 2)
        steps = kernel if stride is None else _tf_pairs(stride, 2)
        windows = [window for _, window in _tf_window_taps(x, kernel, steps, (1, 1))]
        return reduce(tf.stack(windows), axis=0)

    return pool


#: TensorFlow as an ops namespace with docs/contract.md's section 1 names and signatures.
TF = types.SimpleNamespace(
    add=tf.add,
    subtract=tf.subtract,
    multiply=tf.multiply,
    divide=tf.divide,
    maximum=tf.maximum,
    negative=tf.negative,
    exp=tf.exp,
    log=tf.math.log,
    sqrt=tf.sqrt,
    tanh=tf.tanh,
    sigmoid=tf.sigmoid,
    relu=tf.nn.relu,
    abs=tf.abs,
    sin=tf.sin,
    cos=tf.cos,
    pow=lambda x, p: tf.pow(x, p if tf.is_tensor(p) else tf.constant(p, dtype=x.dtype)),
    matmul=_tf_matmul,
    matrix_transpose=tf.linalg.matrix_transpose,
    permute_dims=lambda x, axes: tf.transpose(x, perm=list(axes)),
    reshape=lambda x, shape: tf.reshape(x, list(shape)),
    broadcast_to=lambda x, shape: tf.broadcast_to(x, list(shape)),
    sum=_tf_reduction(tf.reduce_sum),
    mean=_tf_reduction(tf.reduce_mean),
    max=_tf_reduction(tf.reduce_max),
    softmax=lambda x, axis=-1: tf.nn.softmax(x, axis=axis),
    log_softmax=lambda x, axis=-1: tf.nn.log_softmax(x, axis=axis),
    logsumexp=_tf_reduction(tf.reduce_logsumexp),
    log1p=tf.math.log1p,
    cumulative_sum=_tf_cumulative_sum,
    var=_tf_moment(tf.math.reduce_variance, 1.0),
    std=_tf_moment(tf.math.reduce_std, 0.5),
    layer_norm=_tf_layer_norm,
    # tf.nn.leaky_relu and tf.nn.gelu are off by 1e-9 in float64 (a float32 alpha; TF 2.21's gelu).
    leaky_relu=lambda x, negative_slope=0.01: tf.maximum(x, negative_slope * x),
    # tf.nn.elu has no alpha: alpha * elu(x) on the negative side is the same function.
    elu=lambda x, alpha=1.0: tf.where(x > 0, x, alpha * tf.nn.elu(x)),
    gelu=lambda x: x * 0.5 * (1.0 + tf.math.erf(x / np.sqrt(2.0))),
    softplus=tf.nn.softplus,
    expm1=tf.math.expm1,
    clip=lambda x, min=None, max=None: tf.clip_by_value(
        x, -np.inf if min is None else min, np.inf if max is None else max
    ),
    # Not tf.experimental.numpy.take: its default mode clips -1 to 0 where NumPy counts from the end.
    take=lambda x, indices, axis=None: _tf_moved(x, lambda grid: np.take(grid, indices, axis=axis)),
    getitem=lambda x, key: _tf_moved(x, lambda grid: grid[key]),
    where=lambda condition, a, b: tf.where(condition, a, b),
    flip=lambda x, axis=None: _tf_moved(x, lambda grid: np.flip(grid, axis)),
    pad=_tf_pad,
    conv1d=_tf_conv(1),
    conv2d=_tf_conv(2),
    max_pool2d=_tf_pool(tf.reduce_max),
    avg_pool2d=_tf_pool(tf.reduce_mean),
    concat=lambda xs, axis=0: tf.concat(xs, axis=axis),
    stack=lambda xs, axis=0: tf.stack(xs, axis=axis),
    einsum=tf.einsum,
    # Written from log_softmax and a gather, apart from gradcheck's sparse_softmax_cross_entropy_with_logits.
    cross_entropy=lambda logits, labels: -tf.reduce_mean(
        tf.gather(tf.nn.log_softmax(logits), tf.constant(labels), axis=1, batch_dims=1)
    ),
)

#: Parameters the contract passes before the operands (docs/contract.md, section 1b).
_BEFORE = {"where": ("condition",), "einsum": ("subscripts",)}


#: Ops of the contract (docs/contract.md, section 1b) not called as ``op(*operands, **params)``:
#: the ones taking their operands as one list, and the checks of another form of an op's function.
LISTED = frozenset({"concat", "stack"})
FUNCTIONS = {"pow_tensor": "pow"}


def op_program(op: str, params: dict[str, Any] | None = None) -> Program:
    """Return the program applying one op, with static ``params`` by keyword (einsum's subscripts first)."""
    params = dict(params or {})
    # Parameters passed ahead of the operands (where's condition, einsum's subscripts).
    leading = [params.pop(name) for name in _BEFORE.get(op, ())]
    function = FUNCTIONS.get(op, op)
    if op in LISTED:
        return lambda ops, *operands: getattr(ops, function)(list(operands), **params)
    return lambda ops, *operands: getattr(ops, function)(*leading, *operands, **params)


def cotangent_like(shape: Sequence[int]) -> np.ndarray:
    """Return a fixed cotangent of ``shape``: varied, signed, never all ones.

    Each entry differs, so a rule that ignores the cotangent, or sums it where
    it should not, shows; none is zero, so no entry's error is multiplied away.
    """
    size = int(np.prod(shape))
    steps = np.arange(1, size + 1, dtype=np.float64)
    return (0.5 * steps * (-1.0) ** steps).reshape(tuple(shape))


def tf_vjp(program: Program, inputs: Sequence[np.ndarray],
           cotangent: np.ndarray | None = None) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Return ``(value, gradients, cotangent)`` of ``program`` under ``tf.GradientTape``.

    The cotangent defaults to `cotangent_like` the output; an input the output
    does not depend on gets zeros, as the contract (docs/contract.md, section 1) asks of engines.
    """
    operands = [tf.constant(x) for x in inputs]
    with tf.GradientTape() as tape:
        for operand in operands:
            tape.watch(operand)
        y = program(TF, *operands)
    if cotangent is None:
        cotangent = cotangent_like(y.shape)
    grads = tape.gradient(y, operands, output_gradients=tf.constant(cotangent, dtype=y.dtype))
    grads = [np.zeros_like(x) if g is None else g.numpy() for x, g in zip(inputs, grads)]
    return y.numpy(), grads, cotangent


def engine_vjp(engine: Any, program: Program, inputs: Sequence[np.ndarray],
               cotangent: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Return ``(value, gradients)`` of ``program`` run by a docs/contract.md, section 1 ``engine``."""
    operands = [engine.variable(x) for x in inputs]
    y = program(engine, *operands)
    grads = engine.grad(y, operands, cotangent)
    return np.asarray(engine.value(y)), [np.asarray(g) for g in grads]


def sample(shape: Sequence[int], low: float = -2.0, high: float = 2.0, seed: int = 0) -> np.ndarray:
    """Return fixed float64 values in ``[low, high)``.

    Uniform draws almost surely have no ties (max, maximum) and no exact zeros
    (the kinks of relu and abs); a fixed seed keeps every run identical.
    """
    return np.random.default_rng(seed).uniform(low, high, size=tuple(shape))


def discrepancies(engine: Any, program: Program, inputs: Sequence[np.ndarray]) -> dict[str, str]:
    """Return how ``engine`` disagrees with TensorFlow on ``program``: failure category (docs/contract.md, section 3) -> detail.

    Empty when they agree. The engine gets copies of ``inputs``, so a write
    into them (``mutation``) is seen without spoiling the comparison.
    """
    expected_value, expected_grads, cotangent = tf_vjp(program, inputs)
    handed = [np.array(x) for x in inputs]
    try:
        value, grads = engine_vjp(engine, program, handed, cotangent)
    except Exception as error:  # noqa: BLE001 - any exception is the finding
        return {"exception": f"{type(error).__name__}: {error}"}
    found: dict[str, str] = {}
    if any(not np.array_equal(after, before) for after, before in zip(handed, inputs)):
        found["mutation"] = "an input array changed"
    if value.shape != expected_value.shape or not np.allclose(value, expected_value, **TOLERANCE):
        found["forward"] = f"value {value.tolist()} != {expected_value.tolist()}"
    for index, (actual, expected) in enumerate(zip(grads, expected_grads)):
        if actual.shape != expected.shape:
            found["shape"] = f"gradient {index} has shape {actual.shape}, expected {expected.shape}"
        elif not np.all(np.isfinite(actual)):
            found["nonfinite"] = f"gradient {index} is {actual.tolist()}"
        elif not np.allclose(actual, expected, **TOLERANCE):
            found["mismatch"] = f"gradient {index} is {actual.tolist()}, expected {expected.tolist()}"
    return found
