"""JAX as an engine (docs/contract.md, section 1): every op of gradcheck, in float32 or float64.

Needs ``pip install "gradcheck[jax]"``. JAX has no tape: ops run eagerly and
are recorded, and ``grad`` replays them as a pure function of the inputs
under ``jax.vjp`` (see ``gradcheck.adapters._recording``). Order 2:
``grad(..., create_graph=True)`` returns nodes whose replay is ``jax.vjp``
again, which JAX differentiates. Forward mode: ``jvp`` is ``jax.jvp`` of the
replay (a ``jax.custom_vjp`` function has none: ``make_engine(...,
forward_mode=False)`` leaves ``jvp`` out). The module is
itself the float64 engine; ``engine32`` and ``engine64`` are the two dtypes,
and ``make_engine`` substitutes your own JAX function for any op::

    gradcheck check gradcheck.adapters.jax
    gradcheck check gradcheck.adapters.jax:engine32

.. code-block:: pycon

    >>> import jax, jax.numpy as jnp
    >>> from gradcheck.adapters.jax import make_engine
    >>> @jax.custom_vjp
    ... def my_sigmoid(x):
    ...     return jax.nn.sigmoid(x)
    >>> my_sigmoid.defvjp(lambda x: (my_sigmoid(x), my_sigmoid(x)),
    ...                   lambda s, g: (g * s * (1 - s),))
    >>> gradcheck.assert_gradients(make_engine("float32", ops={"sigmoid": my_sigmoid}), "sigmoid")  # doctest: +SKIP

float64: JAX computes in float32 unless ``jax_enable_x64`` is set. The
float64 engine sets it (``jax.config.update("jax_enable_x64", True)``) the
first time it makes a tensor, not on import: importing this module leaves
your JAX configuration alone until you use ``engine64``.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from gradcheck.adapters._recording import Framework, engine_factory, module_attribute, require

__all__ = ["FRAMEWORK", "engine32", "engine64", "make_engine"]

_INSTALL = 'pip install "gradcheck[jax]" (or pip install jax jaxlib)'
jax = require("jax", framework="JAX", adapter=__name__, install=_INSTALL)
jnp = require("jax.numpy", framework="JAX", adapter=__name__, install=_INSTALL)
jax_special = require("jax.scipy.special", framework="JAX", adapter=__name__, install=_INSTALL)


def _constant(array: np.ndarray, dtype: str) -> Any:
    if dtype == "float64" and not jax.config.jax_enable_x64:
        # Without it jnp.asarray silently makes float32: a float64 engine would not be one.
        jax.config.update("jax_enable_x64", True)
    return jnp.asarray(array, dtype=dtype)


def _vjp(function: Callable[..., Any], primals: Sequence[Any], cotangent: Any) -> Sequence[Any]:
    _, pullback = jax.vjp(function, *primals)
    return pullback(cotangent)


def _jvp(function: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any]) -> Any:
    return jax.jvp(function, tuple(primals), tuple(tangents))[1]


def _take(x: Any, indices: np.ndarray, axis: Any = None) -> Any:
    # Indexing, not jnp.take: jnp.take's default mode fills out-of-bound indices,
    # where indexing follows NumPy (negative indices from the end).
    if axis is None:
        return jnp.reshape(x, (-1,))[indices]
    return x[(slice(None),) * (axis % x.ndim) + (indices,)]

def _pairs(value: Any, count: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * count


def _convolution(spatial: int) -> Callable[..., Any]:
    """Return conv1d/conv2d with PyTorch's signature: lax.conv_general_dilated's default layouts are NC... and OI...."""

    def convolve(x: Any, w: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1) -> Any:
        return jax.lax.conv_general_dilated(
            x, w, window_strides=_pairs(stride, spatial), padding=[(p, p) for p in _pairs(padding, spatial)],
            rhs_dilation=_pairs(dilation, spatial),
        )

    return convolve


def _pool(kind: str) -> Callable[..., Any]:
    """Return max_pool2d/avg_pool2d (N, C, H, W) through lax.reduce_window, stride defaulting to the window."""

    def pool(x: Any, kernel_size: Any, stride: Any = None) -> Any:
        window = _pairs(kernel_size, 2)
        steps = window if stride is None else _pairs(stride, 2)
        dims, strides = (1, 1, *window), (1, 1, *steps)
        if kind == "max":
            return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, dims, strides, "VALID")
        return jax.lax.reduce_window(x, 0.0, jax.lax.add, dims, strides, "VALID") / (window[0] * window[1])

    return pool
def _cross_entropy(logits: Any, labels: Any) -> Any:
    # JAX has no cross-entropy of its own (optax has): written with jax.nn as a JAX user would.
    picked = jnp.take_along_axis(jax.nn.log_softmax(logits, axis=-1), jnp.asarray(labels)[:, None], axis=-1)
    return -jnp.mean(picked)


FRAMEWORK = Framework(
    name="JAX",
    adapter=__name__,
    constant=_constant,
    to_numpy=np.asarray,
    vjp=_vjp,
    # jax.vjp is itself differentiable: an outer jax.vjp traces through it.
    differentiable_vjp=_vjp,
    jvp=_jvp,
    ops={
        "add": jnp.add,
        "subtract": jnp.subtract,
        "multiply": jnp.multiply,
        "divide": jnp.divide,
        "maximum": jnp.maximum,
        "negative": jnp.negative,
        "exp": jnp.exp,
        "log": jnp.log,
        "sqrt": jnp.sqrt,
        "tanh": jnp.tanh,
        "sigmoid": jax.nn.sigmoid,
        "relu": jax.nn.relu,
        "abs": jnp.abs,
        "sin": jnp.sin,
        "cos": jnp.cos,
        "pow": jnp.power,
        "matmul": jnp.matmul,
        "matrix_transpose": jnp.matrix_transpose,
        "permute_dims": jnp.permute_dims,
        "reshape": jnp.reshape,
        "broadcast_to": jnp.broadcast_to,
        "sum": jnp.sum,
        "mean": jnp.mean,
        "max": jnp.max,
        "softmax": jax.nn.softmax,
        "log_softmax": jax.nn.log_softmax,
        "logsumexp": jax_special.logsumexp,
        "log1p": jnp.log1p,
        "cumulative_sum": jnp.cumsum,
        "var": lambda x, axis=None, keepdims=False, correction=0.0: jnp.var(
            x, axis=axis, keepdims=keepdims, ddof=correction
        ),
        "std": lambda x, axis=None, keepdims=False, correction=0.0: jnp.std(
            x, axis=axis, keepdims=keepdims, ddof=correction
        ),
        "layer_norm": lambda x, axis=-1, eps=1e-5: jax.nn.standardize(x, axis=axis, epsilon=eps),
        "conv1d": _convolution(1),
        "conv2d": _convolution(2),
        "max_pool2d": _pool("max"),
        "avg_pool2d": _pool("avg"),
        "leaky_relu": jax.nn.leaky_relu,
        "elu": jax.nn.elu,
        # jax.nn.gelu defaults to the tanh approximation; the contract's gelu is exact.
        "gelu": lambda x: jax.nn.gelu(x, approximate=False),
        "softplus": jax.nn.softplus,
        "expm1": jnp.expm1,
        # Positional bounds: jnp.clip renamed a_min/a_max to min/max in JAX 0.4.27.
        "clip": lambda x, min=None, max=None: jnp.clip(x, min, max),
        "take": _take,
        "getitem": lambda x, key: x[key],
        "where": jnp.where,
        "flip": jnp.flip,
        "pad": jnp.pad,
        # jnp.power takes a tensor exponent too: pow's tensor form (pow_tensor) needs no entry.
        "concat": lambda xs, axis=0: jnp.concatenate(xs, axis=axis),
        "stack": lambda xs, axis=0: jnp.stack(xs, axis=axis),
        "einsum": jnp.einsum,
        "cross_entropy": _cross_entropy,
    },
)

make_engine = engine_factory(FRAMEWORK)
engine64 = make_engine("float64")
engine32 = make_engine("float32")


def __getattr__(attribute: str) -> Any:
    # The module is the float64 engine: `gradcheck check gradcheck.adapters.jax`.
    return module_attribute(engine64, __name__, attribute)
