"""A correct reverse-mode autodiff engine over NumPy arrays, for every op of docs/contract.md, section 1.

It is built like micrograd: one node type (`Tensor`); each op computes its
forward value and attaches a local backward closure; `grad` sorts the graph
topologically and sweeps it in reverse, accumulating each node's gradient into
its parents. Unlike micrograd, a closure *returns* its parents' contributions
(``backward(g) -> one array or None per parent``) and the traversal does the
accumulating, so that a planted-bug engine can replace the traversal alone
(``backward_pass``) or one op's rule alone (``overrides``) and keep the rest.

The module itself is an engine target (float64)::

    gradcheck check gradcheck.examples.numpy_engine

and `make_engine` builds variants:

.. code-block:: pycon

    >>> engine = make_engine("float32")
    >>> x = engine.variable(np.array([1.0, 2.0]))
    >>> engine.grad(engine.sum(engine.multiply(x, x)), [x], np.array(1.0))[0]
    array([2., 4.], dtype=float32)
"""

from __future__ import annotations

import itertools
import math
import types
from typing import Any, Callable, Optional, Sequence

import numpy as np

__all__ = [
    # building blocks for engines with planted bugs
    "REFERENCE_OPS",
    "Tensor",
    "accumulate",
    "make_engine",
    "binary_op",
    "conv_windows",
    "crop_padding",
    "matmul_vjp",
    "node",
    "reduced_axes",
    "pool_windows",
    "reverse_sweep",
    "scatter_windows",
    "spatial_pairs",
    "topological_order",
    "unary_op",
    "unbroadcast",
    "with_backward",
    "engine32",
    "engine64",
    # the module as a float64 engine (docs/contract.md, section 1)
    "dtype",
    "grad",
    "name",
    "value",
    "variable",
    "add", "subtract", "multiply", "divide", "maximum",
    "negative", "exp", "log", "sqrt", "tanh", "sigmoid", "relu", "abs", "sin", "cos",
    "pow", "matmul", "matrix_transpose", "permute_dims", "reshape", "broadcast_to",
    "sum", "mean", "max", "softmax", "log_softmax", "logsumexp",
    "log1p", "leaky_relu", "elu", "gelu", "softplus", "expm1", "clip",
    "cumulative_sum", "var", "std", "layer_norm",
    "take", "getitem", "where", "flip", "pad",
    "conv1d", "conv2d", "max_pool2d", "avg_pool2d",
    "concat", "stack", "einsum", "cross_entropy",
]

#: ``backward(g)`` of a node: the contribution to each parent's gradient, in
#: parent order, ``None`` for a parent that gets none.
Backward = Callable[[np.ndarray], Sequence[Optional[np.ndarray]]]

DTYPES = ("float32", "float64")


class Tensor:
    """A node of the graph: a value, its parents and how to push a gradient to them.

    Leaves (from ``variable``) have no parents and no backward rule. ``grad`` is
    ``None`` until a backward pass reaches the node.
    """

    __slots__ = ("data", "grad", "_parents", "_backward")

    def __init__(
        self,
        data: np.ndarray,
        parents: tuple[Tensor, ...] = (),
        backward: Backward | None = None,
    ) -> None:
        self.data = data
        self.grad: np.ndarray | None = None
        self._parents = parents
        self._backward = backward

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    def __repr__(self) -> str:
        kind = "leaf" if not self._parents else f"{len(self._parents)} parents"
        return f"Tensor(shape={self.shape}, dtype={self.data.dtype}, {kind})"


def node(data: np.ndarray, parents: tuple[Tensor, ...], backward: Backward) -> Tensor:
    """Return a non-leaf `Tensor` computed from ``parents``, differentiated by ``backward``."""
    return Tensor(np.asarray(data), tuple(parents), backward)


# --- shape helpers shared by the rules -------------------------------------


def unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``g`` down to ``shape``: the adjoint of broadcasting an array of ``shape``.

    Broadcasting adds leading axes and stretches size-1 axes; both were copies
    of one value, so their gradients add up.

    .. code-block:: pycon

        >>> unbroadcast(np.ones((2, 3, 4)), (3, 1)).tolist()
        [[8.0], [8.0], [8.0]]
    """
    shape = tuple(shape)
    leading = g.ndim - len(shape)
    g = np.sum(g, axis=tuple(range(leading))) if leading > 0 else g
    stretched = tuple(axis for axis, size in enumerate(shape) if size == 1 and g.shape[axis] != 1)
    g = np.sum(g, axis=stretched, keepdims=True) if stretched else g
    return g.reshape(shape)


Axis = Optional[Any]  # None, an int or a tuple of ints


def _np_axis(axis: Axis) -> Axis:
    # NumPy wants a tuple, not a list, for several axes.
    return tuple(axis) if isinstance(axis, list) else axis


def reduced_axes(axis: Axis, ndim: int) -> tuple[int, ...]:
    """Return the non-negative axes a reduction over ``axis`` removes from an ``ndim`` array."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    return tuple(sorted(int(a) % ndim for a in axes)) if ndim else ()


def _with_kept_dims(g: np.ndarray, axis: Axis, ndim: int, keepdims: bool) -> np.ndarray:
    """Return a reduction's output gradient with the reduced axes back as size-1 axes."""
    return g if keepdims else np.expand_dims(g, reduced_axes(axis, ndim))


def _spread(g: np.ndarray, x: Tensor, axis: Axis, keepdims: bool) -> np.ndarray:
    """Return a reduction's output gradient copied along the reduced axes, in x's shape."""
    # A copy: np.broadcast_to returns a read-only view, and callers may write to a gradient.
    return np.broadcast_to(_with_kept_dims(g, axis, x.ndim, keepdims), x.shape).copy()


def _swap_last_two(x: np.ndarray) -> np.ndarray:
    return np.swapaxes(x, -1, -2)


# --- elementwise ops -------------------------------------------------------
# Ops take the contract's names, so `abs`, `pow`, `sum` and `max` shadow the
# builtins below this point: this module calls only their NumPy versions.


def binary_op(
    name: str,
    forward: Callable[[np.ndarray, np.ndarray], np.ndarray],
    partials: Callable[..., tuple[np.ndarray, np.ndarray]],
) -> Callable[[Tensor, Tensor], Tensor]:
    """Return the broadcasting binary op ``name`` from its forward and its local VJPs.

    ``partials(g, a, b, out)`` returns the broadcast-shape gradients for a and b;
    the op sums each back to its operand's shape.
    """

    def op(a: Tensor, b: Tensor) -> Tensor:
        out = forward(a.data, b.data)

        def backward(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            ga, gb = partials(g, a.data, b.data, out)
            return unbroadcast(ga, a.shape), unbroadcast(gb, b.shape)

        return node(out, (a, b), backward)

    return _named(op, name, f"Return {name}(a, b), broadcasting a against b.")


def unary_op(
    name: str,
    forward: Callable[[np.ndarray], np.ndarray],
    derivative: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> Callable[[Tensor], Tensor]:
    """Return the elementwise op ``name`` from its forward and ``derivative(x, out)``."""

    def op(x: Tensor) -> Tensor:
        out = forward(x.data)
        return node(out, (x,), lambda g: (g * derivative(x.data, out),))

    return _named(op, name, f"Return {name}(x), elementwise.")


def _named(op: Callable[..., Tensor], name: str, doc: str) -> Callable[..., Tensor]:
    # Tracebacks and reprs then say `add`, not the factory's inner `op`.
    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


def _stable_sigmoid(x: np.ndarray) -> np.ndarray:
    # exp of a non-positive number never overflows; both branches share it.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


add = binary_op("add", np.add, lambda g, a, b, out: (g, g))
subtract = binary_op("subtract", np.subtract, lambda g, a, b, out: (g, -g))
multiply = binary_op("multiply", np.multiply, lambda g, a, b, out: (g * b, g * a))
divide = binary_op("divide", np.divide, lambda g, a, b, out: (g / b, -g * a / (b * b)))
# Operands never tie (docs/contract.md, section 1), so the mask picks exactly one of them.
maximum = binary_op("maximum", np.maximum, lambda g, a, b, out: (g * (a > b), g * (a <= b)))

negative = unary_op("negative", np.negative, lambda x, out: -np.ones_like(x))
exp = unary_op("exp", np.exp, lambda x, out: out)
log = unary_op("log", np.log, lambda x, out: 1 / x)
sqrt = unary_op("sqrt", np.sqrt, lambda x, out: 0.5 / out)
tanh = unary_op("tanh", np.tanh, lambda x, out: 1 - out * out)
sigmoid = unary_op("sigmoid", _stable_sigmoid, lambda x, out: out * (1 - out))
relu = unary_op("relu", lambda x: np.maximum(x, 0), lambda x, out: (x > 0).astype(x.dtype))
abs = unary_op("abs", np.abs, lambda x, out: np.sign(x))  # noqa: A001 - the contract's op name
sin = unary_op("sin", np.sin, lambda x, out: np.cos(x))
cos = unary_op("cos", np.cos, lambda x, out: -np.sin(x))
log1p = unary_op("log1p", np.log1p, lambda x, out: 1 / (1 + x))
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _gelu(x: np.ndarray) -> np.ndarray:
    # Exact GELU, x * Phi(x); erf per entry in float64, the result in x's dtype.
    return (0.5 * x * (1 + _erf(x / math.sqrt(2)))).astype(x.dtype)


def _gelu_derivative(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    cdf = 0.5 * (1 + _erf(x / math.sqrt(2)))
    density = np.exp(-0.5 * x.astype(np.float64) ** 2) / math.sqrt(2 * math.pi)
    return (cdf + x * density).astype(x.dtype)


gelu = unary_op("gelu", _gelu, _gelu_derivative)
softplus = unary_op("softplus", lambda x: np.logaddexp(0, x), lambda x, out: _stable_sigmoid(x))
expm1 = unary_op("expm1", np.expm1, lambda x, out: out + 1)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """Return ``x`` where positive and ``negative_slope * x`` elsewhere."""
    slope = float(negative_slope)
    out = np.where(x.data > 0, x.data, slope * x.data)
    return node(out, (x,), lambda g: (g * np.where(x.data > 0, 1, slope).astype(x.data.dtype),))


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """Return ``x`` where positive and ``alpha * (exp(x) - 1)`` elsewhere."""
    alpha = float(alpha)
    negative = alpha * np.expm1(np.minimum(x.data, 0))
    out = np.where(x.data > 0, x.data, negative)
    # alpha * exp(x) = alpha * expm1(x) + alpha on the negative side.
    return node(out, (x,), lambda g: (g * np.where(x.data > 0, 1, negative + alpha).astype(x.data.dtype),))


def clip(x: Tensor, min: Optional[float] = None, max: Optional[float] = None) -> Tensor:  # noqa: A002
    """Return ``x`` clipped to ``[min, max]``; a bound of None is no bound."""
    out = x.data
    inside = np.ones(x.shape, dtype=bool)
    if min is not None:
        out = np.maximum(out, float(min))
        inside &= x.data >= min
    if max is not None:
        out = np.minimum(out, float(max))
        inside &= x.data <= max
    # The bounds are constants: past them the output does not move with x.
    return node(out, (x,), lambda g: (g * inside,))


def pow(x: Tensor, p: float | Tensor) -> Tensor:  # noqa: A001 - the contract's op name
    """Return ``x ** p`` for a Python number ``p``, or elementwise for a tensor exponent ``p`` (x > 0)."""
    if isinstance(p, Tensor):
        return _pow_tensor(x, p)
    # float(): a NumPy float64 exponent would promote a float32 x to float64.
    p = float(p)
    out = x.data ** p

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        # p * x**(p-1) is 0 * inf at x = 0 when p = 0; the derivative is 0 there.
        if p == 0:
            return (np.zeros_like(g),)
        return (g * p * x.data ** (p - 1),)

    return node(out, (x,), backward)


def _pow_tensor(x: Tensor, y: Tensor) -> Tensor:
    out = x.data ** y.data
    return node(out, (x, y), lambda g: (
        unbroadcast(g * y.data * x.data ** (y.data - 1), x.shape),
        # d(x**y)/dy = x**y * log(x): defined for x > 0, the contract's domain.
        unbroadcast(g * out * np.log(x.data), y.shape),
    ))


# --- linear algebra and shape ops -----------------------------------------


def matmul_vjp(
    g: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    transpose: Callable[[np.ndarray], np.ndarray] = _swap_last_two,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the gradients of ``np.matmul(a, b)`` for the output gradient ``g``.

    A 1-D ``a`` is a row (``(1, n)``), a 1-D ``b`` a column (``(n, 1)``), and
    ``g`` gets back the axes those promotions removed from the output; batch
    axes broadcast, so each gradient is summed back to its operand's shape.
    ``transpose`` swaps the matrix axes; a planted bug passes ``np.transpose``.
    """
    a2 = a[np.newaxis, :] if a.ndim == 1 else a
    b2 = b[:, np.newaxis] if b.ndim == 1 else b
    g2 = g[..., np.newaxis] if b.ndim == 1 else g
    g2 = g2[..., np.newaxis, :] if a.ndim == 1 else g2
    ga = unbroadcast(np.matmul(g2, transpose(b2)), a2.shape)
    gb = unbroadcast(np.matmul(transpose(a2), g2), b2.shape)
    return ga.reshape(a.shape), gb.reshape(b.shape)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Return ``a @ b`` with NumPy semantics (1-D operands, broadcast batch axes)."""
    return node(np.matmul(a.data, b.data), (a, b), lambda g: matmul_vjp(g, a.data, b.data))


def matrix_transpose(x: Tensor) -> Tensor:
    """Return ``x`` with its last two axes swapped."""
    return node(_swap_last_two(x.data), (x,), lambda g: (_swap_last_two(g),))


def permute_dims(x: Tensor, axes: Sequence[int]) -> Tensor:
    """Return ``x`` with its axes permuted by ``axes``."""
    axes = tuple(int(a) % x.ndim for a in axes)
    # Output axis i is input axis axes[i]; the inverse permutation sends it back.
    inverse = tuple(np.argsort(axes))
    return node(np.transpose(x.data, axes), (x,), lambda g: (np.transpose(g, inverse),))


def reshape(x: Tensor, shape: Sequence[int]) -> Tensor:
    """Return ``x`` reshaped to ``shape`` (one entry may be -1)."""
    return node(np.reshape(x.data, tuple(shape)), (x,), lambda g: (np.reshape(g, x.shape),))


def broadcast_to(x: Tensor, shape: Sequence[int]) -> Tensor:
    """Return ``x`` broadcast to ``shape``."""
    # A copy: np.broadcast_to returns a read-only view that aliases x.data.
    out = np.array(np.broadcast_to(x.data, tuple(shape)))
    return node(out, (x,), lambda g: (unbroadcast(g, x.shape),))


# --- reductions ------------------------------------------------------------

def sum(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Return the sum of ``x`` over ``axis``."""
    out = np.sum(x.data, axis=_np_axis(axis), keepdims=keepdims)
    return node(out, (x,), lambda g: (_spread(g, x, axis, keepdims),))


def mean(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Return the mean of ``x`` over ``axis``."""
    out = np.mean(x.data, axis=_np_axis(axis), keepdims=keepdims)
    # int(): a NumPy integer count would promote a float32 gradient to float64.
    count = int(np.prod([x.shape[a] for a in reduced_axes(axis, x.ndim)]))
    return node(out, (x,), lambda g: (_spread(g, x, axis, keepdims) / count,))


def max(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Return the maximum of ``x`` over ``axis``; the gradient goes to the argmax."""
    out = np.max(x.data, axis=_np_axis(axis), keepdims=keepdims)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        winners = x.data == _with_kept_dims(out, axis, x.ndim, keepdims)
        # Ties share the gradient equally, as TensorFlow does; cases have none.
        share = winners / np.sum(winners, axis=_np_axis(axis), keepdims=True)
        return (_with_kept_dims(g, axis, x.ndim, keepdims) * share.astype(x.data.dtype),)

    return node(out, (x,), backward)


def logsumexp(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Return ``log(sum(exp(x)))`` over ``axis``, shifted by the max so exp cannot overflow."""
    kept = _stable_logsumexp(x.data, axis)
    out = kept if keepdims else np.squeeze(kept, axis=reduced_axes(axis, x.ndim))
    # d/dx logsumexp = softmax(x) over the reduced axes.
    return node(out, (x,), lambda g: (
        _with_kept_dims(g, axis, x.ndim, keepdims) * np.exp(x.data - kept),
    ))


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """Return ``exp(x) / sum(exp(x))`` along ``axis``."""
    out = np.exp(x.data - _stable_logsumexp(x.data, axis))
    # J^T g = s * (g - <g, s>): the sum term is what couples the outputs.
    return node(out, (x,), lambda g: (
        out * (g - np.sum(g * out, axis=axis, keepdims=True)),
    ))


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """Return ``x - logsumexp(x)`` along ``axis``."""
    out = x.data - _stable_logsumexp(x.data, axis)
    return node(out, (x,), lambda g: (
        g - np.exp(out) * np.sum(g, axis=axis, keepdims=True),
    ))


def _stable_logsumexp(x: np.ndarray, axis: Axis) -> np.ndarray:
    """Return logsumexp of ``x`` over ``axis`` with the reduced axes kept."""
    peak = np.max(x, axis=_np_axis(axis), keepdims=True)
    return peak + np.log(np.sum(np.exp(x - peak), axis=_np_axis(axis), keepdims=True))


# --- course ops: scans, variance, normalization ------------------------------


def cumulative_sum(x: Tensor, axis: Optional[int] = None) -> Tensor:
    """Return the running sum of ``x`` along ``axis`` (None: of the flattened ``x``)."""
    out = np.cumsum(x.data, axis=axis)
    scan_axis = 0 if axis is None else axis

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        # Entry i feeds outputs i, i + 1, ...: its gradient is the reversed scan of g.
        reversed_scan = np.flip(np.cumsum(np.flip(g, scan_axis), axis=scan_axis), scan_axis)
        return (np.reshape(reversed_scan, x.shape),)

    return node(out, (x,), backward)


def _moments(x: Tensor, axis: Axis, correction: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Return ``x`` centered over ``axis``, its variance (reduced axes kept) and the divisor N - correction."""
    centered = x.data - np.mean(x.data, axis=_np_axis(axis), keepdims=True)
    # int(): a NumPy count would promote a float32 gradient to float64.
    count = int(np.prod([x.shape[a] for a in reduced_axes(axis, x.ndim)]))
    divisor = count - correction
    return centered, np.sum(centered**2, axis=_np_axis(axis), keepdims=True) / divisor, divisor


def var(x: Tensor, axis: Axis = None, keepdims: bool = False, correction: float = 0.0) -> Tensor:
    """Return the variance of ``x`` over ``axis``, dividing by N - correction."""
    centered, kept, divisor = _moments(x, axis, correction)
    out = kept if keepdims else np.squeeze(kept, axis=reduced_axes(axis, x.ndim))
    return node(out, (x,), lambda g: (
        _with_kept_dims(g, axis, x.ndim, keepdims) * (2 * centered / divisor),
    ))


def std(x: Tensor, axis: Axis = None, keepdims: bool = False, correction: float = 0.0) -> Tensor:
    """Return the standard deviation of ``x`` over ``axis``, dividing by N - correction."""
    centered, kept, divisor = _moments(x, axis, correction)
    root = np.sqrt(kept)
    out = root if keepdims else np.squeeze(root, axis=reduced_axes(axis, x.ndim))
    return node(out, (x,), lambda g: (
        _with_kept_dims(g, axis, x.ndim, keepdims) * (centered / (divisor * root)),
    ))


def layer_norm(x: Tensor, axis: int = -1, eps: float = 1e-5) -> Tensor:
    """Return ``(x - mean) / sqrt(var + eps)`` along ``axis``, without affine parameters."""
    centered, variance, _ = _moments(x, axis, 0)
    scale = 1 / np.sqrt(variance + eps)
    out = centered * scale

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        # The mean and the variance depend on x too: both terms are subtracted.
        mean_g = np.mean(g, axis=axis, keepdims=True)
        mean_gy = np.mean(g * out, axis=axis, keepdims=True)
        return (scale * (g - mean_g - out * mean_gy),)

    return node(out, (x,), backward)


# --- course ops: indexing --------------------------------------------------------
# Integer and boolean arrays (indices, keys, conditions) are NumPy arrays, not Tensors.


def take(x: Tensor, indices: np.ndarray, axis: Optional[int] = None) -> Tensor:
    """Return ``np.take(x, indices, axis)``: entries picked by (possibly repeated, negative) indices."""
    out = np.take(x.data, indices, axis=axis)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        # A scatter that adds: an index named twice feeds two outputs, and both
        # gradients reach it (grad[indices] = g would keep one).
        grad = np.zeros(x.data.size if axis is None else x.shape, dtype=g.dtype)
        where: Any = indices if axis is None else (slice(None),) * (axis % x.ndim) + (indices,)
        np.add.at(grad, where, g)
        return (np.reshape(grad, x.shape),)

    return node(out, (x,), backward)


def getitem(x: Tensor, key: Any) -> Tensor:
    """Return ``x[key]``: basic slices, integers, ``None``, ``...`` and integer arrays, as NumPy indexes."""
    # A copy: basic indexing gives a view, and the node must not alias x.
    out = np.array(x.data[key])

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        grad = np.zeros(x.shape, dtype=g.dtype)
        np.add.at(grad, key, g)  # repeated entries of an integer array add up
        return (grad,)

    return node(out, (x,), backward)


def where(condition: np.ndarray, a: Tensor, b: Tensor) -> Tensor:
    """Return a where ``condition`` holds, b elsewhere, all three broadcast together."""
    out = np.where(condition, a.data, b.data)

    def backward(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mask = np.broadcast_to(condition, g.shape)
        return unbroadcast(np.where(mask, g, 0), a.shape), unbroadcast(np.where(mask, 0, g), b.shape)

    return node(out, (a, b), backward)


def flip(x: Tensor, axis: Axis = None) -> Tensor:
    """Return ``x`` reversed along ``axis`` (None: every axis)."""
    flipped = _np_axis(axis)
    return node(np.flip(x.data, flipped), (x,), lambda g: (np.flip(g, flipped),))


def pad(x: Tensor, pad_width: Any) -> Tensor:
    """Return ``x`` padded with zeros, ``pad_width`` in any of NumPy's forms."""
    out = np.pad(x.data, pad_width)
    pairs = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (x.ndim, 2))
    inside = tuple(slice(int(before), int(before) + size) for (before, _), size in zip(pairs, x.shape))
    return node(out, (x,), lambda g: (g[inside],))
# --- course ops: convolution and pooling (PyTorch's layouts) ------------------


def spatial_pairs(value: Any, count: int) -> tuple[int, ...]:
    """Return an int-or-tuple geometry parameter (stride, padding...) as one int per spatial axis."""
    return tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else (int(value),) * count


def conv_windows(padded: np.ndarray, kernel: Sequence[int], stride: Sequence[int],
                 dilation: Sequence[int]) -> np.ndarray:
    """Return the windows a convolution reads: (N, C, *output sizes, *kernel), a view of ``padded``.

    Window ``i`` starts at ``i * stride`` and takes every ``dilation``-th entry.
    """
    spatial = len(kernel)
    span = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilation))
    windows = np.lib.stride_tricks.sliding_window_view(padded, span, axis=tuple(range(2, 2 + spatial)))
    every = (slice(None), slice(None))
    strided = tuple(slice(None, None, s) for s in stride)
    return windows[every + strided + tuple(slice(None, None, d) for d in dilation)]


def scatter_windows(d_windows: np.ndarray, padded_shape: tuple[int, ...], stride: Sequence[int],
                    dilation: Sequence[int]) -> np.ndarray:
    """Return the gradient of the padded input from the windows' gradient: ``conv_windows``'s adjoint.

    Overlapping windows read an entry several times: its gradients add up.
    """
    spatial = len(stride)
    out, kernel = d_windows.shape[2:2 + spatial], d_windows.shape[2 + spatial:]
    d_padded = np.zeros(padded_shape, dtype=d_windows.dtype)
    for taps in itertools.product(*(range(k) for k in kernel)):
        where = tuple(slice(t * d, t * d + s * (n - 1) + 1, s) for t, n, s, d in zip(taps, out, stride, dilation))
        d_padded[(slice(None), slice(None)) + where] += d_windows[(Ellipsis,) + taps]
    return d_padded


def crop_padding(d_padded: np.ndarray, padding: Sequence[int]) -> np.ndarray:
    """Return the gradient of the unpadded input: ``padding`` entries dropped at both ends of each spatial axis."""
    return d_padded[(slice(None), slice(None)) + tuple(slice(p, d_padded.shape[2 + i] - p)
                                                       for i, p in enumerate(padding))]


_CONV_SUBSCRIPTS = {1: ("ncLk", "ock", "noL"), 2: ("ncHWij", "ocij", "noHW")}


def _convolution(x: Tensor, w: Tensor, stride: Any, padding: Any, dilation: Any) -> Tensor:
    spatial = w.ndim - 2
    s, p, d = (spatial_pairs(v, spatial) for v in (stride, padding, dilation))
    padded = np.pad(x.data, [(0, 0), (0, 0)] + [(q, q) for q in p])
    windows = conv_windows(padded, w.shape[2:], s, d)
    win, ker, out = _CONV_SUBSCRIPTS[spatial]
    # Cross-correlation, as PyTorch's conv: the kernel is not flipped.
    y = np.einsum(f"{win},{ker}->{out}", windows, w.data)

    def backward(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d_windows = np.einsum(f"{out},{ker}->{win}", g, w.data)
        dx = crop_padding(scatter_windows(d_windows, padded.shape, s, d), p)
        return dx, np.einsum(f"{out},{win}->{ker}", g, windows)

    return node(y, (x, w), backward)


def conv1d(x: Tensor, w: Tensor, stride: Any = 1, padding: Any = 0, dilation: Any = 1) -> Tensor:
    """Return the 1-D cross-correlation of ``x`` (N, C, L) with ``w`` (O, C, K), as PyTorch's conv1d."""
    return _convolution(x, w, stride, padding, dilation)


def conv2d(x: Tensor, w: Tensor, stride: Any = 1, padding: Any = 0, dilation: Any = 1) -> Tensor:
    """Return the 2-D cross-correlation of ``x`` (N, C, H, W) with ``w`` (O, C, kH, kW), as PyTorch's conv2d."""
    return _convolution(x, w, stride, padding, dilation)


def pool_windows(x: np.ndarray, kernel_size: Any,
                 stride: Any) -> tuple[np.ndarray, tuple[int, ...], tuple[int, ...]]:
    """Return 2-D pooling's windows (N, C, Ho, Wo, kH, kW), its kernel and its stride (default: the kernel)."""
    kernel = spatial_pairs(kernel_size, 2)
    steps = kernel if stride is None else spatial_pairs(stride, 2)
    return conv_windows(x, kernel, steps, (1, 1)), kernel, steps


def max_pool2d(x: Tensor, kernel_size: Any, stride: Any = None) -> Tensor:
    """Return the maximum of each window of ``x`` (N, C, H, W); no padding, stride defaults to kernel_size."""
    windows, kernel, steps = pool_windows(x.data, kernel_size, stride)
    flat = windows.reshape(*windows.shape[:4], -1)
    winner = np.argmax(flat, axis=-1)
    y = np.take_along_axis(flat, winner[..., np.newaxis], axis=-1)[..., 0]

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        # Each window's gradient goes to its maximum only (cases have no ties).
        d_windows = np.zeros(flat.shape, dtype=g.dtype)
        np.put_along_axis(d_windows, winner[..., np.newaxis], g[..., np.newaxis], axis=-1)
        return (scatter_windows(d_windows.reshape(windows.shape), x.shape, steps, (1, 1)),)

    return node(y, (x,), backward)


def avg_pool2d(x: Tensor, kernel_size: Any, stride: Any = None) -> Tensor:
    """Return the mean of each window of ``x`` (N, C, H, W); no padding, stride defaults to kernel_size."""
    windows, kernel, steps = pool_windows(x.data, kernel_size, stride)
    size = kernel[0] * kernel[1]
    y = np.sum(windows, axis=(-2, -1)) / size

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        d_windows = np.broadcast_to((g / size)[..., np.newaxis, np.newaxis], windows.shape)
        return (scatter_windows(d_windows, x.shape, steps, (1, 1)),)

    return node(y, (x,), backward)
# --- course ops: lists of operands, einsum, cross-entropy ---------------------


def concat(xs: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Return the operands joined along an existing ``axis``."""
    xs = tuple(xs)
    offsets = np.cumsum([x.shape[axis] for x in xs])[:-1]
    # Each operand's gradient is its piece of g along the same axis.
    return node(np.concatenate([x.data for x in xs], axis=axis), xs,
                lambda g: tuple(np.split(g, offsets, axis=axis)))


def stack(xs: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Return the operands joined along a new ``axis``."""
    xs = tuple(xs)
    return node(np.stack([x.data for x in xs], axis=axis), xs,
                lambda g: tuple(np.take(g, index, axis=axis) for index in range(len(xs))))


def _einsum_vjp(g: np.ndarray, terms: list[str], output: str, operands: Sequence[np.ndarray],
                index: int) -> np.ndarray:
    """Return the gradient of operand ``index`` of ``einsum(terms -> output)`` for the cotangent ``g``."""
    term, x = terms[index], operands[index]
    letters = "".join(dict.fromkeys(term))
    sizes = {letter: side for letter, side in zip(term, x.shape)}
    others = [(other, operands[k]) for k, other in enumerate(terms) if k != index]
    # A letter only this operand has was summed over in the forward: its
    # gradient is the same along it (a ones vector keeps it in the product).
    seen = output + "".join(other for other, _ in others)
    alone = [letter for letter in letters if letter not in seen]
    spec = ",".join([output, *(other for other, _ in others), *alone]) + "->" + letters
    ones = [np.ones(sizes[letter], dtype=g.dtype) for letter in alone]
    unique = np.einsum(spec, g, *(value for _, value in others), *ones)
    # A letter repeated in the operand (a trace) reads its diagonal: the gradient goes back on it.
    grad = np.zeros(x.shape, dtype=unique.dtype)
    grids = np.indices(unique.shape, sparse=True)
    grad[tuple(grids[letters.index(letter)] for letter in term)] = unique
    return grad


def einsum(subscripts: str, *operands: Tensor) -> Tensor:
    """Return ``np.einsum(subscripts, *operands)`` for explicit subscripts (with ``->``)."""
    inputs, output = subscripts.replace(" ", "").split("->")
    terms = inputs.split(",")
    values = [x.data for x in operands]
    out = np.asarray(np.einsum(subscripts, *values))
    return node(out, tuple(operands), lambda g: tuple(
        _einsum_vjp(g, terms, output, values, index) for index in range(len(operands))
    ))


def cross_entropy(logits: Tensor, labels: np.ndarray) -> Tensor:
    """Return the mean over rows of ``-log_softmax(logits)[n, labels[n]]``; ``labels`` are class indices."""
    labels = np.asarray(labels)
    rows = logits.shape[0]
    log_probs = logits.data - _stable_logsumexp(logits.data, -1)
    out = -np.mean(log_probs[np.arange(rows), labels])
    one_hot = np.zeros_like(logits.data)
    one_hot[np.arange(rows), labels] = 1

    # The mean over N rows: each row's gradient is divided by N.
    return node(out, (logits,), lambda g: (g * (np.exp(log_probs) - one_hot) / rows,))


#: Every op of docs/contract.md, section 1, by name: the rules `make_engine` starts from.
REFERENCE_OPS: dict[str, Callable[..., Tensor]] = {
    "add": add,
    "subtract": subtract,
    "multiply": multiply,
    "divide": divide,
    "maximum": maximum,
    "negative": negative,
    "exp": exp,
    "log": log,
    "sqrt": sqrt,
    "tanh": tanh,
    "sigmoid": sigmoid,
    "relu": relu,
    "abs": abs,
    "sin": sin,
    "cos": cos,
    "pow": pow,
    "matmul": matmul,
    "matrix_transpose": matrix_transpose,
    "permute_dims": permute_dims,
    "reshape": reshape,
    "broadcast_to": broadcast_to,
    "sum": sum,
    "mean": mean,
    "max": max,
    "softmax": softmax,
    "log_softmax": log_softmax,
    "logsumexp": logsumexp,
    "log1p": log1p,
    "leaky_relu": leaky_relu,
    "elu": elu,
    "gelu": gelu,
    "softplus": softplus,
    "expm1": expm1,
    "clip": clip,
    "cumulative_sum": cumulative_sum,
    "var": var,
    "std": std,
    "layer_norm": layer_norm,
    "take": take,
    "getitem": getitem,
    "where": where,
    "flip": flip,
    "pad": pad,
    "conv1d": conv1d,
    "conv2d": conv2d,
    "max_pool2d": max_pool2d,
    "avg_pool2d": avg_pool2d,
    "concat": concat,
    "stack": stack,
    "einsum": einsum,
    "cross_entropy": cross_entropy,
}


def with_backward(op: str, make_backward: Callable[..., Backward]) -> Callable[..., Tensor]:
    """Return the reference ``op`` with its backward rule replaced: the forward stays right.

    ``make_backward(out, *operands, **params)`` gets the reference's output node
    and the op's arguments, and returns the new ``backward(g)``.

    .. code-block:: pycon

        >>> sigmoid = with_backward("sigmoid", lambda out, x: lambda g: (g * out.data,))
    """
    reference = REFERENCE_OPS[op]

    def planted(*operands: Any, **params: Any) -> Tensor:
        out = reference(*operands, **params)
        return node(out.data, out._parents, make_backward(out, *operands, **params))

    return _named(planted, op, f"The reference {op} with a replaced backward rule.")


# --- the backward pass -----------------------------------------------------


def topological_order(y: Tensor) -> list[Tensor]:
    """Return the nodes ``y`` depends on (``y`` included), every node after its parents."""
    order: list[Tensor] = []
    visited: set[int] = set()
    # Iterative depth-first search: deep graphs must not hit the recursion limit.
    stack: list[tuple[Tensor, bool]] = [(y, False)]
    while stack:
        current, parents_done = stack.pop()
        if parents_done:
            order.append(current)
            continue
        if id(current) in visited:
            continue
        visited.add(id(current))
        stack.append((current, True))
        stack.extend((parent, False) for parent in current._parents if id(parent) not in visited)
    return order


def accumulate(total: np.ndarray | None, contribution: np.ndarray) -> np.ndarray:
    """Return a node's gradient after one more contribution: the sum over its uses."""
    # Not +=: ``total`` may be the very array another node holds.
    return contribution if total is None else total + contribution


def reverse_sweep(
    y: Tensor,
    seed: np.ndarray,
    accumulate: Callable[[np.ndarray | None, np.ndarray], np.ndarray] = accumulate,
) -> None:
    """Set ``.grad`` of every node ``y`` depends on to its VJP with ``seed``.

    Expects every ``.grad`` reset to ``None``. Reverse topological order sweeps
    a node only after all its children, so its gradient is complete by then;
    ``accumulate`` folds the contributions of a node's several uses together.
    """
    y.grad = seed
    for current in reversed(topological_order(y)):
        if current._backward is None or current.grad is None:
            continue
        for parent, contribution in zip(current._parents, current._backward(current.grad)):
            if contribution is not None:
                parent.grad = accumulate(parent.grad, contribution)


# --- engines ---------------------------------------------------------------


def make_engine(
    dtype: str = "float64",
    name: str | None = None,
    overrides: dict[str, Callable[..., Any]] | None = None,
    backward_pass: Callable[[Tensor, np.ndarray], None] | None = None,
) -> types.SimpleNamespace:
    """Return an engine (docs/contract.md, section 1) computing in ``dtype``, with every op.

    ``overrides`` maps an op name (or ``variable``/``value``) to a replacement
    taking and returning `Tensor` s; ``backward_pass(y, seed)`` replaces
    `reverse_sweep`, the traversal that fills in ``.grad``. Both exist to plant
    one bug at a time.

    .. code-block:: pycon

        >>> def add(a, b):  # forgets to sum the gradient over broadcast axes
        ...     return node(a.data + b.data, (a, b), lambda g: (g, g))
        >>> make_engine(overrides={"add": add}).add  # doctest: +ELLIPSIS
        <function add at ...>
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is not supported; use one of {DTYPES}.")
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(REFERENCE_OPS) - {"variable", "value"})
    if unknown:
        raise ValueError(
            f"overrides={unknown} name no op of the engine; "
            f"use 'variable', 'value' or one of {sorted(REFERENCE_OPS)}."
        )
    traverse = backward_pass or reverse_sweep

    def variable(array: Any) -> Tensor:
        """Return a leaf holding a copy of ``array`` in the engine's dtype."""
        # A copy: the engine must never write into an array it was handed.
        return Tensor(np.array(array, dtype=dtype, copy=True))

    def value(x: Tensor) -> np.ndarray:
        """Return the forward value of ``x``."""
        return x.data

    def grad(y: Tensor, xs: Sequence[Tensor], cotangent: Any = None) -> list[np.ndarray]:
        """Return the gradient of ``sum(y * cotangent)`` w.r.t. each of ``xs``.

        An omitted cotangent means all ones; an ``x`` that ``y`` does not depend
        on gets zeros.
        """
        seed = np.ones_like(y.data) if cotangent is None else np.array(cotangent, dtype=y.data.dtype)
        if seed.shape != y.shape:
            raise ValueError(
                f"cotangent has shape {seed.shape} but y has shape {y.shape}; "
                "pass a cotangent shaped like y."
            )
        # Gradients live on the nodes: clear what an earlier call left there.
        for stale in itertools.chain(topological_order(y), xs):
            stale.grad = None
        traverse(y, seed)
        # Copies: a gradient may be a view shared with other nodes (add passes g on as is).
        return [np.zeros_like(x.data) if x.grad is None else np.array(x.grad) for x in xs]

    attributes: dict[str, Any] = {"variable": variable, "value": value, **REFERENCE_OPS, **overrides}
    return types.SimpleNamespace(
        name=name or f"numpy reference engine ({dtype})",
        dtype=dtype,
        grad=grad,
        **attributes,
    )


engine64 = make_engine("float64")
engine32 = make_engine("float32")

# The module is itself the float64 engine: `gradcheck check gradcheck.examples.numpy_engine`.
# The ops are the module's functions already; only these depend on the dtype.
name = "numpy reference engine"
dtype = "float64"
variable = engine64.variable
value = engine64.value
grad = engine64.grad
