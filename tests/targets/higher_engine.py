"""Good: a tape engine with second derivatives and forward mode, built the way PyTorch builds one (NumPy only).

Each op records its parents, a VJP rule and a JVP rule. The VJP rules are
written with the engine's OWN ops (``g * (1 - out * out)`` for tanh), so
running them while recording builds a graph of the gradient:
``grad(y, xs, cotangent, create_graph=True)`` returns `Tensor` s that can be
differentiated again, which is reverse over reverse (docs/contract.md,
section 1). With ``create_graph=False`` the rules run under `no_grad`, record
nothing, and ``grad`` returns NumPy arrays. ``jvp(y, xs, tangents)`` is
forward mode: it pushes tangents through the recorded graph, parents first,
with each op's JVP rule (in NumPy).

The module is the float64 engine; `engine32` and `engine64` are the two
dtypes, and `make_engine` builds variants with one op replaced (the planted
engines of ``tests/engines/order2_*.py`` and ``forward_*.py``)::

    gradcheck check tests/targets/higher_engine.py
    gradcheck check tests/targets/higher_engine.py:engine32

.. code-block:: pycon

    >>> x = variable(np.array([0.5, -1.0]))
    >>> (g,) = grad(tanh(x), [x], np.ones(2), create_graph=True)
    >>> grad(g, [x], np.ones(2))[0]  # d/dx (1 - tanh(x)**2) = -2 tanh(x) (1 - tanh(x)**2)
    array([-0.726862...,  0.639700...])
"""

from __future__ import annotations

import contextlib
import math
import threading
import types
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np

#: ``vjp(g)``: each parent's share of the gradient, as `Tensor` s built with the engine's ops (``None``: none).
Vjp = Callable[["Tensor"], Sequence[Optional["Tensor"]]]
#: ``jvp(*tangents)``: the output's tangent from one tangent per parent (zeros for a constant), in NumPy.
Jvp = Callable[..., np.ndarray]

_recording = threading.local()


def grad_enabled() -> bool:
    """Return whether ops record their parents (false inside `no_grad`)."""
    return getattr(_recording, "enabled", True)


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Run ops without recording them, as ``torch.no_grad()``: their results are constants."""
    previous = grad_enabled()
    _recording.enabled = False
    try:
        yield
    finally:
        _recording.enabled = previous


class Tensor:
    """A node of the graph: a value, its parents and its two rules. Leaves have no parents."""

    __slots__ = ("data", "parents", "vjp", "jvp")

    def __init__(
        self,
        data: np.ndarray,
        parents: tuple[Tensor, ...] = (),
        vjp: Vjp | None = None,
        jvp: Jvp | None = None,
    ) -> None:
        self.data = data
        self.parents = parents
        self.vjp = vjp
        self.jvp = jvp

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    def __repr__(self) -> str:
        kind = "leaf" if not self.parents else f"{len(self.parents)} parents"
        return f"Tensor(shape={self.shape}, dtype={self.data.dtype}, {kind})"

    # Operators, so that the rules below read as formulas.
    def __add__(self, other: Any) -> Tensor:
        return add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return subtract(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return subtract(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return multiply(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return multiply(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return divide(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return divide(other, self)

    def __neg__(self) -> Tensor:
        return negative(self)

    def __matmul__(self, other: Tensor) -> Tensor:
        return matmul(self, other)


def constant(array: Any, dtype: Any) -> Tensor:
    """Return a leaf that is never differentiated: ``array`` in ``dtype``."""
    return Tensor(np.asarray(array, dtype=dtype))


def node(data: Any, parents: Sequence[Tensor], vjp: Vjp, jvp: Jvp) -> Tensor:
    """Return the result of an op on ``parents``; inside `no_grad`, a constant holding ``data``."""
    if not grad_enabled():
        return Tensor(np.asarray(data))
    return Tensor(np.asarray(data), tuple(parents), vjp, jvp)


def _pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    # A Python number next to a Tensor becomes a constant of the Tensor's dtype (a float32 engine stays float32).
    if not isinstance(a, Tensor):
        a = constant(a, b.data.dtype)
    if not isinstance(b, Tensor):
        b = constant(b, a.data.dtype)
    return a, b


# --- shape helpers, themselves differentiable -------------------------------


def unbroadcast(g: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Sum ``g`` down to ``shape``: the adjoint of broadcasting an array of ``shape`` to ``g.shape``."""
    shape = tuple(shape)
    if g.shape == shape:
        return g
    leading = g.ndim - len(shape)
    stretched = tuple(leading + i for i, size in enumerate(shape) if size == 1 and g.shape[leading + i] != 1)
    return reshape(sum(g, axis=tuple(range(leading)) + stretched), shape)


def reduced_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """Return the non-negative axes a reduction over ``axis`` removes from an ``ndim`` array."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    return tuple(sorted(int(a) % ndim for a in axes)) if ndim else ()


def _kept_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else size for i, size in enumerate(shape))


def _np_axis(axis: Any) -> Any:
    return tuple(axis) if isinstance(axis, list) else axis


# --- elementwise ops ---------------------------------------------------------
# Ops take the contract's names, so `sum`, `abs` and `pow` shadow the builtins
# below this point: this module calls only their NumPy versions.


def add(a: Any, b: Any) -> Tensor:
    """Return a + b, broadcasting."""
    a, b = _pair(a, b)
    return node(a.data + b.data, (a, b),
                lambda g: (unbroadcast(g, a.shape), unbroadcast(g, b.shape)),
                lambda ta, tb: ta + tb)


def subtract(a: Any, b: Any) -> Tensor:
    """Return a - b, broadcasting."""
    a, b = _pair(a, b)
    return node(a.data - b.data, (a, b),
                lambda g: (unbroadcast(g, a.shape), unbroadcast(negative(g), b.shape)),
                lambda ta, tb: ta - tb)


def multiply(a: Any, b: Any) -> Tensor:
    """Return a * b, broadcasting."""
    a, b = _pair(a, b)
    return node(a.data * b.data, (a, b),
                lambda g: (unbroadcast(g * b, a.shape), unbroadcast(g * a, b.shape)),
                lambda ta, tb: ta * b.data + a.data * tb)


def divide(a: Any, b: Any) -> Tensor:
    """Return a / b, broadcasting."""
    a, b = _pair(a, b)
    return node(a.data / b.data, (a, b),
                lambda g: (unbroadcast(g / b, a.shape), unbroadcast(-(g * a) / (b * b), b.shape)),
                lambda ta, tb: ta / b.data - a.data * tb / (b.data * b.data))


def maximum(a: Any, b: Any) -> Tensor:
    """Return the elementwise maximum, broadcasting; a tie goes to ``b``."""
    a, b = _pair(a, b)
    first = a.data > b.data
    dtype = a.data.dtype
    return node(np.maximum(a.data, b.data), (a, b),
                lambda g: (unbroadcast(g * constant(first, dtype), a.shape),
                           unbroadcast(g * constant(~first, dtype), b.shape)),
                lambda ta, tb: np.asarray(np.where(first, ta, tb)))


def negative(x: Tensor) -> Tensor:
    """Return -x."""
    return node(-x.data, (x,), lambda g: (negative(g),), lambda t: -t)


def exp(x: Tensor) -> Tensor:
    """Return exp(x)."""
    out = np.exp(x.data)
    result = node(out, (x,), lambda g: (g * result,), lambda t: t * out)
    return result


def log(x: Tensor) -> Tensor:
    """Return the natural logarithm of x."""
    return node(np.log(x.data), (x,), lambda g: (g / x,), lambda t: t / x.data)


def sqrt(x: Tensor) -> Tensor:
    """Return the square root of x."""
    out = np.sqrt(x.data)
    result = node(out, (x,), lambda g: (g / (2 * result),), lambda t: t / (2 * out))
    return result


def tanh(x: Tensor) -> Tensor:
    """Return tanh(x)."""
    out = np.tanh(x.data)
    result = node(out, (x,), lambda g: (g * (1 - result * result),), lambda t: t * (1 - out * out))
    return result


def _stable_sigmoid(x: np.ndarray) -> np.ndarray:
    # exp of a non-positive number never overflows; both branches share it.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid(x: Tensor) -> Tensor:
    """Return 1 / (1 + exp(-x))."""
    out = _stable_sigmoid(x.data)
    result = node(out, (x,), lambda g: (g * result * (1 - result),), lambda t: t * out * (1 - out))
    return result


def sin(x: Tensor) -> Tensor:
    """Return sin(x)."""
    return node(np.sin(x.data), (x,), lambda g: (g * cos(x),), lambda t: t * np.cos(x.data))


def cos(x: Tensor) -> Tensor:
    """Return cos(x)."""
    return node(np.cos(x.data), (x,), lambda g: (-(g * sin(x)),), lambda t: -t * np.sin(x.data))


def relu(x: Tensor) -> Tensor:
    """Return max(x, 0)."""
    mask = (x.data > 0).astype(x.data.dtype)
    return node(x.data * mask, (x,), lambda g: (g * constant(mask, mask.dtype),), lambda t: t * mask)


def abs(x: Tensor) -> Tensor:  # noqa: A001 - the contract's op name
    """Return |x|."""
    sign = np.sign(x.data)
    return node(np.abs(x.data), (x,), lambda g: (g * constant(sign, sign.dtype),), lambda t: t * sign)


def pow(x: Tensor, p: float | Tensor) -> Tensor:  # noqa: A001 - the contract's op name
    """Return x ** p, for a Python number ``p`` or a Tensor exponent (broadcasting)."""
    if isinstance(p, Tensor):
        return _pow_tensor(x, p)
    p = float(p)
    return node(np.power(x.data, p), (x,),
                lambda g: (g * p * pow(x, p - 1),),
                lambda t: t * p * np.power(x.data, p - 1))


def _pow_tensor(x: Tensor, y: Tensor) -> Tensor:
    out = np.power(x.data, y.data)
    result = node(out, (x, y),
                  lambda g: (unbroadcast(g * y * pow(x, y - 1), x.shape),
                             unbroadcast(g * log(x) * result, y.shape)),
                  lambda tx, ty: tx * y.data * np.power(x.data, y.data - 1) + ty * np.log(x.data) * out)
    return result


# --- matmul and shape ops ------------------------------------------------------


def _swap_last_two(x: Tensor) -> Tensor:
    axes = list(range(x.ndim))
    axes[-2], axes[-1] = axes[-1], axes[-2]
    return permute_dims(x, axes)


def matmul_matrices(a: Tensor, b: Tensor) -> Tensor:
    """Return a @ b for operands of at least 2 axes, broadcasting their batch axes."""
    return node(a.data @ b.data, (a, b),
                lambda g: (unbroadcast(matmul_matrices(g, _swap_last_two(b)), a.shape),
                           unbroadcast(matmul_matrices(_swap_last_two(a), g), b.shape)),
                lambda ta, tb: ta @ b.data + a.data @ tb)


def matmul_from(matrices: Callable[[Tensor, Tensor], Tensor]) -> Callable[[Tensor, Tensor], Tensor]:
    """Return NumPy's matmul built on ``matrices`` (operands of 2 axes or more): 1-D operands as NumPy treats them."""

    def matmul(a: Tensor, b: Tensor) -> Tensor:
        """Return a @ b with NumPy's rules: 1-D operands and broadcast batch axes."""
        # A vector is a one-row matrix on the left, a one-column one on the right; the added axis is dropped after.
        left = reshape(a, (1, a.shape[0])) if a.ndim == 1 else a
        right = reshape(b, (b.shape[0], 1)) if b.ndim == 1 else b
        out = matrices(left, right)
        if a.ndim == 1 and b.ndim == 1:
            return reshape(out, ())
        if a.ndim == 1:
            return reshape(out, out.shape[:-2] + out.shape[-1:])
        if b.ndim == 1:
            return reshape(out, out.shape[:-1])
        return out

    return matmul


matmul = matmul_from(matmul_matrices)


def reshape(x: Tensor, shape: Sequence[int]) -> Tensor:
    """Return x reshaped (``-1`` allowed)."""
    out = x.data.reshape(tuple(shape))
    return node(out, (x,), lambda g: (reshape(g, x.shape),), lambda t: t.reshape(out.shape))


def permute_dims(x: Tensor, axes: Sequence[int]) -> Tensor:
    """Return x with its axes permuted."""
    axes = tuple(int(a) for a in axes)
    inverse = tuple(int(a) for a in np.argsort([a % x.ndim for a in axes]))
    return node(np.transpose(x.data, axes), (x,),
                lambda g: (permute_dims(g, inverse),),
                lambda t: np.transpose(t, axes))


def matrix_transpose(x: Tensor) -> Tensor:
    """Return x with its last two axes swapped."""
    return _swap_last_two(x)


def broadcast_to(x: Tensor, shape: Sequence[int]) -> Tensor:
    """Return x broadcast to ``shape``."""
    shape = tuple(shape)
    return node(np.array(np.broadcast_to(x.data, shape)), (x,),
                lambda g: (unbroadcast(g, x.shape),),
                lambda t: np.array(np.broadcast_to(t, shape)))


# --- reductions ------------------------------------------------------------------


def sum(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Return the sum over ``axis`` (None: every axis)."""
    axes = reduced_axes(axis, x.ndim)
    kept = _kept_shape(x.shape, axes)
    return node(np.sum(x.data, axis=_np_axis(axis), keepdims=keepdims), (x,),
                lambda g: (broadcast_to(reshape(g, kept), x.shape),),
                lambda t: np.sum(t, axis=axes, keepdims=keepdims))


def mean(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Return the mean over ``axis`` (None: every axis)."""
    count = math.prod(x.shape[a] for a in reduced_axes(axis, x.ndim))
    return sum(x, axis, keepdims) * (1.0 / count)


def _stable_logsumexp(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    # Kept dims; a shift by the maximum keeps exp from overflowing.
    top = np.max(x, axis=axes, keepdims=True)
    return top + np.log(np.sum(np.exp(x - top), axis=axes, keepdims=True))


def logsumexp(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Return log(sum(exp(x))) over ``axis`` (None: every axis)."""
    axes = reduced_axes(axis, x.ndim)
    kept = _kept_shape(x.shape, axes)
    lse = _stable_logsumexp(x.data, axes)
    weights = np.exp(x.data - lse)
    result = node(lse if keepdims else np.squeeze(lse, axis=axes), (x,),
                  lambda g: (reshape(g, kept) * exp(x - reshape(result, kept)),),
                  lambda t: np.sum(weights * t, axis=axes, keepdims=keepdims))
    return result


def _softmax_array(x: np.ndarray, axis: int) -> np.ndarray:
    shifted = np.exp(x - np.max(x, axis=axis, keepdims=True))
    # Divided by its own sum, so the entries add up to 1 to the last bit: softmax's backward
    # g - <g, out> is then 0 for a constant g, where a float32 sum 1e-6 off would show (times the chain after it).
    return shifted / np.sum(shifted, axis=axis, keepdims=True)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """Return exp(x) / sum(exp(x)) along ``axis``."""
    out = _softmax_array(x.data, axis)
    result = node(out, (x,),
                  lambda g: (result * (g - sum(g * result, axis=axis, keepdims=True)),),
                  lambda t: out * (t - np.sum(t * out, axis=axis, keepdims=True)))
    return result


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """Return x - logsumexp(x) along ``axis``."""
    out = x.data - _stable_logsumexp(x.data, (axis % x.ndim,))
    weights = _softmax_array(x.data, axis)
    # softmax(x) rather than exp(out): its entries add up to 1 to the last bit (see _softmax_array).
    return node(out, (x,),
                lambda g: (g - softmax(x, axis) * sum(g, axis=axis, keepdims=True),),
                lambda t: t - np.sum(weights * t, axis=axis, keepdims=True))


OPS: dict[str, Callable[..., Tensor]] = {
    "add": add, "subtract": subtract, "multiply": multiply, "divide": divide, "maximum": maximum,
    "negative": negative, "exp": exp, "log": log, "sqrt": sqrt, "tanh": tanh, "sigmoid": sigmoid,
    "sin": sin, "cos": cos, "relu": relu, "abs": abs, "pow": pow,
    "matmul": matmul, "matrix_transpose": matrix_transpose, "permute_dims": permute_dims,
    "reshape": reshape, "broadcast_to": broadcast_to,
    "sum": sum, "mean": mean, "logsumexp": logsumexp, "softmax": softmax, "log_softmax": log_softmax,
}


# --- the two sweeps ------------------------------------------------------------


def topological_order(y: Tensor) -> list[Tensor]:
    """Return the nodes ``y`` depends on (``y`` included), every node after its parents."""
    order: list[Tensor] = []
    visited: set[int] = set()
    # Iterative: a deep graph must not hit the recursion limit.
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
        stack.extend((parent, False) for parent in current.parents if id(parent) not in visited)
    return order


def backward(y: Tensor, xs: Sequence[Tensor], seed: Tensor) -> list[Tensor]:
    """Return the VJP of ``y`` with ``seed`` for each of ``xs``, as Tensors (zeros where y does not depend on x).

    Only nodes with a path to some x are swept. Contributions are added with the
    engine's `add`, so while recording the result is a graph in the xs.
    """
    order = topological_order(y)
    targets = {id(x) for x in xs}
    reaches: set[int] = set()
    for current in order:  # parents first
        if id(current) in targets or any(id(parent) in reaches for parent in current.parents):
            reaches.add(id(current))
    grads: dict[int, Tensor] = {id(y): seed}
    for current in reversed(order):
        g = grads.get(id(current))
        if g is None or current.vjp is None or id(current) not in reaches:
            continue
        for parent, share in zip(current.parents, current.vjp(g)):
            if share is None or id(parent) not in reaches:
                continue
            earlier = grads.get(id(parent))
            grads[id(parent)] = share if earlier is None else add(earlier, share)
    return [grads[id(x)] if id(x) in grads else constant(np.zeros_like(x.data), x.data.dtype) for x in xs]


def _as_shaped(array: Any, like: Tensor, what: str) -> np.ndarray:
    result = np.array(array, dtype=like.data.dtype)
    if result.shape != like.shape:
        raise ValueError(f"{what} has shape {result.shape} but must have shape {like.shape}; pass one shaped like it.")
    return result


def tangent_sweep(y: Tensor, xs: Sequence[Tensor], tangents: Sequence[Any]) -> np.ndarray:
    """Return the directional derivative of ``y`` along ``tangents`` (one per x): forward mode."""
    if len(tangents) != len(xs):
        raise ValueError(f"{len(tangents)} tangents for {len(xs)} inputs; pass one tangent per input.")
    tangent = {id(x): _as_shaped(t, x, "a tangent") for x, t in zip(xs, tangents)}
    for current in topological_order(y):  # parents first
        if id(current) in tangent or current.jvp is None:
            continue
        if not any(id(parent) in tangent for parent in current.parents):
            continue  # a constant: its tangent is zero
        ins = [tangent.get(id(parent), np.zeros_like(parent.data)) for parent in current.parents]
        tangent[id(current)] = np.asarray(current.jvp(*ins), dtype=current.data.dtype)
    return tangent.get(id(y), np.zeros_like(y.data))


# --- engines ---------------------------------------------------------------------

DTYPES = ("float32", "float64")


def make_engine(
    dtype: str = "float64",
    name: str | None = None,
    overrides: dict[str, Callable[..., Tensor]] | None = None,
) -> types.SimpleNamespace:
    """Return an engine (docs/contract.md, section 1) with order 2 and forward mode, computing in ``dtype``.

    ``overrides`` replaces ops by name; it exists to plant one bug at a time.
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is not supported; use one of {DTYPES}.")
    unknown = sorted(set(overrides or {}) - set(OPS))
    if unknown:
        raise ValueError(f"overrides={unknown} name no op of the engine; use one of {sorted(OPS)}.")

    def variable(array: Any) -> Tensor:
        """Return a leaf holding a copy of ``array`` in the engine's dtype."""
        return Tensor(np.array(array, dtype=dtype, copy=True))

    def value(x: Tensor) -> np.ndarray:
        """Return the forward value of ``x``."""
        return x.data

    def grad(y: Tensor, xs: Sequence[Tensor], cotangent: Any = None, create_graph: bool = False) -> list[Any]:
        """Return the gradient of ``sum(y * cotangent)`` w.r.t. each of ``xs``.

        With ``create_graph=True``, as Tensors that can be differentiated again;
        else as NumPy arrays. An omitted cotangent means all ones.
        """
        seed = constant(np.ones_like(y.data) if cotangent is None else _as_shaped(cotangent, y, "the cotangent"),
                        y.data.dtype)
        if create_graph:
            return backward(y, xs, seed)
        with no_grad():
            return [np.array(g.data) for g in backward(y, xs, seed)]

    def jvp(y: Tensor, xs: Sequence[Tensor], tangents: Sequence[Any]) -> np.ndarray:
        """Return the derivative of ``y`` along ``tangents`` (one per x, shaped like it): forward mode."""
        return tangent_sweep(y, xs, tangents)

    return types.SimpleNamespace(
        name=name or f"higher-order tape engine ({dtype})",
        dtype=dtype,
        variable=variable,
        value=value,
        grad=grad,
        jvp=jvp,
        **{**OPS, **(overrides or {})},
    )


engine64 = make_engine("float64")
engine32 = make_engine("float32")

# The module is itself the float64 engine; its op functions are the module's own.
name = "higher-order tape engine"
dtype = "float64"
variable = engine64.variable
value = engine64.value
grad = engine64.grad
jvp = engine64.jvp
