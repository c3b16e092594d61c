"""Engines with one planted bug each, for testing gradcheck itself.

Each module of this package builds ``engine`` from the reference
`gradcheck.examples.numpy_engine` with one rule (or the traversal) replaced,
says the bug in its docstring, and names the op that shows it (``OP``) and the
docs/contract.md, section 3 failure category a checker should report (``CATEGORY``). A module
imports nothing from ``tests``, so ``gradcheck check tests/engines/NAME.py:engine``
loads it as a file.

``PLANTED`` lists the bugs one op shows; ``PLANTED_TRAVERSALS`` the bugs in
the backward pass, which only programs that reuse a value show (their ``op``
is ``None``). Several bugs show more than one category depending on the
shapes (see the module docstrings); ``category`` is the one the bug is about.
``tests/test_planted_sanity.py`` proves each bug against ``tf.GradientTape``
without gradcheck.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any, NamedTuple

__all__ = ["PLANTED", "PLANTED_TRAVERSALS", "Planted"]


class Planted(NamedTuple):
    """One planted-bug engine: ``(id, engine, op, category)``."""

    id: str
    engine: Any
    op: str | None
    category: str


_OP_BUGS = (
    # the question's bug, and matmul's other classic
    "matmul_transpose_all_axes",
    "matmul_2d_only",
    # broadcasting
    "add_no_unbroadcast",
    "multiply_leading_axes_only",
    "broadcast_to_no_sum",
    # wrong local derivative
    "multiply_swapped_operands",
    "multiply_ignores_cotangent",
    "subtract_sign",
    "divide_missing_minus",
    "maximum_routes_both",
    "negative_sign",
    "log_derivative_squared",
    "log1p_derivative_of_log",
    "leaky_relu_slope_ignored",
    "elu_alpha_missing",
    "clip_passes_gradient_outside",
    "tanh_derivative_of_input",
    "sigmoid_derivative_s",
    "abs_derivative_one",
    "cos_derivative_sign",
    "pow_derivative_p_x_p",
    # shape ops
    "matrix_transpose_no_swap",
    "permute_dims_not_inverse",
    "reshape_to_requested_shape",
    # reductions
    "sum_reduced_axes_first",
    "mean_missing_1_over_n",
    "mean_divides_by_size",
    "max_routes_to_all",
    "logsumexp_keepdims_twice",
    "softmax_diagonal_jacobian",
    "log_softmax_no_sum",
    # not a wrong gradient value
    "exp_forward_expm1",
    "softmax_ignores_axis",
    "matrix_transpose_forward_all_axes",
    "sqrt_nonfinite",
    "relu_inplace",
    # exceptions a rewrite of the same case avoids
    "sum_negative_axes_raises",
    "add_unbroadcast_raises",
    "maximum_broadcast_raises",
    # course ops: scans, variance, normalization
    "cumsum_not_reversed",
    "var_correction_ignored",
    "layer_norm_missing_term",
    # course ops: indexing
    "take_overwrites_repeats",
    "getitem_overwrites_repeats",
    "where_both_branches",
    "flip_not_flipped",
    "pad_not_cropped",
    "pad_cropped_wrong_side",
    # course ops: convolution and pooling
    "conv2d_stride_ignored",
    "conv2d_padding_cropped_at_start",
    "conv1d_kernel_flipped",
    "max_pool2d_routes_to_window",
    "avg_pool2d_not_divided",
    # course ops: lists of operands, losses, tensor exponents
    "concat_split_wrong_axis",
    "cross_entropy_missing_mean",
    "pow_tensor_missing_log",
)

_TRAVERSAL_BUGS = (
    "traversal_overwrites",
    "traversal_breadth_first",
    "traversal_early_exit",
)


def _load(names: tuple[str, ...]) -> list[Planted]:
    modules = [import_module(f"{__name__}.{name}") for name in names]
    return [Planted(name, module.engine, module.OP, module.CATEGORY)
            for name, module in zip(names, modules)]


#: Bugs a single op shows, as ``Planted(id, engine, op, category)``.
PLANTED: list[Planted] = _load(_OP_BUGS)

#: Bugs in the backward pass; ``op`` is ``None``: only programs show them.
PLANTED_TRAVERSALS: list[Planted] = _load(_TRAVERSAL_BUGS)
