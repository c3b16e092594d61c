"""Each planted bug is real: on one small hand-picked case its engine disagrees with TensorFlow.

This vouches for ``tests/engines`` without gradcheck's checker: the comparison
is a direct ``tf.GradientTape`` run (``tests/engines/_compare.py``). The
reference engine agrees with TensorFlow on the very same case, so the
disagreement is the planted rule's and nothing else's.
"""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck.examples import numpy_engine
from tests.engines import PLANTED, PLANTED_TRAVERSALS, Planted
from tests.engines._compare import discrepancies, op_program, sample

# The question's batched operands: (2, 2, 2) @ (2, 2), where a transpose over
# every axis and one over the last two differ.
QUESTION_X = np.array([[[1.0, 1.0], [2.0, 3.0]], [[4.0, 5.0], [6.0, 7.0]]])
QUESTION_Y = np.array([[3.0, -7.0], [-1.0, 5.0]])

MATRIX = sample((2, 3))  # has entries of both signs
ROW = sample((3,), seed=1)
OTHER_MATRIX = sample((2, 3), seed=1)
POSITIVE = sample((2, 3), low=0.25, high=3.0)
# conv2d's x (N, C, H, W) and w (O, C, kH, kW): C_in != C_out, a kernel that is not square.
IMAGES = sample((2, 2, 5, 6))
KERNELS = sample((3, 2, 2, 3), seed=1)

#: Where each planted bug shows: id -> (operands, static parameters).
CASES: dict[str, tuple[tuple[np.ndarray, ...], dict]] = {
    "matmul_transpose_all_axes": ((QUESTION_X, QUESTION_Y), {}),
    "matmul_2d_only": ((MATRIX, ROW), {}),
    "add_no_unbroadcast": ((MATRIX, ROW), {}),
    "multiply_leading_axes_only": ((MATRIX, ROW[np.newaxis, :]), {}),
    "broadcast_to_no_sum": ((ROW,), {"shape": (2, 3)}),
    "multiply_swapped_operands": ((MATRIX, OTHER_MATRIX), {}),
    "multiply_ignores_cotangent": ((MATRIX, OTHER_MATRIX), {}),
    "subtract_sign": ((MATRIX, OTHER_MATRIX), {}),
    "divide_missing_minus": ((MATRIX, POSITIVE), {}),
    "maximum_routes_both": ((MATRIX, ROW), {}),
    "negative_sign": ((MATRIX,), {}),
    "log_derivative_squared": ((POSITIVE,), {}),
    "log1p_derivative_of_log": ((POSITIVE,), {}),
    "leaky_relu_slope_ignored": ((MATRIX,), {"negative_slope": 0.2}),
    "elu_alpha_missing": ((MATRIX,), {"alpha": 0.5}),
    "clip_passes_gradient_outside": ((MATRIX,), {"min": -0.5, "max": 0.5}),
    "tanh_derivative_of_input": ((MATRIX,), {}),
    "sigmoid_derivative_s": ((MATRIX,), {}),
    "abs_derivative_one": ((MATRIX,), {}),
    "cos_derivative_sign": ((MATRIX,), {}),
    "pow_derivative_p_x_p": ((MATRIX,), {"p": 3.0}),
    "matrix_transpose_no_swap": ((MATRIX,), {}),
    "permute_dims_not_inverse": ((sample((2, 2, 2)),), {"axes": (1, 2, 0)}),
    "reshape_to_requested_shape": ((MATRIX,), {"shape": (3, 2)}),
    "sum_reduced_axes_first": ((sample((2, 2)),), {"axis": 1}),
    "mean_missing_1_over_n": ((MATRIX,), {"axis": 1}),
    "mean_divides_by_size": ((MATRIX,), {"axis": 1}),
    "max_routes_to_all": ((MATRIX,), {"axis": 1}),
    "logsumexp_keepdims_twice": ((MATRIX,), {"axis": 1, "keepdims": True}),
    "softmax_diagonal_jacobian": ((MATRIX,), {}),
    "log_softmax_no_sum": ((MATRIX,), {}),
    "exp_forward_expm1": ((MATRIX,), {}),
    "softmax_ignores_axis": ((MATRIX,), {"axis": 0}),
    # A cube: the reversed output has the right shape and wrong values.
    "matrix_transpose_forward_all_axes": ((sample((2, 2, 2)),), {}),
    "sum_negative_axes_raises": ((MATRIX,), {"axis": -1}),
    "add_unbroadcast_raises": ((MATRIX, ROW), {}),
    "maximum_broadcast_raises": ((MATRIX, ROW), {}),
    "sqrt_nonfinite": ((POSITIVE,), {}),
    "relu_inplace": ((MATRIX,), {}),
    "cumsum_not_reversed": ((MATRIX,), {"axis": -1}),
    "var_correction_ignored": ((MATRIX,), {"axis": 1, "correction": 1.0}),
    "layer_norm_missing_term": ((MATRIX,), {}),
    "take_overwrites_repeats": ((MATRIX,), {"indices": np.array([0, 2, -1, 0]), "axis": 1}),
    "getitem_overwrites_repeats": ((MATRIX,), {"key": (slice(None, None, -1), np.array([1, 1, -3]))}),
    "where_both_branches": ((MATRIX, ROW), {"condition": np.array([[True, False, True], [False, False, True]])}),
    "flip_not_flipped": ((MATRIX,), {"axis": -1}),
    "pad_not_cropped": ((MATRIX,), {"pad_width": ((1, 0), (0, 2))}),
    "pad_cropped_wrong_side": ((MATRIX,), {"pad_width": ((1, 0), (0, 2))}),
    "conv2d_stride_ignored": ((IMAGES, KERNELS), {"stride": 2}),
    "conv2d_padding_cropped_at_start": ((IMAGES, KERNELS), {"padding": 1}),
    "conv1d_kernel_flipped": ((sample((2, 2, 6)), sample((3, 2, 3), seed=1)), {}),
    "max_pool2d_routes_to_window": ((IMAGES,), {"kernel_size": 2}),
    "avg_pool2d_not_divided": ((IMAGES,), {"kernel_size": (2, 3), "stride": 1}),
    "concat_split_wrong_axis": ((MATRIX, OTHER_MATRIX), {"axis": 1}),
    "cross_entropy_missing_mean": ((MATRIX,), {"labels": np.array([2, 0])}),
    "pow_tensor_missing_log": ((POSITIVE, OTHER_MATRIX), {}),
}


def shared_value(ops, x):
    """``u = sin(x); u * exp(u)``: u is used twice, once one step further from the output."""
    u = ops.sin(x)
    return ops.multiply(u, ops.exp(u))


#: Where each planted traversal bug shows: id -> (program, operands).
TRAVERSAL_CASES = {
    "traversal_overwrites": (shared_value, (MATRIX,)),
    "traversal_breadth_first": (shared_value, (MATRIX,)),
    "traversal_early_exit": (shared_value, (MATRIX,)),
}


def _by_id(entries: list[Planted]):
    return pytest.mark.parametrize("planted", entries, ids=[entry.id for entry in entries])


def test_every_planted_bug_has_a_case():
    assert set(CASES) == {entry.id for entry in PLANTED}
    assert set(TRAVERSAL_CASES) == {entry.id for entry in PLANTED_TRAVERSALS}


@_by_id(PLANTED)
def test_planted_op_bug_disagrees_with_tensorflow(planted: Planted):
    inputs, params = CASES[planted.id]
    found = discrepancies(planted.engine, op_program(planted.op, params), inputs)
    assert planted.category in found, found


@_by_id(PLANTED)
def test_reference_engine_agrees_on_the_same_case(planted: Planted):
    inputs, params = CASES[planted.id]
    assert discrepancies(numpy_engine, op_program(planted.op, params), inputs) == {}


@_by_id(PLANTED_TRAVERSALS)
def test_planted_traversal_bug_disagrees_with_tensorflow(planted: Planted):
    program, inputs = TRAVERSAL_CASES[planted.id]
    assert planted.category in discrepancies(planted.engine, program, inputs)
    assert discrepancies(numpy_engine, program, inputs) == {}


@_by_id(PLANTED_TRAVERSALS)
def test_planted_traversal_bug_hides_from_single_ops(planted: Planted):
    # Why these need programs: one op's operands are distinct nodes.
    assert discrepancies(planted.engine, op_program("multiply"), (MATRIX, OTHER_MATRIX)) == {}
