"""PyTorch as an engine (docs/contract.md, section 1): every op of gradcheck, in float32 or float64.

Needs ``pip install "gradcheck[torch]"`` (a CPU-only build of PyTorch is
enough, and far smaller than the CUDA one).
Ops run eagerly and are recorded; ``grad`` replays them from fresh leaves
that require grad and asks ``torch.autograd.grad`` for the VJP (see
``gradcheck.adapters._recording``): PyTorch has a tape, but replaying keeps
each case's graph its own, and a ``torch.autograd.Function``'s ``forward``
and ``backward`` run exactly as in training. Order 2: ``grad(...,
create_graph=True)`` returns nodes whose replay is ``torch.autograd.grad(...,
create_graph=True)``, so a ``backward`` built from detached tensors shows a
zero second derivative. Forward mode: ``jvp`` runs the replay on
``torch.autograd.forward_ad`` dual tensors (an ``autograd.Function`` needs a
``jvp`` staticmethod there; ``make_engine(..., forward_mode=False)`` leaves
``jvp`` out). The module is itself the
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


def _differentiable_vjp(function: Callable[..., Any], primals: Sequence[Any], cotangent: Any) -> Sequence[Any]:
    # An outer replay's leaves are used as they are, so the gradient's graph reaches
    # them; a primal that is a constant there gets a leaf of its own.
    leaves = [primal if primal.requires_grad else primal.detach().requires_grad_(True) for primal in primals]
    with torch.enable_grad():
        out = function(*leaves)
        if not out.requires_grad:
            return [None] * len(leaves)
        # A gradient with no graph (a backward built from detached values) is a
        # constant to the outer VJP: its second derivative is zero, as in training.
        return torch.autograd.grad(out, leaves, grad_outputs=cotangent, create_graph=True, allow_unused=True)


def _jvp(function: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any]) -> Any:
    # Dual tensors rather than torch.func.jvp: an autograd.Function with a jvp
    # staticmethod works with either, one with the older forward(ctx, ...) only here.
    with torch.autograd.forward_ad.dual_level():
        duals = [torch.autograd.forward_ad.make_dual(p, t) for p, t in zip(primals, tangents)]
        return torch.autograd.forward_ad.unpack_dual(function(*duals)).tangent


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


def _positions(indices: np.ndarray, length: int) -> Any:
    # NumPy counts negative indices from the end; index_select does not.
    return torch.as_tensor(np.where(indices < 0, indices + length, indices), dtype=torch.int64)


def _take(x: Any, indices: np.ndarray, axis: Any = None) -> Any:
    if axis is None:
        flat = torch.reshape(x, (-1,))
        return torch.reshape(torch.index_select(flat, 0, _positions(np.ravel(indices), flat.shape[0])),
                             indices.shape)
    picked = torch.index_select(x, axis, _positions(np.ravel(indices), x.shape[axis]))
    axis %= x.dim()
    return torch.reshape(picked, (*x.shape[:axis], *indices.shape, *x.shape[axis + 1:]))


def _getitem(x: Any, key: Any) -> Any:
    # PyTorch has no negative slice steps: such an axis is flipped and sliced forward.
    # The integer array goes through index_select after the basic entries; where NumPy
    # puts its axis first (ints and the array not adjacent), it is moved there.
    entries = key if isinstance(key, tuple) else (key,)
    named = sum(1 for entry in entries if entry is not None and entry is not Ellipsis)
    x_axis = out_axis = 0
    flipped, basic, gather = [], [], None
    for entry in entries:
        if entry is Ellipsis:
            x_axis, out_axis = x_axis + x.dim() - named, out_axis + x.dim() - named
        elif entry is None:
            out_axis += 1
        elif isinstance(entry, int):
            x_axis += 1
            basic.append(entry)
            continue
        elif isinstance(entry, np.ndarray):
            gather = (out_axis, _positions(entry, x.shape[x_axis]))
            entry = slice(None)
        elif entry.step is not None and entry.step < 0:
            length = x.shape[x_axis]
            start, stop, step = entry.indices(length)
            flipped.append(x_axis)
            entry = slice(length - 1 - start, length - 1 - stop, -step)
        if entry is not None and entry is not Ellipsis:
            x_axis, out_axis = x_axis + 1, out_axis + 1
        basic.append(entry)
    result = (torch.flip(x, dims=flipped) if flipped else x)[tuple(basic)]
    if gather is None:
        return result
    result = torch.index_select(result, gather[0], gather[1])
    advanced = [index for index, entry in enumerate(entries) if isinstance(entry, (int, np.ndarray))]
    if advanced != list(range(advanced[0], advanced[-1] + 1)):
        result = torch.movedim(result, gather[0], 0)
    return result


def _pad(x: Any, pad_width: Any) -> Any:
    # torch.nn.functional.pad lists (before, after) pairs from the last axis back.
    pairs = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (x.dim(), 2))
    flat = [int(side) for before, after in reversed(pairs.tolist()) for side in (before, after)]
    return torch.nn.functional.pad(x, flat)


def _flip(x: Any, axis: Any = None) -> Any:
    dims = tuple(range(x.dim())) if axis is None else axis if isinstance(axis, tuple) else (axis,)
    return torch.flip(x, dims=dims)


FRAMEWORK = Framework(
    name="PyTorch",
    adapter=__name__,
    constant=_constant,
    # force: a second derivative PyTorch knows is zero (abs's) is a ZeroTensor, which .numpy() refuses.
    to_numpy=lambda tensor: tensor.numpy(force=True),
    vjp=_vjp,
    differentiable_vjp=_differentiable_vjp,
    jvp=_jvp,
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
        # PyTorch's own layouts and conventions, which docs/contract.md, section 1b follows.
        "conv1d": torch.nn.functional.conv1d,
        "conv2d": torch.nn.functional.conv2d,
        "max_pool2d": torch.nn.functional.max_pool2d,
        "avg_pool2d": torch.nn.functional.avg_pool2d,
        "leaky_relu": lambda x, negative_slope=0.01: torch.nn.functional.leaky_relu(x, negative_slope),
        "elu": lambda x, alpha=1.0: torch.nn.functional.elu(x, alpha),
        "gelu": torch.nn.functional.gelu,  # exact (erf) by default
        "softplus": torch.nn.functional.softplus,
        "expm1": torch.expm1,
        "clip": lambda x, min=None, max=None: torch.clip(x, min, max),
        "take": _take,
        "getitem": _getitem,
        "where": lambda condition, a, b: torch.where(torch.as_tensor(condition), a, b),
        "flip": _flip,
        "pad": _pad,
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
