"""Convolution and pooling: conv1d, conv2d, max_pool2d and avg_pool2d (docs/contract.md, section 1b).

Layouts and conventions are PyTorch's: ``x`` is (N, C, L) or (N, C, H, W),
``w`` is (O, C, K) or (O, C, kH, kW), the convolution is a cross-correlation
(the kernel is not flipped), ``padding`` adds zeros on both sides of each
spatial axis, ``dilation`` spaces the kernel's taps; conv2d's ``stride``,
``padding`` and ``dilation`` and pooling's ``kernel_size`` and ``stride``
are ints or (height, width) pairs. Pooling has no padding and its stride
defaults to its kernel size.

Both forwards of each row also accept extra leading axes, matched between
``x`` and ``w`` (a stack of independent convolutions, one per leading
index): that is the rows' batching rule (``OpSpec.stacked``), how the
oracles answer for a batch of value sets in one call.

This module imports only NumPy; ``tf`` is passed to the TensorFlow forwards.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from gradcheck._opspec import DISTINCT, FREE, OpSpec, Param, Shapes, Slip, Stacked

__all__ = ["ROWS", "output_sizes", "pairs"]

_SPATIAL = "hw"  # einsum letters of the spatial axes (conv1d uses the first one)


def pairs(value: Any, count: int) -> tuple[int, ...]:
    """Return an int-or-tuple geometry parameter as ``count`` ints (``pairs(2, 2) == (2, 2)``)."""
    if isinstance(value, (tuple, list)):
        if len(value) != count:
            raise ValueError(f"{value!r} has {len(value)} entries where {count} spatial axes were meant")
        return tuple(int(v) for v in value)
    return (int(value),) * count


def output_sizes(sizes: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...],
                 padding: tuple[int, ...], dilation: tuple[int, ...]) -> tuple[int, ...]:
    """Return the output's spatial sizes (PyTorch's formula); ValueError if one is below 1."""
    out = tuple((size + 2 * p - d * (k - 1) - 1) // s + 1
                for size, k, s, p, d in zip(sizes, kernel, stride, padding, dilation))
    if min(out, default=1) < 1 or min((*stride, *dilation, *kernel), default=1) < 1 or min(padding, default=0) < 0:
        raise ValueError(f"no output: sizes {sizes}, kernel {kernel}, stride {stride}, padding {padding}, "
                         f"dilation {dilation}")
    return out


def _taps(offsets: tuple[int, ...], out: tuple[int, ...], stride: tuple[int, ...],
          dilation: tuple[int, ...]) -> tuple[slice, ...]:
    """Return the (padded) input entries that kernel tap ``offsets`` meets, one per output entry."""
    return tuple(slice(o * d, o * d + s * (n - 1) + 1, s) for o, n, s, d in zip(offsets, out, stride, dilation))


# --- NumPy float64 forwards (finite differences evaluate these) --------------


def _conv_geometry(x: np.ndarray, w: np.ndarray, spatial: int, stride: Any, padding: Any, dilation: Any):
    if x.ndim < spatial + 2 or w.ndim != x.ndim or x.shape[-spatial - 1] != w.shape[-spatial - 1]:
        raise ValueError(f"conv{spatial}d takes x (N, C, ...) and w (O, C, ...) with {spatial} spatial axes; "
                         f"got {x.shape} and {w.shape}")
    s, p, d = pairs(stride, spatial), pairs(padding, spatial), pairs(dilation, spatial)
    out = output_sizes(x.shape[-spatial:], w.shape[-spatial:], s, p, d)
    return s, p, d, out


def _pad(x: np.ndarray, padding: tuple[int, ...]) -> np.ndarray:
    return np.pad(x, [(0, 0)] * (x.ndim - len(padding)) + [(p, p) for p in padding])


def _convolution(spatial: int):
    letters = _SPATIAL[:spatial]

    def convolve(x: np.ndarray, w: np.ndarray, stride: Any = 1, padding: Any = 0, dilation: Any = 1) -> np.ndarray:
        # Cross-correlation tap by tap: out[n, o, i] = sum over c, k of w[o, c, k] * x_padded[n, c, i*s + k*d].
        s, p, d, out = _conv_geometry(x, w, spatial, stride, padding, dilation)
        padded = _pad(np.asarray(x, dtype=np.float64), p)
        result = np.zeros((*x.shape[:-spatial - 1], w.shape[-spatial - 2], *out))
        lead = (slice(None),) * (x.ndim - spatial)
        for offsets in itertools.product(*(range(k) for k in w.shape[-spatial:])):
            window = padded[lead + _taps(offsets, out, s, d)]
            result += np.einsum(f"...nc{letters},...oc->...no{letters}", window, w[(Ellipsis,) + tuple(offsets)])
        return result

    return convolve


def _pool_geometry(x: np.ndarray, kernel_size: Any, stride: Any):
    if x.ndim < 4:
        raise ValueError(f"2-D pooling takes x (N, C, H, W); got {x.shape}")
    k = pairs(kernel_size, 2)
    s = k if stride is None else pairs(stride, 2)
    return k, s, output_sizes(x.shape[-2:], k, s, (0, 0), (1, 1))


def _windows(x: np.ndarray, kernel_size: Any, stride: Any) -> list[np.ndarray]:
    """Return, per window tap, the entry of each window at that tap (each of the output's shape)."""
    k, s, out = _pool_geometry(x, kernel_size, stride)
    lead = (slice(None),) * (x.ndim - 2)
    return [x[lead + _taps(offsets, out, s, (1, 1))] for offsets in itertools.product(range(k[0]), range(k[1]))]


def _max_pool2d(x: np.ndarray, kernel_size: Any, stride: Any = None) -> np.ndarray:
    return np.maximum.reduce(_windows(np.asarray(x, dtype=np.float64), kernel_size, stride))


def _avg_pool2d(x: np.ndarray, kernel_size: Any, stride: Any = None) -> np.ndarray:
    taps = _windows(np.asarray(x, dtype=np.float64), kernel_size, stride)
    return np.add.reduce(taps) / len(taps)


# --- TensorFlow forwards ------------------------------------------------------


def _leading(tf: Any, function: Any, rank: int, *tensors: Any) -> Any:
    """Apply ``function`` to each index of the leading axes beyond ``rank`` (the stacked cases), or once."""
    if tensors[0].shape.rank == rank:
        return function(*tensors)
    flat = [tf.reshape(t, [-1, *t.shape[-rank:]]) for t in tensors]
    results = tf.stack([function(*parts) for parts in zip(*(tf.unstack(t) for t in flat))])
    return tf.reshape(results, [*tensors[0].shape[:-rank], *results.shape[1:]])


def _dilated_kernel(tf: Any, w: Any, dilation: tuple[int, ...]) -> Any:
    """Return ``w`` (spatial axes first) with ``d - 1`` zeros between taps along each spatial axis.

    TensorFlow's CPU kernels differentiate no dilation rate above 1, so the
    dilated kernel is built explicitly (a pad and a reshape per axis, which
    the tape differentiates) and convolved with dilation 1.
    """
    for axis, d in enumerate(dilation):
        if d == 1:
            continue
        size = w.shape[axis]
        spread = tf.expand_dims(w, axis + 1)
        widths = [[0, 0]] * spread.shape.rank
        widths[axis + 1] = [0, d - 1]
        spread = tf.pad(spread, widths)
        shape = [*w.shape[:axis], size * d, *w.shape[axis + 1:]]
        w = tf.reshape(spread, shape)[(slice(None),) * axis + (slice(0, (size - 1) * d + 1),)]
    return w


def _tf_convolution(spatial: int):
    def convolve(tf: Any, x: Any, w: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1) -> Any:
        # tf.nn.conv1d/conv2d on CPU take channels last and no dilation with
        # a stride (nor differentiate any dilation): transpose to NWC/NHWC,
        # pad explicitly, convolve VALID with an explicitly dilated kernel.
        s, p, d = pairs(stride, spatial), pairs(padding, spatial), pairs(dilation, spatial)
        last = [0, *range(2, spatial + 2), 1]
        first = [0, spatial + 1, *range(1, spatial + 1)]
        kernel_last = [*range(2, spatial + 2), 1, 0]

        def one(x: Any, w: Any) -> Any:
            padded = tf.pad(x, [[0, 0], [0, 0], *([q, q] for q in p)])
            kernel = _dilated_kernel(tf, tf.transpose(w, kernel_last), d)
            channels_last = tf.transpose(padded, last)
            if spatial == 1:
                y = tf.nn.conv1d(channels_last, kernel, stride=list(s), padding="VALID")
            else:
                y = tf.nn.conv2d(channels_last, kernel, strides=list(s), padding="VALID")
            return tf.transpose(y, first)

        if x.shape.rank == spatial + 2:
            return one(x, w)
        return _block_diagonal(tf, one, spatial, x, w)

    return convolve


def _block_diagonal(tf: Any, convolve: Any, spatial: int, x: Any, w: Any) -> Any:
    """Return ``convolve`` of each leading index of ``x`` with the same index of ``w``, in one convolution.

    The k stacked inputs' channels are put side by side (k * C channels) and
    convolved with a block-diagonal kernel (k * O, k * C, ...): block (i, i)
    is case i's weight, the others exact zeros. One TensorFlow convolution,
    instead of k, answers for the k cases (grouped convolutions, the usual
    way, have no float64 gradient on CPU).
    """
    lead, rank = x.shape[:-spatial - 2], spatial + 2
    xs, ws = tf.reshape(x, [-1, *x.shape[-rank:]]), tf.reshape(w, [-1, *w.shape[-rank:]])
    k, n, c, o = xs.shape[0], xs.shape[1], xs.shape[2], ws.shape[1]
    sizes, taps = list(xs.shape[3:]), _SPATIAL[:spatial]
    side_by_side = tf.reshape(tf.transpose(xs, [1, 0, *range(2, rank + 1)]), [n, k * c, *sizes])
    blocks = tf.einsum(f"ij,ioc{taps}->iojc{taps}", tf.eye(k, dtype=w.dtype), ws)
    y = convolve(side_by_side, tf.reshape(blocks, [k * o, k * c, *ws.shape[3:]]))
    y = tf.transpose(tf.reshape(y, [n, k, o, *y.shape[2:]]), [1, 0, *range(2, rank + 1)])
    return tf.reshape(y, [*lead, *y.shape[1:]])


def _tf_pool(kind: str):
    def pool(tf: Any, x: Any, kernel_size: Any, stride: Any = None) -> Any:
        k = pairs(kernel_size, 2)
        s = k if stride is None else pairs(stride, 2)
        function = tf.nn.max_pool2d if kind == "max" else tf.nn.avg_pool2d

        def one(x: Any) -> Any:
            y = function(tf.transpose(x, [0, 2, 3, 1]), ksize=list(k), strides=list(s), padding="VALID")
            return tf.transpose(y, [0, 3, 1, 2])

        return _leading(tf, one, 4, x)

    return pool


# --- Batching rules -----------------------------------------------------------


def _stack_conv(shapes: Shapes, params: dict[str, Any], k: int) -> Stacked:
    # Both forwards take a leading axis on x and w together as k independent
    # convolutions (w differs per case, so it cannot fold into N).
    return shapes, params


def _stack_pool(shapes: Shapes, params: dict[str, Any], k: int) -> Stacked:
    # Pooling treats every (n, c) alike: the k cases' N * C planes become the
    # channels of one call whose batch axis is the stacking axis.
    n, c, h, w = shapes[0]
    return ((n * c, h, w),), params


# --- Wrong rules (``Slip(..., many=True)``: they need x and w) -----------------


def _conv_vjp(g: np.ndarray, x: np.ndarray, w: np.ndarray, params: dict[str, Any], *, stride_used: bool = True,
              crop_start: bool = False, flipped: bool = False, cropped: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Return (dx, dw) of the convolution, or of one of its classic wrong backwards.

    Each kernel tap sends ``g`` back to the input entries it met (scatter-add)
    and collects ``g * x`` for the weight. ``stride_used=False`` places the
    output entries 1 apart instead of ``stride`` apart; ``crop_start`` cuts
    the padded input's gradient at the start ([:H]) instead of the middle
    ([p:p+H]); ``flipped`` reads the kernel back to front (a convolution for
    a cross-correlation); ``cropped=False`` returns the padded input's
    gradient itself.
    """
    spatial = w.ndim - 2
    letters = _SPATIAL[:spatial]
    s, p, d, out = _conv_geometry(x, w, spatial, params["stride"], params["padding"], params["dilation"])
    scatter = s if stride_used else (1,) * spatial
    padded = _pad(np.asarray(x, dtype=np.float64), p)
    d_padded = np.zeros_like(padded)
    dw = np.zeros(w.shape)
    for offsets in itertools.product(*(range(k) for k in w.shape[2:])):
        tap = tuple(k - 1 - o for k, o in zip(w.shape[2:], offsets)) if flipped else offsets
        where = (slice(None), slice(None)) + _taps(offsets, out, scatter, d)
        d_padded[where] += np.einsum(f"no{letters},oc->nc{letters}", g, w[(slice(None), slice(None)) + tuple(tap)])
        dw[(slice(None), slice(None)) + tuple(tap)] += np.einsum(f"no{letters},nc{letters}->oc", g, padded[where])
    if not cropped:
        return d_padded, dw
    sizes = x.shape[2:]
    crop = tuple(slice(0, n) if crop_start else slice(q, q + n) for q, n in zip(p, sizes))
    return d_padded[(slice(None), slice(None)) + crop], dw


_Grads = tuple[np.ndarray | None, ...]


def _stride_ignored(g: np.ndarray, inputs: tuple[np.ndarray, ...], y: np.ndarray,
                    params: dict[str, Any]) -> _Grads:
    x, w = inputs
    return _conv_vjp(g, x, w, params, stride_used=False)


def _crop_at_start(g: np.ndarray, inputs: tuple[np.ndarray, ...], y: np.ndarray,
                   params: dict[str, Any]) -> _Grads:
    x, w = inputs
    return _conv_vjp(g, x, w, params, crop_start=True)[0], None


def _not_cropped(g: np.ndarray, inputs: tuple[np.ndarray, ...], y: np.ndarray,
                 params: dict[str, Any]) -> _Grads:
    x, w = inputs
    return _conv_vjp(g, x, w, params, cropped=False)[0], None


def _kernel_flipped(g: np.ndarray, inputs: tuple[np.ndarray, ...], y: np.ndarray,
                    params: dict[str, Any]) -> _Grads:
    x, w = inputs
    return _conv_vjp(g, x, w, params, flipped=True)


def _to_whole_window(g: np.ndarray, x: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """Return each window's ``g`` added to every entry of its window (avg pool's rule without the division)."""
    k, s, out = _pool_geometry(x, params["kernel_size"], params["stride"])
    dx = np.zeros(x.shape)
    for offsets in itertools.product(range(k[0]), range(k[1])):
        dx[(Ellipsis,) + _taps(offsets, out, s, (1, 1))] += g
    return dx


def _conv_rows() -> tuple[OpSpec, ...]:
    rows = []
    for spatial in (1, 2):
        kernel = "K" if spatial == 1 else "kH, kW"
        pairs_note = "" if spatial == 1 else " (ints or (height, width) pairs)"
        rows.append(OpSpec(
            f"conv{spatial}d",
            ("x", "w"),
            _convolution(spatial),
            _tf_convolution(spatial),
            shapes=f"conv{spatial}d",
            params=(Param("stride", 1), Param("padding", 0), Param("dilation", 1)),
            param_rule=f"conv{spatial}d",
            domains=(FREE, FREE),
            # An output entry sums C * kernel size products; a weight's
            # gradient sums N * output size (the size ratio says that part).
            contraction=lambda shapes, params: int(np.prod(shapes[1][1:])),
            stacked=_stack_conv,
            vjp_rules=(
                f"each output entry's g sent back through the kernel to the input entries it read: "
                f"dx_padded[n, c, i*stride + k*dilation] += g[n, o, i] * w[o, c, k], then cropped to "
                f"dx_padded[..., padding:padding + size] per spatial axis{pairs_note}",
                f"dw[o, c, k] = sum over n, i of g[n, o, i] * x_padded[n, c, i*stride + k*dilation] "
                f"(w is ({'O, C, ' + kernel}))",
            ),
            slips=(
                Slip("the backward with output entries 1 apart (stride ignored)",
                     "dx_padded[n, c, i*stride + k*dilation] += g[n, o, i] * w[o, c, k]",
                     "the stride is ignored in the backward: output entry i read the input from "
                     "i*stride on, so its gradient goes back there, not to i",
                     _stride_ignored, many=True),
                Slip("dx_padded (the padded input's gradient, not cropped)",
                     "dx_padded[..., padding:padding + size]",
                     "the padding is not cropped: the gradient of the padded input must drop `padding` "
                     "entries at both ends of each spatial axis to be x's",
                     _not_cropped, many=True),
                Slip("dx_padded[..., :size] (cropped at the start)", "dx_padded[..., padding:padding + size]",
                     "the padding is not cropped right: the gradient of the padded input must drop "
                     "`padding` entries at both ends of each spatial axis, not keep the first `size`",
                     _crop_at_start, many=True),
                Slip("the kernel flipped in the backward (w[o, c, K - 1 - k])", "w[o, c, k] (not flipped)",
                     "the kernel is flipped: the forward is a cross-correlation (PyTorch's conv), whose "
                     "backward uses the same taps w[o, c, k]; flipping belongs to a true convolution",
                     _kernel_flipped, many=True),
            ),
        ))
    return tuple(rows)


_POOL_PARAMS = (Param("kernel_size"), Param("stride", None))

ROWS: tuple[OpSpec, ...] = (
    *_conv_rows(),
    OpSpec(
        "max_pool2d",
        ("x",),
        _max_pool2d,
        _tf_pool("max"),
        shapes="pool2d",
        params=_POOL_PARAMS,
        param_rule="pool2d",
        # No ties in a window: every value distinct, computed ones TIE_GAP apart.
        domains=(DISTINCT,),
        stacked=_stack_pool,
        vjp_rules=("each window's g to the position of its maximum only (added up where windows overlap)",),
        slips=(
            Slip("g copied to every entry of its window", "g at the position of each window's maximum only",
                 "the pooling gradient is routed to the whole window instead of only to its maximum "
                 "(x == max of the window)",
                 lambda g, x, y, params: _to_whole_window(g, x, params)),
        ),
    ),
    OpSpec(
        "avg_pool2d",
        ("x",),
        _avg_pool2d,
        _tf_pool("avg"),
        shapes="pool2d",
        params=_POOL_PARAMS,
        param_rule="pool2d",
        domains=(FREE,),
        contraction=lambda shapes, params: int(np.prod(pairs(params["kernel_size"], 2))),
        stacked=_stack_pool,
        vjp_rules=("each window's g / (kH * kW) added to every entry of its window",),
        slips=(
            Slip("g copied to every entry of its window", "g / (kH * kW) to every entry of its window",
                 "the average pool's gradient is not divided by the window size kH * kW",
                 lambda g, x, y, params: _to_whole_window(g, x, params)),
        ),
    ),
)
