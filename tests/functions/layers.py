"""NumPy layers with hand-written VJPs: each correct one, and planted bugs next to it.

A VJP is ``grad_fn(*arrays, cotangent)`` returning one gradient per array.
"""

import numpy as np
from hypothesis import strategies as st

EPSILON = 1e-2


def _sum_to(g, shape):
    """Sum ``g`` down to ``shape``, as broadcasting to g's shape stretched it."""
    g = np.sum(g, axis=tuple(range(g.ndim - len(shape))))
    stretched = tuple(axis for axis, size in enumerate(shape) if size == 1 and g.shape[axis] != 1)
    return np.sum(g, axis=stretched, keepdims=True)


# --- softplus, fused ---------------------------------------------------------------


def softplus(x):
    return np.logaddexp(0.0, x)


def softplus_vjp(x, cotangent):
    return (cotangent / (1.0 + np.exp(-x)),)


def softplus_vjp_sign(x, cotangent):
    return (-cotangent / (1.0 + np.exp(-x)),)


def softplus_forward_shifted(x):
    return np.log(1.0 + np.exp(x)) + 1e-2  # a forward bug a reference_fn catches


# --- a bias add that broadcasts -----------------------------------------------------------


def bias_add(x, b):
    return 2.0 * x + b


def bias_add_vjp(x, b, cotangent):
    return _sum_to(2.0 * cotangent, x.shape), _sum_to(cotangent, b.shape)


def bias_add_vjp_unsummed(x, b, cotangent):
    return _sum_to(2.0 * cotangent, x.shape), cotangent  # forgot to sum over b's broadcast axes


def bias_add_vjp_scribbles(x, b, cotangent):
    cotangent *= 2.0  # writes into the cotangent it was handed
    return _sum_to(cotangent, x.shape), _sum_to(cotangent / 2.0, b.shape)


# --- batched matmul ------------------------------------------------------------------------

# Sides of 2 half the time: every axis the same size is where an axis-order bug
# gives wrong numbers instead of a shape error.
_SIDE = st.just(2) | st.integers(1, 3)

#: ``(batch, m, n), (batch, n, p)``: stacks of matrices with one batch axis.
matmul_stacks = st.tuples(_SIDE, _SIDE, _SIDE, _SIDE).map(
    lambda sides: ((sides[0], sides[1], sides[2]), (sides[0], sides[2], sides[3]))
)


def batched_matmul(a, b):
    return a @ b


def batched_matmul_vjp(a, b, cotangent):
    return cotangent @ np.swapaxes(b, -1, -2), np.swapaxes(a, -1, -2) @ cotangent


def batched_matmul_vjp_transpose_all(a, b, cotangent):
    # np.transpose reverses every axis: right on matrices, wrong on a batch of them.
    return cotangent @ np.transpose(b), np.transpose(a) @ cotangent


# --- a 1-D convolution (valid correlation) ------------------------------------------------

#: ``(n,), (m,)`` with ``m <= n``: a signal and a kernel.
conv1d_shapes = st.integers(1, 3).flatmap(lambda m: st.integers(m, 5).map(lambda n: ((n,), (m,))))


def conv1d(x, w):
    n, m = x.shape[0], w.shape[0]
    return np.array([np.dot(x[i:i + m], w) for i in range(n - m + 1)])


def conv1d_vjp(x, w, cotangent):
    n, m = x.shape[0], w.shape[0]
    dx, dw = np.zeros_like(x), np.zeros_like(w)
    for i in range(n - m + 1):
        dx[i:i + m] += cotangent[i] * w
        dw += cotangent[i] * x[i:i + m]
    return dx, dw


def conv1d_vjp_window_off_by_one(x, w, cotangent):
    # Each window of the gradient w.r.t. x starts one to the right (and is cut at the end).
    n, m = x.shape[0], w.shape[0]
    dx, dw = np.zeros_like(x), np.zeros_like(w)
    for i in range(n - m + 1):
        room = max(0, min(m, n - i - 1))
        dx[i + 1:i + 1 + room] += cotangent[i] * w[:room]
        dw += cotangent[i] * x[i:i + m]
    return dx, dw


# --- layer norm with a learned scale ---------------------------------------------------------

#: ``(..., d), (d,)``: the activations and the per-feature scale.
layernorm_shapes = st.tuples(
    st.lists(st.integers(1, 2), max_size=2), st.integers(1, 4)
).map(lambda drawn: ((*drawn[0], drawn[1]), (drawn[1],)))


def layernorm(x, gamma):
    mean = np.mean(x, axis=-1, keepdims=True)
    variance = np.var(x, axis=-1, keepdims=True)
    return gamma * (x - mean) / np.sqrt(variance + EPSILON)


def layernorm_vjp(x, gamma, cotangent):
    mean = np.mean(x, axis=-1, keepdims=True)
    inverse = 1.0 / np.sqrt(np.var(x, axis=-1, keepdims=True) + EPSILON)
    normalized = (x - mean) * inverse
    g = cotangent * gamma
    grad_x = inverse * (g - np.mean(g, axis=-1, keepdims=True)
                        - normalized * np.mean(g * normalized, axis=-1, keepdims=True))
    grad_gamma = _sum_to(cotangent * normalized, gamma.shape)
    return grad_x, grad_gamma


# --- a scalar loss -----------------------------------------------------------------------------


def mse(prediction, target):
    return np.mean((prediction - target) ** 2)


def mse_vjp(prediction, target, cotangent):
    grad = 2.0 * cotangent * (prediction - target) / max(prediction.size, 1)
    return grad, -grad


# --- functions that fail in other ways ---------------------------------------------------------


def rowsum(x):
    if x.ndim == 1:
        raise ValueError("rowsum needs a matrix")
    return np.sum(x, axis=-1)


def rowsum_vjp(x, cotangent):
    return (np.broadcast_to(cotangent[..., None], x.shape).copy(),)


def not_a_function_either():
    return "nothing to see"


NOT_A_STRATEGY = 3
