"""Convolution and pooling geometry: operand shapes, then the parameters that fit them.

Every drawn geometry is valid by construction (each output has at least one
entry) and the features backward rules get wrong are common: a stride above
1, padding, dilation, kernels that are not square, ``C_in != C_out``, a batch
of one and of two; pooling windows that tile the input exactly and windows
that leave a remainder. Sizes stay small: a conv2d case has at most a few
hundred entries.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from gradcheck.strategies._validation import check_int, check_shape

__all__ = ["conv_params", "conv_shapes", "conv_weight_shapes", "pool_params", "pool_shapes"]

#: Largest batch, channel count and kernel side drawn.
MAX_BATCH, MAX_CHANNELS, MAX_KERNEL = 2, 3, 3
#: Largest stride, padding and dilation drawn.
MAX_STRIDE, MAX_PADDING, MAX_DILATION = 3, 2, 3
#: Pooling inputs' spatial sides.
POOL_SIDES = (2, 6)


def _bounded(cap: int, max_side: int, min_side: int) -> st.SearchStrategy[int]:
    """Return integers from 1 to ``cap``, narrowed to ``[min_side, max_side]`` where that leaves any."""
    high = max(1, min(cap, max_side))
    return st.integers(min(max(1, min_side), high), high)


def conv_weight_shapes(x_shape: tuple[int, ...], *, max_channels: int = MAX_CHANNELS,
                       max_kernel: int = MAX_KERNEL) -> st.SearchStrategy[tuple[int, ...]]:
    """Return a strategy for the weight shape (O, C, *kernel) of a convolution of ``x_shape`` (N, C, *sizes).

    Kernel sides are at most the input's (padding then only widens the choice).

    .. code-block:: pycon

        >>> conv_weight_shapes((2, 3, 5, 4)).example()  # doctest: +SKIP
        (2, 3, 3, 1)
    """
    x_shape = check_shape("x_shape", x_shape)
    if len(x_shape) < 3:
        raise InvalidArgument(f"x_shape={x_shape!r} must be (N, C, *sizes) with at least one spatial axis.")
    max_channels = check_int("max_channels", max_channels, 1)
    max_kernel = check_int("max_kernel", max_kernel, 1)
    kernels = [st.integers(1, max(1, min(max_kernel, side))) for side in x_shape[2:]]
    return st.tuples(st.integers(1, max_channels), st.just(x_shape[1]), *kernels)


@st.composite
def _conv_shapes(draw: st.DrawFn, spatial: int, max_side: int, min_side: int):
    batch = draw(_bounded(MAX_BATCH, max_side, min_side))
    channels_in, channels_out = draw(_bounded(MAX_CHANNELS, max_side, min_side)), draw(
        _bounded(MAX_CHANNELS, max_side, min_side))
    kernel = [draw(st.integers(1, MAX_KERNEL)) for _ in range(spatial)]
    # From the kernel's side to room for a dilated kernel and a stride or two.
    sizes = [draw(st.integers(k, 2 * k + 3)) for k in kernel]
    return (batch, channels_in, *sizes), (channels_out, channels_in, *kernel)


def conv_shapes(spatial: int, *, max_side: int = 4,
                min_side: int = 1) -> st.SearchStrategy[tuple[tuple[int, ...], ...]]:
    """Return a strategy for ``(x_shape, w_shape)`` of conv1d (``spatial=1``) or conv2d (``spatial=2``).

    ``max_side`` and ``min_side`` bound the batch and channel counts (at most
    2 and 3); spatial sides follow the drawn kernel, from its side to twice
    it plus 3, room for dilation and strides (``conv_params``).

    .. code-block:: pycon

        >>> conv_shapes(2).example()  # doctest: +SKIP
        ((2, 3, 5, 7), (1, 3, 2, 3))
    """
    if spatial not in (1, 2):
        raise InvalidArgument(f"spatial={spatial!r} must be 1 (conv1d) or 2 (conv2d).")
    return _conv_shapes(spatial, check_int("max_side", max_side, 1), check_int("min_side", min_side, 1))


def _axis_options(size: int, kernel: int, padding: int) -> list[int]:
    """Return the dilations that fit a kernel of ``kernel`` taps into ``size + 2 * padding`` entries."""
    return [d for d in range(1, MAX_DILATION + 1) if (kernel - 1) * d + 1 <= size + 2 * padding]


def _one_of(options: list[int]) -> st.SearchStrategy[int]:
    # No option: a kernel wider than the padded input (fixed shapes), a case of nothing.
    return st.sampled_from(options) if options else st.nothing()


@st.composite
def _conv_params(draw: st.DrawFn, x_shape: tuple[int, ...], w_shape: tuple[int, ...]) -> dict[str, Any]:
    sizes, kernel = x_shape[2:], w_shape[2:]
    spatial = len(sizes)
    # conv2d: one value for both axes (as an int, or a pair of equal ints)
    # half of the time, a (height, width) pair of its own per axis otherwise.
    shared = spatial == 1 or draw(st.booleans())
    if shared:
        padding = draw(st.integers(0, MAX_PADDING))
        dilations = [d for d in range(1, MAX_DILATION + 1)
                     if all(d in _axis_options(n, k, padding) for n, k in zip(sizes, kernel))]
        dilation = draw(_one_of(dilations))
        stride = draw(st.integers(1, MAX_STRIDE))
        as_pair = spatial == 2 and draw(st.booleans())
        return {name: (value, value) if as_pair else value
                for name, value in (("stride", stride), ("padding", padding), ("dilation", dilation))}
    paddings = tuple(draw(st.integers(0, MAX_PADDING)) for _ in sizes)
    dilation_pair = tuple(draw(_one_of(_axis_options(n, k, p))) for n, k, p in zip(sizes, kernel, paddings))
    strides = tuple(draw(st.integers(1, MAX_STRIDE)) for _ in sizes)
    return {"stride": strides, "padding": paddings, "dilation": dilation_pair}


def conv_params(shapes: tuple[tuple[int, ...], ...]) -> st.SearchStrategy[dict[str, Any]]:
    """Return a strategy for ``stride``, ``padding`` and ``dilation`` of a convolution of ``shapes`` (x, w).

    Padding up to 2, dilation up to 3 where the dilated kernel fits the
    padded input, stride up to 3: every draw has an output.

    .. code-block:: pycon

        >>> conv_params(((1, 2, 7, 5), (3, 2, 3, 2))).example()  # doctest: +SKIP
        {'stride': (2, 1), 'padding': (1, 0), 'dilation': (2, 3)}
    """
    x_shape, w_shape = (check_shape("shapes", shape) for shape in shapes)
    return _conv_params(x_shape, w_shape)


def pool_shapes(*, max_side: int = 4, min_side: int = 1) -> st.SearchStrategy[tuple[tuple[int, ...], ...]]:
    """Return a strategy for ``(x_shape,)`` of 2-D pooling: (N, C, H, W) with H and W from 2 to 6.

    .. code-block:: pycon

        >>> pool_shapes().example()  # doctest: +SKIP
        ((1, 2, 5, 4),)
    """
    max_side, min_side = check_int("max_side", max_side, 1), check_int("min_side", min_side, 1)
    side = st.integers(*POOL_SIDES)
    return st.tuples(_bounded(MAX_BATCH, max_side, min_side), _bounded(MAX_CHANNELS, max_side, min_side),
                     side, side).map(lambda shape: (shape,))


@st.composite
def _pool_params(draw: st.DrawFn, height: int, width: int) -> dict[str, Any]:
    kernels = [(kh, kw) for kh in range(1, min(MAX_KERNEL, height) + 1) for kw in range(1, min(MAX_KERNEL, width) + 1)]
    # A third of the time the default stride (None: the kernel size), else any
    # stride up to 3, which makes windows that overlap common too.
    default_stride = draw(st.integers(0, 2)) == 2
    steps = range(1, MAX_STRIDE + 1)
    options = [(kh, kw, kh, kw) if default_stride else (kh, kw, sh, sw)
               for kh, kw in kernels for sh in ((kh,) if default_stride else steps)
               for sw in ((kw,) if default_stride else steps)]
    # Windows that tile each axis exactly, and windows that leave entries
    # over (which no window reads, so their gradient is 0): half each, where both exist.
    tiling = [option for option in options
              if (height - option[0]) % option[2] == 0 and (width - option[1]) % option[3] == 0]
    remainder = [option for option in options if option not in tiling]
    leave_remainder = bool(remainder) and draw(st.booleans())
    kh, kw, sh, sw = draw(st.sampled_from(remainder if leave_remainder else tiling))
    kernel: Any = kh if kh == kw and draw(st.booleans()) else (kh, kw)
    if default_stride:
        stride: Any = None
    else:
        stride = sh if sh == sw and draw(st.booleans()) else (sh, sw)
    return {"kernel_size": kernel, "stride": stride}


def pool_params(shape: tuple[int, ...]) -> st.SearchStrategy[dict[str, Any]]:
    """Return a strategy for ``kernel_size`` and ``stride`` of 2-D pooling of ``shape`` (N, C, H, W).

    Windows up to 3 by 3 inside the input, strides up to 3 or None (the
    kernel size); exact tilings and remainders half the time each.

    .. code-block:: pycon

        >>> pool_params((1, 1, 5, 4)).example()  # doctest: +SKIP
        {'kernel_size': (2, 3), 'stride': None}
    """
    shape = check_shape("shape", shape)
    if len(shape) != 4:
        raise InvalidArgument(f"shape={shape!r} must be (N, C, H, W).")
    return _pool_params(shape[2], shape[3])
