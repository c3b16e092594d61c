"""PyTorch as an engine (docs/contract.md, section 1): every op of gradcheck, in float32 or float64.

Needs ``pip install "gradcheck[torch]"`` (a CPU-only build of PyTorch is
enough, and far smaller than the CUDA one).
Ops run eagerly and are recorded; ``grad`` replays them from fresh leaves
that require grad and asks ``torch.autograd.grad`` for the VJP (see
``gradcheck.adapters._recording``): PyTorch has a tape, but replaying keeps
each case's graph its own, and a ``torch.autograd.Function``'s ``forward``
and ``backward`` run exactly as in training. The module is itself the
float64 engine; ``engine32`` and ``engine64`` are the two dtypes, and
``make_engine`` substitutes your own function for any op::

    gradcheck check gradcheck.adapters.torch
    gradcheck check gradcheck.adapters.torch:engine32

.. code-block:: pycon

    >>> import torch
    >>> from gradcheck.adapters.torch import make_engine
    >>> class Exp(torch.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         out = torch.exp(x)
    ...         ctx.save_for_backward(out)
    ...         return out
    ...     @staticmethod
    ...     def backward(ctx, g):
    ...         (out,) = ctx.saved_tensors
    ...         return g * out
    >>> engine = make_engine("float32", ops={"exp": Exp.apply})
    >>> gradcheck.assert_gradients(engine, "exp")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from gradcheck.adapters._recording import Framework, engine_factory, module_attribute, require

__all__ = ["FRAMEWORK", "engine32", "engine64", "make_engine"]

torch = require("torch", framework="PyTorch", adapter=__name__, install='pip install "gradcheck[torch]"')


def _constant(array: np.ndarray, dtype: str) -> Any:
    return torch.tensor(array, dtype=getattr(torch, dtype))


def _vjp(function: Callable[..., Any], primals: Sequence[Any], cotangent: Any) -> Sequence[Any]:
    leaves = [primal.detach().clone().requires_grad_(True) for primal in primals]
    with torch.enable_grad():
        out = function(*leaves)
    if not out.requires_grad:  # y does not depend on any of xs
        return [None] * len(leaves)
    return torch.autograd.grad(out, leaves, grad_outputs=cotangent, allow_unused=True)


def _reduction(reduce: Callable[..., Any]) -> Callable[..., Any]:
    """Return ``reduce(x, dim, keepdim)`` with NumPy's ``(x, axis=None, keepdims=False)``."""

    def reduction(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        # None is every axis, spelled out: PyTorch reads an empty dim differently across ops.
        dims = tuple(range(x.dim())) if axis is None else axis if isinstance(axis, tuple) else (axis,)
        return reduce(x, dim=dims, keepdim=keepdims)

    return reduction


def _cumulative_sum(x: Any, axis: Any = None) -> Any:
    # NumPy's axis=None scans the flattened array; torch.cumsum needs a dim.
    return torch.cumsum(torch.reshape(x, (-1,)), dim=0) if axis is None else torch.cumsum(x, dim=axis)


def _moment(reduce: Callable[..., Any]) -> Callable[..., Any]:
    """Return ``torch.var``/``torch.std`` with NumPy's ``(x, axis=None, keepdims=False)`` and ``correction``."""

    def moment(x: Any, axis: Any = None, keepdims: bool = False, correction: float = 0.0) -> Any:
        dims = tuple(range(x.dim())) if axis is None else axis if isinstance(axis, tuple) else (axis,)
        return reduce(x, dim=dims, correction=correction, keepdim=keepdims)

    return moment


def _layer_norm(x: Any, axis: int = -1, eps: float = 1e-5) -> Any:
    # torch's layer_norm normalizes trailing axes: move the axis last and back.
    moved = torch.movedim(x, axis, -1)
    normed = torch.nn.functional.layer_norm(moved, (moved.shape[-1],), eps=eps)
    return torch.movedim(normed, -1, axis)


FRAMEWORK = Framework(
    name="PyTorch",
    adapter=__name__,
    constant=_constant,
    to_numpy=lambda tensor: tensor.detach().cpu().numpy(),
    vjp=_vjp,
    ops={
        "add": torch.add,
        "subtract": torch.subtract,
        "multiply": torch.multiply,
        "divide": torch.divide,
        "maximum": torch.maximum,
        "negative": torch.negative,
        "exp": torch.exp,
        "log": torch.log,
        "sqrt": torch.sqrt,
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "relu": torch.relu,
        "abs": torch.abs,
        "sin": torch.sin,
        "cos": torch.cos,
        "pow": torch.pow,
        "matmul": torch.matmul,
        "matrix_transpose": lambda x: torch.transpose(x, -1, -2),
        "permute_dims": lambda x, axes: torch.permute(x, tuple(axes)),
        "reshape": lambda x, shape: torch.reshape(x, tuple(shape)),
        "broadcast_to": lambda x, shape: torch.broadcast_to(x, tuple(shape)),
        "sum": _reduction(torch.sum),
        "mean": _reduction(torch.mean),
        "max": _reduction(torch.amax),
        "softmax": lambda x, axis=-1: torch.softmax(x, dim=axis),
        "log_softmax": lambda x, axis=-1: torch.log_softmax(x, dim=axis),
        "logsumexp": _reduction(torch.logsumexp),
        "log1p": torch.log1p,
        "cumulative_sum": _cumulative_sum,
        "var": _moment(torch.var),
        "std": _moment(torch.std),
        "layer_norm": _layer_norm,
        "leaky_relu": lambda x, negative_slope=0.01: torch.nn.functional.leaky_relu(x, negative_slope),
        "elu": lambda x, alpha=1.0: torch.nn.functional.elu(x, alpha),
        "gelu": torch.nn.functional.gelu,  # exact (erf) by default
        "softplus": torch.nn.functional.softplus,
        "expm1": torch.expm1,
        "clip": lambda x, min=None, max=None: torch.clip(x, min, max),
        # torch.pow takes a tensor exponent too: pow's tensor form (pow_tensor) needs no entry.
        "concat": lambda xs, axis=0: torch.cat(xs, dim=axis),
        "stack": lambda xs, axis=0: torch.stack(xs, dim=axis),
        "einsum": torch.einsum,
        # reduction="mean" by default: the mean over the N rows, as the contract's.
        "cross_entropy": lambda logits, labels: torch.nn.functional.cross_entropy(logits, torch.as_tensor(labels)),
    },
)

make_engine = engine_factory(FRAMEWORK)
engine64 = make_engine("float64")
engine32 = make_engine("float32")


def __getattr__(attribute: str) -> Any:
    # The module is the float64 engine: `gradcheck check gradcheck.adapters.torch`.
    return module_attribute(engine64, __name__, attribute)
