"""HIPS autograd as an engine (docs/contract.md, section 1): every op of gradcheck, in float32 or float64.

Needs ``pip install "gradcheck[autograd]"`` (autograd, and SciPy for
``autograd.scipy.special``). autograd traces a function's NumPy calls, so
ops run eagerly on plain arrays and are recorded, and ``grad`` replays them
as a function of the inputs under ``autograd.make_vjp`` (see
``gradcheck.adapters._recording``). Order 2: ``grad(...,
create_graph=True)`` returns nodes whose replay is ``make_vjp`` again, which
autograd differentiates; there is no ``jvp`` (order 2 only, no forward
mode). The module is itself the float64 engine;
``engine32`` and ``engine64`` are the two dtypes, and ``make_engine``
substitutes your own function for any op::

    gradcheck check gradcheck.adapters.autograd
    gradcheck check gradcheck.adapters.autograd:engine32

.. code-block:: pycon

    >>> import autograd.numpy as anp
    >>> from autograd.extend import primitive, defvjp
    >>> from gradcheck.adapters.autograd import make_engine
    >>> @primitive
    ... def my_tanh(x):
    ...     return anp.tanh(x)
    >>> defvjp(my_tanh, lambda out, x: lambda g: g * (1 - out ** 2))
    >>> gradcheck.assert_gradients(make_engine(ops={"tanh": my_tanh}), "tanh")  # doctest: +SKIP

autograd has no softmax: ``softmax`` and ``log_softmax`` are written from
``autograd.scipy.special.logsumexp``, as an autograd user would.
"""

from __future__ import annotations

import itertools
import warnings
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from gradcheck.adapters._recording import Framework, engine_factory, module_attribute, require

__all__ = ["FRAMEWORK", "engine32", "engine64", "make_engine"]

_INSTALL = 'pip install "gradcheck[autograd]" (or pip install autograd scipy)'
autograd = require("autograd", framework="autograd", adapter=__name__, install=_INSTALL)
anp = require("autograd.numpy", framework="autograd", adapter=__name__, install=_INSTALL)
special = require("autograd.scipy.special", framework="autograd's SciPy support (SciPy)", adapter=__name__,
                  install=_INSTALL)


def _vjp(function: Callable[..., Any], primals: Sequence[Any], cotangent: Any) -> Sequence[Any]:
    # A tuple argnum, even of one: the pullback then returns a tuple of gradients.
    with warnings.catch_warnings():
        # A constant output (add's gradient, differentiated at order 2) has zero
        # gradients, which is the answer, not a reason to warn the user.
        warnings.filterwarnings("ignore", "Output seems independent of input", UserWarning)
        pullback, _ = autograd.make_vjp(function, argnum=tuple(range(len(primals))))(*primals)
    return pullback(cotangent)


def _softmax(x: Any, axis: int = -1) -> Any:
    return anp.exp(x - special.logsumexp(x, axis=axis, keepdims=True))


def _log_softmax(x: Any, axis: int = -1) -> Any:
    return x - special.logsumexp(x, axis=axis, keepdims=True)


def _cross_entropy(logits: Any, labels: Any) -> Any:
    # autograd has no cross-entropy: the mean of the labels' log-probabilities, as an autograd user would.
    rows = anp.arange(logits.shape[0])
    return -anp.mean(_log_softmax(logits)[rows, labels])


def _layer_norm(x: Any, axis: int = -1, eps: float = 1e-5) -> Any:
    # autograd has no layer norm: written with its NumPy, as an autograd user would.
    centered = x - anp.mean(x, axis=axis, keepdims=True)
    return centered / anp.sqrt(anp.mean(centered**2, axis=axis, keepdims=True) + eps)
# autograd has no activations beyond NumPy's functions: written as an autograd user would.
def _leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    return anp.where(x > 0, x, negative_slope * x)


def _elu(x: Any, alpha: float = 1.0) -> Any:
    return anp.where(x > 0, x, alpha * anp.expm1(anp.minimum(x, 0.0)))


def _gelu(x: Any) -> Any:
    return 0.5 * x * (1.0 + special.erf(x / np.sqrt(2.0)))


def _clip(x: Any, min: Any = None, max: Any = None) -> Any:  # noqa: A002 - the contract's names
    # anp.clip needs a bound on each side; maximum and minimum take one at a time.
    if min is not None:
        x = anp.maximum(x, min)
    if max is not None:
        x = anp.minimum(x, max)
    return x


# Indexing is differentiated by autograd's ArrayBox.__getitem__ (a scatter-add,
# np.add.at): take and flip are written as the indexing an autograd user would write.
def _take(x: Any, indices: np.ndarray, axis: Any = None) -> Any:
    if axis is None:
        return anp.reshape(x, (-1,))[indices]
    return x[(slice(None),) * (axis % anp.ndim(x)) + (indices,)]


def _flip(x: Any, axis: Any = None) -> Any:
    ndim = anp.ndim(x)
    axes = range(ndim) if axis is None else axis if isinstance(axis, tuple) else (axis,)
    reversed_axes = {a % ndim for a in axes}
    return x[tuple(slice(None, None, -1) if a in reversed_axes else slice(None) for a in range(ndim))]


def _pad(x: Any, pad_width: Any) -> Any:
    # Zeros concatenated on each side of each axis (autograd differentiates concatenate).
    pairs = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (anp.ndim(x), 2))
    for axis, (before, after) in enumerate(pairs.tolist()):
        sides = [tuple(size if a == axis else side for a, side in enumerate(anp.shape(x)))
                 for size in (before, after)]
        x = anp.concatenate([anp.zeros(sides[0], dtype=x.dtype), x, anp.zeros(sides[1], dtype=x.dtype)], axis=axis)
    return x

def _pairs(value: Any, count: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * count


def _taps(kernel: Sequence[int], out: Sequence[int], stride: Sequence[int],
          dilation: Sequence[int]) -> Iterator[Any]:
    """Yield (tap, slices): the input entries each kernel tap meets, one per output entry."""
    for tap in itertools.product(*(range(k) for k in kernel)):
        yield tap, tuple(slice(t * d, t * d + s * (n - 1) + 1, s)
                         for t, n, s, d in zip(tap, out, stride, dilation))


def _convolution(spatial: int) -> Callable[..., Any]:
    """Return conv1d/conv2d: autograd has no convolution of this kind, so it is written with its NumPy."""
    letters = "hw"[:spatial]

    def convolve(x: Any, w: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1) -> Any:
        s, p, d = _pairs(stride, spatial), _pairs(padding, spatial), _pairs(dilation, spatial)
        padded = anp.pad(x, [(0, 0), (0, 0), *((q, q) for q in p)], mode="constant")
        kernel = w.shape[2:]
        out = [(n - dd * (k - 1) - 1) // ss + 1 for n, k, ss, dd in zip(padded.shape[2:], kernel, s, d)]
        return sum(
            anp.einsum(f"nc{letters},oc->no{letters}", padded[(slice(None), slice(None)) + tuple(where)],
                       w[(slice(None), slice(None)) + tuple(tap)])
            for tap, where in _taps(kernel, out, s, d)
        )

    return convolve


def _pool(kind: str) -> Callable[..., Any]:
    """Return max_pool2d/avg_pool2d over (N, C, H, W) with autograd's NumPy, stride defaulting to the window."""

    def pool(x: Any, kernel_size: Any, stride: Any = None) -> Any:
        kernel = _pairs(kernel_size, 2)
        steps = kernel if stride is None else _pairs(stride, 2)
        out = [(n - k) // ss + 1 for n, k, ss in zip(x.shape[2:], kernel, steps)]
        windows = [x[(slice(None), slice(None)) + tuple(where)] for _, where in _taps(kernel, out, steps, (1, 1))]
        taps = anp.stack(windows)
        return anp.max(taps, axis=0) if kind == "max" else anp.mean(taps, axis=0)

    return pool


FRAMEWORK = Framework(
    name="autograd",
    adapter=__name__,
    constant=lambda array, dtype: np.array(array, dtype=dtype),
    to_numpy=np.asarray,
    vjp=_vjp,
    # make_vjp composes: under an outer make_vjp, the pullback runs on its boxes and is traced.
    # Order 2 only, as issue 20 asks of autograd: no jvp (autograd.make_jvp is left unchecked).
    differentiable_vjp=_vjp,
    ops={
        "add": anp.add,
        "subtract": anp.subtract,
        "multiply": anp.multiply,
        "divide": anp.divide,
        "maximum": anp.maximum,
        "negative": anp.negative,
        "exp": anp.exp,
        "log": anp.log,
        "sqrt": anp.sqrt,
        "tanh": anp.tanh,
        "sigmoid": special.expit,
        "relu": lambda x: anp.maximum(x, 0.0),
        "abs": anp.abs,
        "sin": anp.sin,
        "cos": anp.cos,
        "pow": anp.power,
        "matmul": anp.matmul,
        "matrix_transpose": lambda x: anp.swapaxes(x, -1, -2),
        "permute_dims": anp.transpose,
        "reshape": anp.reshape,
        "broadcast_to": anp.broadcast_to,
        "sum": anp.sum,
        "mean": anp.mean,
        "max": anp.max,
        "softmax": _softmax,
        "log_softmax": _log_softmax,
        "logsumexp": special.logsumexp,
        "log1p": anp.log1p,
        "cumulative_sum": anp.cumsum,
        "var": lambda x, axis=None, keepdims=False, correction=0.0: anp.var(
            x, axis=axis, keepdims=keepdims, ddof=correction
        ),
        "std": lambda x, axis=None, keepdims=False, correction=0.0: anp.std(
            x, axis=axis, keepdims=keepdims, ddof=correction
        ),
        "layer_norm": _layer_norm,
        "conv1d": _convolution(1),
        "conv2d": _convolution(2),
        "max_pool2d": _pool("max"),
        "avg_pool2d": _pool("avg"),
        "leaky_relu": _leaky_relu,
        "elu": _elu,
        "gelu": _gelu,
        "softplus": lambda x: anp.logaddexp(0.0, x),
        "expm1": anp.expm1,
        "clip": _clip,
        "take": _take,
        "getitem": lambda x, key: x[key],
        "where": anp.where,
        "flip": _flip,
        "pad": _pad,
        # anp.power takes a tensor exponent too: pow's tensor form (pow_tensor) needs no entry.
        "concat": lambda xs, axis=0: anp.concatenate(xs, axis=axis),
        "stack": lambda xs, axis=0: anp.stack(xs, axis=axis),
        "einsum": anp.einsum,
        "cross_entropy": _cross_entropy,
    },
)

make_engine = engine_factory(FRAMEWORK)
engine64 = make_engine("float64")
engine32 = make_engine("float32")


def __getattr__(attribute: str) -> Any:
    # The module is the float64 engine: `gradcheck check gradcheck.adapters.autograd`.
    return module_attribute(engine64, __name__, attribute)
