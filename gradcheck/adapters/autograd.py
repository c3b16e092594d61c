"""HIPS autograd as an engine (docs/contract.md, section 1): every op of gradcheck, in float32 or float64.

Needs ``pip install "gradcheck[autograd]"`` (autograd, and SciPy for
``autograd.scipy.special``). autograd traces a function's NumPy calls, so
ops run eagerly on plain arrays and are recorded, and ``grad`` replays them
as a function of the inputs under ``autograd.make_vjp`` (see
``gradcheck.adapters._recording``). The module is itself the float64 engine;
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

from typing import Any, Callable, Sequence

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


FRAMEWORK = Framework(
    name="autograd",
    adapter=__name__,
    constant=lambda array, dtype: np.array(array, dtype=dtype),
    to_numpy=np.asarray,
    vjp=_vjp,
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
        "leaky_relu": _leaky_relu,
        "elu": _elu,
        "gelu": _gelu,
        "softplus": lambda x: anp.logaddexp(0.0, x),
        "expm1": anp.expm1,
        "clip": _clip,
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
