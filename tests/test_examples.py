"""The bundled example engines: the NumPy reference, and the question's tape before and after its fix.

The reference engine is checked the micrograd way: every op computed twice, in
the engine and under ``tf.GradientTape``, on a table of small hand-picked
cases. The tapes are checked against the numbers the question printed.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from gradcheck.examples import numpy_engine, question_tape, question_tape_fixed
from gradcheck.ops import OP_NAMES, OPS
from tests.engines._compare import cotangent_like, discrepancies, engine_vjp, op_program, sample, tf_vjp

# --- the reference engine against TensorFlow ---------------------------------

POSITIVE = {"low": 0.25, "high": 3.0}


def case(op, *shapes, id, seed=0, domain=None, **params):
    """Return a table row: ``op`` on operands of ``shapes`` drawn from ``domain``."""
    inputs = tuple(sample(shape, seed=seed + i, **(domain or {})) for i, shape in enumerate(shapes))
    return pytest.param(op, inputs, params, id=f"{op}-{id}")


CASES = [
    case("add", (2, 3), (2, 3), id="same shape"),
    case("add", (2, 1, 3), (4, 1), id="(2,1,3)+(4,1) both broadcast"),
    case("add", (3,), (), id="scalar b"),
    case("subtract", (2, 3), (3,), id="(2,3)-(3,)"),
    case("subtract", (1, 3), (2, 1), id="(1,3)-(2,1) size-1 axes"),
    case("multiply", (2, 1, 3), (4, 1), id="(2,1,3)*(4,1)"),
    case("multiply", (3,), (2, 3), id="(3,)*(2,3)"),
    case("divide", (2, 3), (2, 1), id="(2,3)/(2,1)", domain=POSITIVE),
    case("maximum", (2, 3), (3,), id="(2,3),(3,)"),
    case("maximum", (2, 1), (1, 3), id="(2,1),(1,3)"),
    case("negative", (2, 3), id="(2,3)"),
    case("exp", (2, 3), id="(2,3)"),
    case("log", (2, 3), id="(2,3)", domain=POSITIVE),
    case("sqrt", (2, 3), id="(2,3)", domain=POSITIVE),
    case("tanh", (2, 3), id="(2,3)"),
    case("sigmoid", (2, 3), id="(2,3)"),
    case("sigmoid", (4,), id="saturated", domain={"low": -60.0, "high": 60.0}),
    case("relu", (2, 3), id="(2,3)"),
    case("abs", (2, 3), id="(2,3)"),
    case("sin", (2, 3), id="(2,3)"),
    case("cos", (2, 3), id="(2,3)"),
    case("pow", (2, 3), id="p=2", p=2.0),
    case("pow", (2, 3), id="p=3 negative base", p=3),
    case("pow", (2, 3), id="p=0.5", domain=POSITIVE, p=0.5),
    case("pow", (2, 3), id="p=-1.5", domain=POSITIVE, p=-1.5),
    case("pow", (2, 3), id="p=0", p=0.0),
    case("matmul", (2, 3), (3, 4), id="(2,3)@(3,4)"),
    case("matmul", (3,), (3, 4), id="(3,)@(3,4) 1-D a"),
    case("matmul", (2, 3), (3,), id="(2,3)@(3,) 1-D b"),
    case("matmul", (3,), (3,), id="(3,)@(3,) both 1-D"),
    case("matmul", (2, 1, 3), (3,), id="(2,1,3)@(3,)"),
    case("matmul", (2, 2, 2), (2, 2), id="(2,2,2)@(2,2) the question's"),
    case("matmul", (3,), (2, 3, 4), id="(3,)@(2,3,4)"),
    case("matmul", (2, 1, 2, 3), (4, 3, 2), id="(2,1,2,3)@(4,3,2) both batches broadcast"),
    case("matrix_transpose", (2, 3), id="(2,3)"),
    case("matrix_transpose", (2, 3, 4), id="(2,3,4)"),
    case("permute_dims", (2, 3, 4), id="3-cycle", axes=(1, 2, 0)),
    case("permute_dims", (2, 3), id="swap", axes=(1, 0)),
    case("reshape", (2, 3), id="(2,3)->(3,2)", shape=(3, 2)),
    case("reshape", (2, 3, 4), id="(2,3,4)->(-1,4)", shape=(-1, 4)),
    case("reshape", (6,), id="(6,)->(2,-1,1)", shape=(2, -1, 1)),
    case("broadcast_to", (3,), id="(3,)->(2,3) leading axis", shape=(2, 3)),
    case("broadcast_to", (2, 1), id="(2,1)->(4,2,3) leading and size-1", shape=(4, 2, 3)),
    case("broadcast_to", (), id="()->(2,2)", shape=(2, 2)),
    case("sum", (2, 3, 4), id="all"),
    case("sum", (2, 3, 4), id="axis=1", axis=1),
    case("sum", (2, 3, 4), id="axis=-1 keepdims", axis=-1, keepdims=True),
    case("sum", (2, 3, 4), id="axis=(0,2)", axis=(0, 2)),
    case("sum", (2, 3, 4), id="axis=(-1,0) keepdims", axis=(-1, 0), keepdims=True),
    case("sum", (2, 3), id="all keepdims", keepdims=True),
    case("mean", (2, 3, 4), id="all"),
    case("mean", (2, 3, 4), id="axis=1", axis=1),
    case("mean", (2, 3, 4), id="axis=(0,-1) keepdims", axis=(0, -1), keepdims=True),
    case("max", (2, 3, 4), id="all"),
    case("max", (2, 3, 4), id="axis=0", axis=0),
    case("max", (2, 3, 4), id="axis=-1", axis=-1),
    case("max", (2, 3, 4), id="axis=(1,2) keepdims", axis=(1, 2), keepdims=True),
    case("softmax", (2, 3), id="last axis"),
    case("softmax", (3, 4), id="axis=0", axis=0),
    case("softmax", (2, 3, 4), id="axis=1", axis=1),
    case("softmax", (2, 3), id="large values", domain={"low": 500.0, "high": 900.0}),
    case("log_softmax", (2, 3), id="last axis"),
    case("log_softmax", (2, 3, 4), id="axis=-2", axis=-2),
    case("log_softmax", (2, 3), id="large values", domain={"low": 500.0, "high": 900.0}),
    case("logsumexp", (2, 3), id="all"),
    case("logsumexp", (2, 3), id="axis=1 keepdims", axis=1, keepdims=True),
    case("logsumexp", (2, 3, 4), id="axis=(0,2)", axis=(0, 2)),
    case("logsumexp", (2, 3), id="large values", domain={"low": 500.0, "high": 900.0}, axis=-1),
    case("log1p", (2, 3), id="(2,3)", domain={"low": -0.75, "high": 3.0}),
    case("cumulative_sum", (2, 3), id="flattened"),
    case("cumulative_sum", (2, 3, 4), id="axis=1", axis=1),
    case("cumulative_sum", (2, 3), id="axis=-1", axis=-1),
    case("var", (2, 3, 4), id="all"),
    case("var", (2, 3, 4), id="axis=1 correction=1", axis=1, correction=1.0),
    case("var", (2, 3, 4), id="axis=(0,-1) keepdims correction=1", axis=(0, -1), keepdims=True, correction=1.0),
    case("std", (2, 3, 4), id="all correction=1", correction=1.0),
    case("std", (2, 3), id="axis=-1 keepdims", axis=-1, keepdims=True),
    case("layer_norm", (2, 3), id="last axis"),
    case("layer_norm", (2, 3, 4), id="axis=1", axis=1),
    case("layer_norm", (4, 3), id="axis=-2", axis=-2),
    case("conv1d", (2, 3, 7), (4, 3, 3), id="defaults"),
    case("conv1d", (1, 2, 9), (3, 2, 2), id="stride=2 padding=1 dilation=3", stride=2, padding=1, dilation=3),
    case("conv2d", (2, 3, 5, 6), (2, 3, 2, 3), id="non-square kernel"),
    case("conv2d", (1, 2, 7, 6), (3, 2, 3, 2), id="stride=(2,1) padding=(1,2)", stride=(2, 1), padding=(1, 2)),
    case("conv2d", (2, 1, 8, 7), (2, 1, 2, 3), id="stride=2 dilation=(2,3)", stride=2, dilation=(2, 3)),
    case("max_pool2d", (2, 3, 4, 6), id="2x2 tiles", kernel_size=2),
    case("max_pool2d", (1, 2, 5, 7), id="(2,3) stride=(2,1) remainder", kernel_size=(2, 3), stride=(2, 1)),
    case("avg_pool2d", (2, 2, 6, 6), id="3x3 tiles", kernel_size=3),
    case("avg_pool2d", (1, 3, 5, 4), id="(3,2) stride=1 overlapping", kernel_size=(3, 2), stride=1),
    case("leaky_relu", (2, 3), id="default slope"),
    case("leaky_relu", (2, 3, 2), id="negative_slope=0.2", negative_slope=0.2),
    case("elu", (2, 3), id="default alpha"),
    case("elu", (3, 2), id="alpha=0.5", alpha=0.5),
    case("gelu", (2, 3), id="(2,3)"),
    case("softplus", (2, 3), id="(2,3)"),
    case("expm1", (2, 3), id="(2,3)"),
    case("clip", (2, 3), id="both bounds", min=-0.5, max=0.5),
    case("clip", (4,), id="min only", min=-0.5),
    case("clip", (2, 2), id="max only", max=0.5),
    case("take", (2, 3), id="flattened repeats", indices=np.array([0, 5, 0, -1])),
    case("take", (2, 3, 2), id="axis=1 2-D indices", indices=np.array([[2, -1], [0, 2]]), axis=1),
    case("getitem", (3, 4), id="negative step and repeats", key=(slice(None, None, -2), np.array([1, 1, -1]))),
    case("getitem", (2, 3, 4), id="int, None, array: array first", key=(0, None, np.array([2, 2]))),
    case("getitem", (2, 3, 4), id="ellipsis and ints", key=(Ellipsis, slice(-1, 0, -1), -2)),
    case("where", (2, 3), (3,), id="condition broadcast", condition=np.array([[True], [False]])),
    case("where", (2, 1), (), id="condition stretches a", condition=np.array([True, False, True])),
    case("flip", (2, 3, 2), id="axes (0,-1)", axis=(0, -1)),
    case("flip", (2, 3), id="every axis"),
    case("pad", (2, 3), id="pair per axis", pad_width=((1, 0), (0, 2))),
    case("pad", (3,), id="one int", pad_width=2),
    case("concat", (2, 3), (2, 1), (2, 2), id="axis=1 sizes 3,1,2", axis=1),
    case("concat", (2, 3), (1, 3), id="axis=-2", axis=-2),
    case("concat", (3,), id="one operand"),
    case("stack", (2, 3), (2, 3), id="axis=0"),
    case("stack", (2, 3), (2, 3), (2, 3), id="axis=-1", axis=-1),
    case("einsum", (2, 3), (3, 4), id="matmul", subscripts="ij,jk->ik"),
    case("einsum", (2, 3), (3, 2), id="transposed output", subscripts="ij,jk->ki"),
    case("einsum", (3, 3), id="trace", subscripts="ii->"),
    case("einsum", (3, 3, 2), id="diagonal", subscripts="iij->ji"),
    case("einsum", (2, 2, 3), (2, 3, 4), (4,), id="batch and 3 operands", subscripts="bij,bjk,k->bi"),
    case("einsum", (2, 3), id="axis summed alone", subscripts="ij->i"),
    case("pow_tensor", (2, 3), (2, 3), id="same shape", domain=POSITIVE),
    case("pow_tensor", (2, 3), (3,), id="broadcast y", domain=POSITIVE),
    case("cross_entropy", (3, 4), id="repeated labels", labels=np.array([1, 3, 1])),
    case("cross_entropy", (1, 2), id="one row", labels=np.array([0])),
]


def test_the_table_covers_every_contract_op():
    # pow_tensor is the engine's pow with a tensor exponent.
    assert set(numpy_engine.REFERENCE_OPS) == {OPS[op].engine_function for op in OP_NAMES}
    assert {row.values[0] for row in CASES} == set(OP_NAMES)


@pytest.mark.parametrize(("op", "inputs", "params"), CASES)
def test_reference_engine_matches_tensorflow(op, inputs, params):
    assert discrepancies(numpy_engine, op_program(op, params), inputs) == {}


@pytest.mark.parametrize(("op", "inputs", "params"), CASES)
def test_float32_engine_computes_in_float32(op, inputs, params):
    program = op_program(op, params)
    expected_value, expected_grads, cotangent = tf_vjp(program, inputs)
    value, grads = engine_vjp(numpy_engine.engine32, program, inputs, cotangent)
    assert value.dtype == np.float32
    assert [g.dtype for g in grads] == [np.float32] * len(grads)
    # Loose: float32 rounding, amplified by exp on the large-value rows.
    np.testing.assert_allclose(value, expected_value, rtol=1e-5, atol=1e-5)
    for actual, expected in zip(grads, expected_grads):
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("op", "inputs", "params"), CASES)
def test_engine_never_writes_into_its_inputs(op, inputs, params):
    handed = [np.array(x) for x in inputs]
    y = op_program(op, params)(numpy_engine, *(numpy_engine.variable(x) for x in handed))
    numpy_engine.grad(y, [], cotangent_like(numpy_engine.value(y).shape))
    for after, before in zip(handed, inputs):
        np.testing.assert_array_equal(after, before)


def test_variable_copies_the_callers_array():
    array = np.array([1.0, -2.0])
    x = numpy_engine.variable(array)
    array[0] = 99.0
    assert numpy_engine.value(x).tolist() == [1.0, -2.0]


@pytest.mark.parametrize(("op", "inputs", "params"), CASES)
def test_two_grad_calls_give_the_same_answer(op, inputs, params):
    xs = [numpy_engine.variable(x) for x in inputs]
    y = op_program(op, params)(numpy_engine, *xs)
    cotangent = cotangent_like(y.shape)
    first = numpy_engine.grad(y, xs, cotangent)
    second = numpy_engine.grad(y, xs, cotangent)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_gradients_do_not_leak_between_outputs():
    x = numpy_engine.variable(np.array([1.0, 2.0]))
    numpy_engine.grad(numpy_engine.exp(x), [x], np.ones(2))
    unrelated = numpy_engine.variable(np.array(3.0))
    (gx,) = numpy_engine.grad(numpy_engine.negative(unrelated), [x], np.array(1.0))
    assert gx.tolist() == [0.0, 0.0]


def test_omitted_cotangent_means_ones():
    x = numpy_engine.variable(np.array([1.0, 2.0]))
    (gx,) = numpy_engine.grad(numpy_engine.multiply(x, x), [x])
    assert gx.tolist() == [2.0, 4.0]


def reused_values(ops, x, y):
    """x feeds three nodes and u two, along paths of different lengths."""
    u = ops.multiply(x, y)
    return ops.sum(ops.add(ops.multiply(u, ops.exp(u)), ops.sin(x)), axis=0)


def test_gradients_of_a_reused_value_accumulate():
    inputs = (sample((2, 3)), sample((3,), seed=1))
    assert discrepancies(numpy_engine, reused_values, inputs) == {}


def test_backward_pass_replaces_the_traversal():
    swept = []

    def recording_sweep(y, seed):
        swept.append(y)
        numpy_engine.reverse_sweep(y, seed)

    engine = numpy_engine.make_engine(backward_pass=recording_sweep)
    x = engine.variable(np.array([1.0, 2.0]))
    y = engine.sin(x)
    (gx,) = engine.grad(y, [x], np.ones(2))
    assert swept == [y]
    np.testing.assert_allclose(gx, np.cos([1.0, 2.0]))


def test_overrides_replace_one_op_only():
    def add(a, b):
        return numpy_engine.node(a.data + b.data, (a, b), lambda g: (g, g))

    engine = numpy_engine.make_engine(overrides={"add": add})
    assert engine.add is add
    assert engine.multiply is numpy_engine.multiply


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"dtype": "float16"}, "dtype='float16'", id="dtype"),
        pytest.param({"overrides": {"plus": None}}, "overrides=['plus']", id="unknown override"),
    ],
)
def test_make_engine_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        numpy_engine.make_engine(**kwargs)


def test_the_module_is_a_float64_engine():
    assert numpy_engine.name == "numpy reference engine"
    assert numpy_engine.dtype == "float64"
    assert (numpy_engine.engine64.dtype, numpy_engine.engine32.dtype) == ("float64", "float32")
    for op in OP_NAMES:
        assert callable(getattr(numpy_engine, OPS[op].engine_function)), op
        assert callable(getattr(numpy_engine.engine32, OPS[op].engine_function)), op


@pytest.mark.parametrize(
    ("g", "shape", "expected"),
    [
        pytest.param(np.ones((2, 3, 4)), (3, 1), np.full((3, 1), 8.0), id="leading and size-1"),
        pytest.param(np.ones((2, 3)), (), np.array(6.0), id="to scalar"),
        pytest.param(np.ones((2, 3)), (2, 3), np.ones((2, 3)), id="unchanged"),
        pytest.param(np.ones((2, 1)), (1, 1), np.full((1, 1), 2.0), id="size-1 kept"),
    ],
)
def test_unbroadcast(g, shape, expected):
    np.testing.assert_array_equal(numpy_engine.unbroadcast(g, shape), expected)


# --- the question's tape, before and after the accepted answer's fix ---------

X = np.array([[[1.0, 1.0], [2.0, 3.0]], [[4.0, 5.0], [6.0, 7.0]]])
Y = np.array([[3.0, -7.0], [-1.0, 5.0]])
Z = np.array([[[1, 1], [2.0, 2]], [[3, 3], [-1, -1]]])

#: What the question's tape printed for d w / d x, y, z.
QUESTION_PRINTED = (
    [[[-5, 7], [-5, 7]], [[-5, 7], [-5, 7]]],
    [[33, 22], [54, 36]],
    [[[9, 9], [14, 14]], [[-5, -5], [-6, -6]]],
)
#: What the question printed for TensorFlow's gradients.
TENSORFLOW_PRINTED = (
    [[[-22, 18], [-22, 18]], [[32, -16], [32, -16]]],
    [[66, -8], [80, -8]],
    [[[5, 5], [-1, -1]], [[18, 18], [-10, -10]]],
)


def chained_product(ops, x, y, z):
    """The question's ``w = matmul(matmul(x, y), z)``."""
    return ops.matmul(ops.matmul(x, y), z)


def question_gradients(tape):
    """Return ``gradient(w, v)`` for v in x, y, z, called as the question calls it."""
    x, y, z = (tape.variable(v) for v in (X, Y, Z))
    w = chained_product(tape, x, y, z)
    return [tape.gradient(w, v).numpy() for v in (x, y, z)]


def test_live_tensorflow_gives_the_numbers_the_question_printed():
    x, y, z = (tf.constant(v, dtype=tf.float32) for v in (X, Y, Z))
    with tf.GradientTape() as tape:
        tape.watch([x, y, z])
        w = tf.matmul(tf.matmul(x, y), z)
    grads = tape.gradient(w, [x, y, z])
    for actual, printed in zip(grads, TENSORFLOW_PRINTED):
        np.testing.assert_array_equal(actual.numpy(), printed)


def test_question_tape_reproduces_the_questions_wrong_numbers():
    for actual, printed in zip(question_gradients(question_tape), QUESTION_PRINTED):
        assert actual.dtype == np.float32
        np.testing.assert_array_equal(actual, printed)


def test_fixed_tape_gives_tensorflows_numbers():
    for actual, printed in zip(question_gradients(question_tape_fixed), TENSORFLOW_PRINTED):
        np.testing.assert_array_equal(actual, printed)


@pytest.mark.parametrize(
    ("tape", "agrees"),
    [pytest.param(question_tape, False, id="question"), pytest.param(question_tape_fixed, True, id="fixed")],
)
def test_tape_grad_seeds_the_cotangent(tape, agrees):
    inputs = tuple(v.astype(np.float32) for v in (X, Y, Z))
    _, expected, cotangent = tf_vjp(chained_product, inputs)
    _, actual = engine_vjp(tape, chained_product, inputs, cotangent)
    same = all(np.allclose(a, e, rtol=1e-6) for a, e in zip(actual, expected))
    assert same == agrees


def test_tapes_are_float32_engines_with_matmul_only():
    for tape in (question_tape, question_tape_fixed):
        assert tape.dtype == "float32"
        assert tape.name
        assert [op for op in OP_NAMES if hasattr(tape, op)] == ["matmul"]


def test_fixed_tape_still_rejects_1d_operands():
    # Faithful: the question's forward is tf.matmul, which has no 1-D semantics.
    with pytest.raises(tf.errors.InvalidArgumentError):
        question_tape_fixed.matmul(question_tape_fixed.variable(np.ones(2)),
                                   question_tape_fixed.variable(np.ones((2, 2))))


def test_fixed_tape_still_misses_size_1_batch_axes():
    # Faithful: the question's unbroadcast sums leading axes only.
    a = question_tape_fixed.variable(np.ones((1, 2, 2)))
    b = question_tape_fixed.variable(np.ones((3, 2, 2)))
    (ga,) = question_tape_fixed.grad(question_tape_fixed.matmul(a, b), [a], np.ones((3, 2, 2)))
    assert ga.shape == (3, 2, 2)


def square(ops, x):
    """``x @ x``: the rule's ``a == dx`` test is true for both operands."""
    return ops.matmul(x, x)


def reused_product(ops, x, y):
    """``m @ (m @ x)``: m is reached by a short path and a long one."""
    m = ops.matmul(x, y)
    return ops.matmul(m, ops.matmul(m, x))


MATRIX32 = Y.astype(np.float32)


@pytest.mark.parametrize(
    ("program", "inputs"),
    [
        pytest.param(square, (MATRIX32,), id="x@x"),
        pytest.param(reused_product, (MATRIX32, MATRIX32 + 1), id="breadth first stops early"),
    ],
)
def test_fixed_tape_is_still_wrong_when_a_value_is_reused(program, inputs):
    # Faithful: the fix touched the transpose only. Both programs are 2-D, where
    # the question's transpose is right too.
    _, expected, cotangent = tf_vjp(program, inputs)
    _, actual = engine_vjp(question_tape_fixed, program, inputs, cotangent)
    assert not np.allclose(actual[0], expected[0])
