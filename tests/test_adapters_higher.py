"""The framework adapters at order 2 and in forward mode (docs/contract.md, section 1).

``grad(y, xs, cotangent, create_graph=True)`` returns engine nodes holding the
first-order gradient; ``grad`` on those is the framework's VJP of its own VJP,
so the sum over j of ``grad(g_j, xs, v_j)`` is the Hessian-vector product.
Each result is computed a second way: by the framework's own Hessian-vector
product, without the adapter (``torch.autograd.functional.hvp``,
``jax.jvp`` of ``jax.grad``, nested ``tf.GradientTape``\\ s, ``autograd.grad``
of ``autograd.grad``), and by NumPy closed forms where they are short. The same
for ``jvp`` (``torch.func.jvp``, ``jax.jvp``, ``tf.autodiff.ForwardAccumulator``;
autograd's engines have none). Each framework's tests skip when it is not
installed (CI has TensorFlow only).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from gradcheck.adapters import ADAPTERS
from gradcheck.errors import UsageError

DTYPES = ("float32", "float64")

#: Relative tolerance of one dtype: the adapter and the framework's own
#: product run the same kernels, summed in an order that may differ.
RTOL = {"float32": 2e-4, "float64": 1e-10}


def adapter(framework):
    """Return the adapter module, skipping the test when its framework is not installed."""
    return pytest.importorskip(ADAPTERS[framework], reason=f"{framework} is not installed")


def _values(rng, shape, low=-1.5, high=1.5):
    # Exactly representable in float32, so both dtypes see the same numbers.
    return rng.uniform(low, high, shape).astype(np.float32).astype(np.float64)


#: op -> (operand shapes, static parameters, low and high of the values).
CASES = {
    "tanh": ([(2, 3)], {}, (-1.5, 1.5)),
    "exp": ([(2, 3)], {}, (-1.5, 1.5)),
    "multiply": ([(2, 3), (3,)], {}, (-1.5, 1.5)),  # b broadcast over a's rows
    "matmul": ([(2, 3), (3, 2)], {}, (-1.5, 1.5)),
    "divide": ([(2, 3), (2, 3)], {}, (0.5, 2.0)),  # divisor away from 0
    "log_softmax": ([(2, 3)], {"axis": -1}, (-1.5, 1.5)),
    "conv2d": ([(1, 2, 4, 4), (3, 2, 2, 2)], {"stride": 1, "padding": 1}, (-1.5, 1.5)),
}


def _case(op, seed=0):
    """Return the operands, a cotangent shaped like the output, and one direction and one tangent per operand."""
    shapes, _, (low, high) = CASES[op]
    rng = np.random.default_rng(seed)
    inputs = [_values(rng, shape, low, high) for shape in shapes]
    out_shape = np.shape(_numpy_forward(op, inputs))
    cotangent = _values(rng, out_shape)
    directions = [_values(rng, shape) for shape in shapes]
    tangents = [_values(rng, shape) for shape in shapes]
    return inputs, cotangent, directions, tangents


def _numpy_forward(op, inputs):
    from gradcheck.ops import OPS

    return OPS[op].reference(*inputs, **CASES[op][1])


def _close(actual, expected, dtype):
    expected = np.asarray(expected, dtype=np.float64)
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), expected, rtol=RTOL[dtype],
                               atol=RTOL[dtype] * scale)


def _engine_hvp(engine, op, inputs, cotangent, directions):
    """Return the adapter's Hessian-vector product: the sum over j of grad(g_j, xs, v_j)."""
    xs = [engine.variable(x) for x in inputs]
    y = getattr(engine, op)(*xs, **CASES[op][1])
    gs = engine.grad(y, xs, cotangent, create_graph=True)
    total = [np.zeros(x.shape) for x in inputs]
    for g, v in zip(gs, directions):
        for index, h in enumerate(engine.grad(g, xs, v)):
            total[index] = total[index] + np.asarray(h, dtype=np.float64)
    return total


# --- each framework's own products, without the adapter ----------------------


def _loss(module, op, cotangent, dtype, framework_sum):
    """Return L(*tensors) = sum(cotangent * op(*tensors)) with the framework's own op."""
    forward = functools.partial(module.FRAMEWORK.ops[op], **CASES[op][1])
    seed = module.FRAMEWORK.constant(cotangent, dtype)
    return lambda *tensors: framework_sum(seed * forward(*tensors))


def torch_hvp(module, op, inputs, cotangent, directions, dtype):
    import torch

    loss = _loss(module, op, cotangent, dtype, torch.sum)
    primals = tuple(module.FRAMEWORK.constant(x, dtype) for x in inputs)
    tangents = tuple(module.FRAMEWORK.constant(v, dtype) for v in directions)
    _, product = torch.autograd.functional.hvp(loss, primals, tangents)
    return [t.numpy() for t in product]


def jax_hvp(module, op, inputs, cotangent, directions, dtype):
    import jax
    import jax.numpy as jnp

    loss = _loss(module, op, cotangent, dtype, jnp.sum)
    primals = tuple(module.FRAMEWORK.constant(x, dtype) for x in inputs)
    tangents = tuple(module.FRAMEWORK.constant(v, dtype) for v in directions)
    gradient = jax.grad(loss, argnums=tuple(range(len(primals))))
    return [np.asarray(t) for t in jax.jvp(gradient, primals, tangents)[1]]


def tensorflow_hvp(module, op, inputs, cotangent, directions, dtype):
    import tensorflow as tf

    loss = _loss(module, op, cotangent, dtype, tf.reduce_sum)
    primals = [module.FRAMEWORK.constant(x, dtype) for x in inputs]
    with tf.GradientTape() as outer:
        outer.watch(primals)
        with tf.GradientTape() as inner:
            inner.watch(primals)
            value = loss(*primals)
        gradient = inner.gradient(value, primals)
    product = outer.gradient(gradient, primals,
                             output_gradients=[module.FRAMEWORK.constant(v, dtype) for v in directions])
    return [t.numpy() for t in product]


def autograd_hvp(module, op, inputs, cotangent, directions, dtype):
    import autograd
    import autograd.numpy as anp

    loss = _loss(module, op, cotangent, dtype, anp.sum)
    argnums = tuple(range(len(inputs)))
    gradient = autograd.grad(loss, argnum=argnums)
    along = [np.asarray(v, dtype=dtype) for v in directions]

    def directional(*arrays):
        return sum(anp.sum(g * v) for g, v in zip(gradient(*arrays), along))

    return [np.asarray(t) for t in autograd.grad(directional, argnum=argnums)(*(x.astype(dtype) for x in inputs))]


HVP = {"tensorflow": tensorflow_hvp, "jax": jax_hvp, "torch": torch_hvp, "autograd": autograd_hvp}


def torch_jvp(module, op, inputs, tangents, dtype):
    import torch

    forward = functools.partial(module.FRAMEWORK.ops[op], **CASES[op][1])
    primals = tuple(module.FRAMEWORK.constant(x, dtype) for x in inputs)
    return torch.func.jvp(forward, primals, tuple(module.FRAMEWORK.constant(t, dtype) for t in tangents))[1].numpy()


def jax_jvp(module, op, inputs, tangents, dtype):
    import jax

    forward = functools.partial(module.FRAMEWORK.ops[op], **CASES[op][1])
    primals = tuple(module.FRAMEWORK.constant(x, dtype) for x in inputs)
    return np.asarray(jax.jvp(forward, primals, tuple(module.FRAMEWORK.constant(t, dtype) for t in tangents))[1])


def tensorflow_jvp(module, op, inputs, tangents, dtype):
    import tensorflow as tf

    forward = functools.partial(module.FRAMEWORK.ops[op], **CASES[op][1])
    primals = [module.FRAMEWORK.constant(x, dtype) for x in inputs]
    with tf.autodiff.ForwardAccumulator(primals, [module.FRAMEWORK.constant(t, dtype) for t in tangents]) as acc:
        out = forward(*primals)
    return acc.jvp(out).numpy()


JVP = {"tensorflow": tensorflow_jvp, "jax": jax_jvp, "torch": torch_jvp}


# --- NumPy closed forms -------------------------------------------------------


def _closed_hvp(op, inputs, g, v):
    """Return the Hessian-vector product of sum(g * op(*inputs)) along v, where it is short to write."""
    if op == "tanh":
        (x,), (vx,) = inputs, v
        t = np.tanh(x)
        return [g * -2 * t * (1 - t**2) * vx]
    if op == "exp":
        return [g * np.exp(inputs[0]) * v[0]]
    if op == "multiply":
        (a, b), (va, vb) = inputs, v
        return [g * vb, np.sum(g * va, axis=0)]  # the mixed terms only: d2/da2 = d2/db2 = 0
    if op == "matmul":
        (a, b), (va, vb) = inputs, v
        return [g @ vb.T, va.T @ g]
    if op == "divide":
        (a, b), (va, vb) = inputs, v
        return [-g * vb / b**2, -g * va / b**2 + 2 * g * a * vb / b**3]
    return None


def _closed_jvp(op, inputs, t):
    if op == "tanh":
        return (1 - np.tanh(inputs[0]) ** 2) * t[0]
    if op == "multiply":
        (a, b), (ta, tb) = inputs, t
        return ta * b + a * tb
    if op == "matmul":
        (a, b), (ta, tb) = inputs, t
        return ta @ b + a @ tb
    return None


def _params(frameworks):
    return [pytest.param(framework, dtype, op, id=f"{framework}-{dtype}-{op}")
            for framework in frameworks for dtype in DTYPES for op in CASES]


# --- order 2 ------------------------------------------------------------------


@pytest.mark.parametrize(("framework", "dtype", "op"), _params(ADAPTERS))
def test_create_graph_holds_the_first_order_gradient_and_differentiates_as_the_framework(framework, dtype, op):
    module = adapter(framework)
    engine = module.make_engine(dtype)
    inputs, cotangent, directions, _ = _case(op)
    xs = [engine.variable(x) for x in inputs]
    y = getattr(engine, op)(*xs, **CASES[op][1])
    first = engine.grad(y, xs, cotangent)
    held = engine.grad(y, xs, cotangent, create_graph=True)
    for g, expected in zip(held, first):
        np.testing.assert_array_equal(engine.value(g), expected)
    product = _engine_hvp(engine, op, inputs, cotangent, directions)
    for ours, theirs in zip(product, HVP[framework](module, op, inputs, cotangent, directions, dtype)):
        _close(ours, theirs, dtype)
    closed = _closed_hvp(op, inputs, cotangent, directions)
    if closed is not None:
        for ours, expected in zip(product, closed):
            _close(ours, expected, dtype)


@pytest.mark.parametrize("framework", ADAPTERS)
def test_a_gradient_independent_of_an_input_differentiates_to_zeros(framework):
    engine = adapter(framework).make_engine("float64")
    a, b = engine.variable(np.array([1.0, -2.0])), engine.variable(np.array([0.5, 3.0]))
    v = np.array([2.0, -1.0])
    # add's gradient is the cotangent itself: a constant.
    ga, gb = engine.grad(engine.add(a, b), [a, b], v, create_graph=True)
    for g in (ga, gb):
        for h in engine.grad(g, [a, b], np.ones(2)):
            np.testing.assert_array_equal(h, np.zeros(2))
    # multiply's gradient for a is v * b: zero w.r.t. a, v * u w.r.t. b.
    ga, _ = engine.grad(engine.multiply(a, b), [a, b], v, create_graph=True)
    u = np.array([1.0, 4.0])
    wrt_a, wrt_b = engine.grad(ga, [a, b], u)
    np.testing.assert_array_equal(wrt_a, np.zeros(2))
    np.testing.assert_allclose(wrt_b, v * u)
    # A constant operand is no input: 2 * a differentiates twice to zeros.
    (g,) = engine.grad(engine.multiply(a, 2.0), [a], v, create_graph=True)
    np.testing.assert_array_equal(engine.grad(g, [a], u)[0], np.zeros(2))


@pytest.mark.parametrize("framework", ADAPTERS)
def test_create_graph_keeps_duplicates_and_the_all_ones_cotangent(framework):
    engine = adapter(framework).make_engine("float64")
    x_value = np.array([0.3, -0.8])
    x = engine.variable(x_value)
    y = engine.tanh(x)
    g, again = engine.grad(y, [x, x], create_graph=True)
    t = np.tanh(x_value)
    np.testing.assert_allclose(engine.value(g), 1 - t**2, rtol=1e-12)
    np.testing.assert_array_equal(engine.value(again), engine.value(g))
    # The gradient is a value of the engine: ops take it (a gradient penalty), grad differentiates it.
    penalty = engine.sum(engine.multiply(g, g))
    np.testing.assert_allclose(engine.grad(penalty, [x])[0], 2 * (1 - t**2) * -2 * t * (1 - t**2), rtol=1e-10)


@pytest.mark.parametrize("framework", ADAPTERS)
def test_order_three_is_create_graph_again(framework):
    engine = adapter(framework).make_engine("float64")
    x_value = np.array([0.3, -0.8, 1.2])
    x = engine.variable(x_value)
    (g,) = engine.grad(engine.tanh(x), [x], create_graph=True)
    (h,) = engine.grad(g, [x], np.ones(3), create_graph=True)
    (third,) = engine.grad(h, [x], np.ones(3))
    t = np.tanh(x_value)
    # d3/dx3 tanh = (6 t^2 - 2)(1 - t^2)
    np.testing.assert_allclose(third, (6 * t**2 - 2) * (1 - t**2), rtol=1e-10)


def _finite_difference_hvp(engine, op, inputs, cotangent, directions, params, eps=1e-5):
    """Return the central difference of the adapter's first-order gradient along the directions (float64)."""

    def gradient(step):
        xs = [engine.variable(x + step * v) for x, v in zip(inputs, directions)]
        return engine.grad(getattr(engine, op)(*xs, **params), xs, cotangent)

    return [(plus - minus) / (2 * eps) for plus, minus in zip(gradient(eps), gradient(-eps))]


def _order_2_matches_finite_differences(engine, op, params):
    rng = np.random.default_rng(1)
    x = np.array([[0.5, -1.0, 2.0, 0.0], [1.5, 0.25, -0.75, 1.0]])
    xs = [engine.variable(x)]
    y = getattr(engine, op)(*xs, **params)
    cotangent, direction = _values(rng, np.shape(engine.value(y))), _values(rng, x.shape)
    (g,) = engine.grad(y, xs, cotangent, create_graph=True)
    (ours,) = engine.grad(g, xs, direction)
    (expected,) = _finite_difference_hvp(engine, op, [x], cotangent, [direction], params)
    return np.allclose(ours, expected, rtol=1e-6, atol=1e-6 * np.max(np.abs(expected)))


@pytest.mark.parametrize("op", ["layer_norm", "var"])
@pytest.mark.parametrize("framework", ADAPTERS)
def test_normalizations_differentiate_twice_as_finite_differences(framework, op):
    # The mean inside a variance is where a stop_gradient hides (tf.nn.moments has one).
    engine = adapter(framework).make_engine("float64")
    assert _order_2_matches_finite_differences(engine, op, {"axis": -1})


def test_tensorflow_moments_is_right_at_order_1_and_wrong_at_order_2():
    # Why the TensorFlow adapter (and gradcheck's TensorFlow column) writes layer_norm
    # without tf.nn.moments: its variance stops the gradient at the mean (docs/framework-bugs.md).
    import tensorflow as tf

    module = adapter("tensorflow")

    def moments_layer_norm(x, axis=-1, eps=1e-5):
        mean, variance = tf.nn.moments(x, axes=[axis], keepdims=True)
        return (x - mean) / tf.sqrt(variance + eps)

    engine = module.make_engine("float64", ops={"layer_norm": moments_layer_norm})
    x = np.array([[0.5, -1.0, 2.0, 0.0], [1.5, 0.25, -0.75, 1.0]])
    cotangent = np.array([[1.0, -2.0, 0.5, 1.5], [0.25, 1.0, -1.0, 0.5]])
    theirs, ours = engine.variable(x), module.engine64.variable(x)
    np.testing.assert_allclose(engine.grad(engine.layer_norm(theirs), [theirs], cotangent)[0],
                               module.engine64.grad(module.engine64.layer_norm(ours), [ours], cotangent)[0],
                               rtol=1e-10)
    assert _order_2_matches_finite_differences(module.engine64, "layer_norm", {"axis": -1})
    assert not _order_2_matches_finite_differences(engine, "layer_norm", {"axis": -1})


#: Frameworks whose pow masks the exponent 0 in its backward: a constant to double backward (docs/framework-bugs.md).
POW_AT_EXPONENT_ZERO = {
    "torch": "PyTorch's pow backward is 0 where p == 0: its mixed second derivative there is 0, not 1/x",
    "autograd": "autograd's pow backward uses x ** where(p, p - 1, 1): its mixed second derivative at p == 0 is x",
}


@pytest.mark.parametrize("framework", [
    pytest.param(framework, marks=[pytest.mark.xfail(reason=POW_AT_EXPONENT_ZERO[framework], strict=True)]
                 if framework in POW_AT_EXPONENT_ZERO else [])
    for framework in ADAPTERS
])
def test_pow_mixed_second_derivative_at_exponent_zero(framework):
    engine = adapter(framework).engine64
    x, p = engine.variable(np.array(1.5)), engine.variable(np.array(0.0))
    g_x, _ = engine.grad(engine.pow(x, p), [x, p], create_graph=True)
    # d/dp (p x^(p-1)) = x^(p-1) (1 + p log x) = 1/x at p = 0
    np.testing.assert_allclose(engine.grad(g_x, [x, p])[1], 1 / 1.5, rtol=1e-12)


# --- forward mode --------------------------------------------------------------


@pytest.mark.parametrize(("framework", "dtype", "op"), _params(JVP))
def test_jvp_is_the_frameworks_forward_mode(framework, dtype, op):
    module = adapter(framework)
    engine = module.make_engine(dtype)
    inputs, _, _, tangents = _case(op)
    xs = [engine.variable(x) for x in inputs]
    y = getattr(engine, op)(*xs, **CASES[op][1])
    ours = engine.jvp(y, xs, tangents)
    assert np.shape(ours) == np.shape(engine.value(y)) and np.asarray(ours).dtype == np.dtype(dtype)
    _close(ours, JVP[framework](module, op, inputs, tangents, dtype), dtype)
    closed = _closed_jvp(op, inputs, tangents)
    if closed is not None:
        _close(ours, closed, dtype)


@pytest.mark.parametrize("framework", JVP)
def test_jvp_sums_a_repeated_inputs_tangents_and_refuses_misshapen_ones(framework):
    engine = adapter(framework).make_engine("float64")
    a_value, b_value = np.array([1.0, -2.0]), np.array([0.5, 3.0])
    a, b, unused = engine.variable(a_value), engine.variable(b_value), engine.variable(np.ones(3))
    y = engine.multiply(a, b)
    t1, t2, tb = np.array([1.0, 2.0]), np.array([-0.5, 4.0]), np.array([3.0, 1.0])
    np.testing.assert_allclose(engine.jvp(y, [a, b, a], [t1, tb, t2]), (t1 + t2) * b_value + a_value * tb)
    np.testing.assert_array_equal(engine.jvp(y, [unused], [np.ones(3)]), np.zeros(2))
    with pytest.raises(ValueError, match=r"tangents\[1\] has shape \(3,\) but xs\[1\] has shape \(2,\)"):
        engine.jvp(y, [a, b], [t1, np.ones(3)])
    with pytest.raises(ValueError, match="1 tangents for 2 xs"):
        engine.jvp(y, [a, b], [t1])


#: What forward mode through a custom tanh with a VJP rule only does: TensorFlow
#: derives it from the rule; JAX and PyTorch have none and raise.
NO_FORWARD_RULE = {
    "jax": (TypeError, "can't apply forward-mode autodiff"),
    "torch": (NotImplementedError, "You must implement the jvp function"),
}


@pytest.mark.parametrize("framework", JVP)
def test_a_custom_vjp_rule_alone_has_forward_mode_only_in_tensorflow(framework):
    module = adapter(framework)
    engine = module.make_engine("float64", ops={"tanh": CUSTOM_TANH[framework](False)})
    x_value, t = np.array([0.3, -0.8]), np.array([1.0, 2.0])
    x = engine.variable(x_value)
    if framework in NO_FORWARD_RULE:
        error, message = NO_FORWARD_RULE[framework]
        with pytest.raises(error, match=message):
            engine.jvp(engine.tanh(x), [x], [t])
    else:
        np.testing.assert_allclose(engine.jvp(engine.tanh(x), [x], [t]), (1 - np.tanh(x_value) ** 2) * t)
    # forward_mode=False: an engine without jvp, so gradcheck checks orders 1 and 2 only.
    assert not hasattr(module.make_engine("float64", ops={"tanh": CUSTOM_TANH[framework](False)},
                                          forward_mode=False), "jvp")
    with pytest.raises(UsageError, match="forward_mode='no' is not a bool"):
        module.make_engine(forward_mode="no")


def test_autograd_engines_have_order_2_but_no_forward_mode():
    module = adapter("autograd")
    assert not hasattr(module.engine64, "jvp") and not hasattr(module.make_engine("float32"), "jvp")
    import inspect

    assert "create_graph" in inspect.signature(module.engine64.grad).parameters


# --- the user story: a backward built from a detached value --------------------


def torch_tanh(detached):
    import torch

    class Tanh(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            out = torch.tanh(x)
            # Detached: right at order 1, a constant to double backward.
            ctx.save_for_backward(out.detach() if detached else out)
            return out

        @staticmethod
        def backward(ctx, g):
            (out,) = ctx.saved_tensors
            return g * (1 - out**2)

    return Tanh.apply


def jax_tanh(detached):
    import jax
    import jax.numpy as jnp

    @jax.custom_vjp
    def tanh(x):
        return jnp.tanh(x)

    def forward(x):
        out = jnp.tanh(x)
        return out, jax.lax.stop_gradient(out) if detached else out

    tanh.defvjp(forward, lambda out, g: (g * (1 - out**2),))
    return tanh


def tensorflow_tanh(detached):
    import tensorflow as tf

    @tf.custom_gradient
    def tanh(x):
        out = tf.tanh(x)
        saved = tf.stop_gradient(out) if detached else out
        return out, lambda g: g * (1 - saved**2)

    return tanh


def autograd_tanh(detached):
    import autograd.numpy as anp
    from autograd.extend import defvjp, primitive
    from autograd.tracer import getval

    @primitive
    def tanh(x):
        return anp.tanh(x)

    # getval: the plain NumPy array under autograd's box, as a backward converting to NumPy has.
    defvjp(tanh, lambda out, x: lambda g: g * (1 - (getval(out) if detached else out) ** 2))
    return tanh


CUSTOM_TANH = {"tensorflow": tensorflow_tanh, "jax": jax_tanh, "torch": torch_tanh, "autograd": autograd_tanh}


@pytest.mark.parametrize("detached", [False, True], ids=["kept", "detached"])
@pytest.mark.parametrize("framework", ADAPTERS)
def test_a_custom_tanh_with_a_detached_saved_output_has_zero_second_derivative(framework, detached):
    # What order 2 catches: the same first derivative, and a second derivative of
    # zero where the framework's own tanh has -2 t (1 - t^2).
    module = adapter(framework)
    engine = module.make_engine("float64", ops={"tanh": CUSTOM_TANH[framework](detached)})
    x_value, v, u = np.array([0.3, -0.8, 1.2]), np.array([1.0, -2.0, 0.5]), np.array([2.0, 1.0, -1.0])
    x = engine.variable(x_value)
    y = engine.tanh(x)
    t = np.tanh(x_value)
    np.testing.assert_allclose(engine.grad(y, [x], v)[0], v * (1 - t**2), rtol=1e-12)
    (g,) = engine.grad(y, [x], v, create_graph=True)
    np.testing.assert_allclose(engine.value(g), v * (1 - t**2), rtol=1e-12)
    (second,) = engine.grad(g, [x], u)
    expected = np.zeros(3) if detached else v * u * -2 * t * (1 - t**2)
    np.testing.assert_allclose(second, expected, rtol=1e-12, atol=0)


# --- end to end: gradcheck's own order-2 and forward checks on the adapters -----


@pytest.mark.parametrize("framework", ADAPTERS)
def test_gradcheck_passes_each_adapter_at_order_2_and_in_forward_mode(framework):
    from gradcheck.engine import load_engine
    from gradcheck.higher import FORWARD, ORDER2
    from gradcheck.runner import check_op

    module = adapter(framework)
    engine = load_engine(module.engine32)
    modes = [ORDER2, FORWARD] if framework in JVP else [ORDER2]
    # Few examples of one shape (JAX compiles per shape): the campaign (docs/campaign.md) is the long run.
    for mode in modes:
        result = check_op(engine, "tanh", mode=mode, max_examples=3, seed=0, shapes=[(2, 3)])
        assert result.status == "passed", (mode, [failure.to_dict() for failure in result.failures])
        assert result.oracle_disagreements == 0, result.oracle_note


@pytest.mark.parametrize("framework", ADAPTERS)
def test_gradcheck_fails_a_detached_backward_at_order_2_only(framework):
    from gradcheck.engine import load_engine
    from gradcheck.higher import ORDER2
    from gradcheck.runner import check_op

    module = adapter(framework)
    engine = load_engine(module.make_engine("float64", ops={"tanh": CUSTOM_TANH[framework](True)},
                                            forward_mode=False, name="detached tanh"))
    assert check_op(engine, "tanh", max_examples=5, seed=0, shapes=[(2, 3)]).status == "passed"
    result = check_op(engine, "tanh", mode=ORDER2, max_examples=5, seed=0, shapes=[(2, 3)])
    assert result.status == "failed"
    mismatch = next(failure for failure in result.failures if failure.category == "mismatch")
    assert "zero where the reference's is not" in (mismatch.diagnosis or ""), mismatch.diagnosis
