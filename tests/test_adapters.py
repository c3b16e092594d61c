"""The framework adapters (``gradcheck.adapters``): every op passes, planted custom gradients are caught.

Each framework's tests skip when it is not installed (CI has TensorFlow
only). The per-op checks run few examples here; ``benchmarks/campaign_adapters.py``
is the long run (``docs/campaign.md``), and the ``slow`` test below a middle one.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from gradcheck.adapters import ADAPTERS
from gradcheck.engine import load_engine
from gradcheck.errors import MissingFrameworkError, UsageError
from gradcheck.ops import OP_NAMES, OPS
from gradcheck.runner import check_op, run_checks

DTYPES = ("float32", "float64")

#: Examples per op in the default run: TensorFlow is in CI; the others only
#: run where installed, and JAX compiles a kernel per new shape.
QUICK_EXAMPLES = {"tensorflow": 25, "jax": 10, "torch": 20, "autograd": 20}

#: Failures that are the framework's own bugs (docs/framework-bugs.md): strict
#: xfails, so a fixed framework turns them into a failing test to update.
FRAMEWORK_BUGS = {
    ("autograd", "broadcast_to"): "autograd's broadcast_to VJP asserts on new leading axes",
    ("autograd", "logsumexp"): "scipy.special.logsumexp(0-d, keepdims=True) has shape (1,)",
    ("autograd", "where"): "autograd's where VJP does not sum a 0-d operand's gradient over the condition's axes",
    ("autograd", "einsum"): "autograd's einsum VJP raises on repeated subscripts (a trace, aa->)",
}


def adapter(framework):
    """Return the adapter module, skipping the test when its framework is not installed."""
    return pytest.importorskip(ADAPTERS[framework], reason=f"{framework} is not installed")


def _op_params():
    params = []
    for framework in ADAPTERS:
        for dtype in DTYPES:
            for op in OP_NAMES:
                bug = FRAMEWORK_BUGS.get((framework, op))
                marks = [pytest.mark.xfail(reason=bug, strict=True)] if bug else []
                params.append(pytest.param(framework, dtype, op, id=f"{framework}-{dtype}-{op}", marks=marks))
    return params


def _check(framework, dtype, op, examples):
    module = adapter(framework)
    engine = load_engine(getattr(module, f"engine{dtype[-2:]}"))
    result = check_op(engine, op, max_examples=examples, seed=0)
    assert result.status == "passed", [failure.to_dict() for failure in result.failures]
    assert result.oracle_disagreements == 0, result.oracle_note


@pytest.mark.parametrize(("framework", "dtype", "op"), _op_params())
def test_adapter_passes_every_op(framework, dtype, op):
    _check(framework, dtype, op, QUICK_EXAMPLES[framework])


@pytest.mark.slow
@pytest.mark.parametrize(("framework", "dtype", "op"), _op_params())
def test_adapter_passes_every_op_at_length(framework, dtype, op):
    _check(framework, dtype, op, 500)


# --- the module as an engine target --------------------------------------


@pytest.mark.parametrize("framework", ADAPTERS)
def test_module_is_the_float64_engine_with_every_op(framework):
    adapter(framework)
    engine = load_engine(ADAPTERS[framework])
    assert engine.dtype == np.float64
    assert list(engine.ops) == list(OP_NAMES)
    assert load_engine(f"{ADAPTERS[framework]}:engine32").dtype == np.float32


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("framework", ADAPTERS)
def test_grad_replays_a_composite_graph(framework, dtype):
    engine = adapter(framework).make_engine(dtype)
    a = engine.variable(np.array([[1.0, 2.0], [3.0, 4.0]]))
    b = engine.variable(np.array([0.5, -1.0]))
    unused = engine.variable(np.array(7.0))
    # a is used twice and b broadcast; 2.0 is a constant operand, not a variable.
    y = engine.sum(engine.multiply(engine.matmul(a, b), engine.add(engine.sum(a, axis=1), 2.0)))
    cotangent = np.array(1.5)
    grad_a, grad_b, grad_unused, grad_a_again = engine.grad(y, [a, b, unused, a], cotangent)
    av, bv = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([0.5, -1.0])
    s = av.sum(axis=1) + 2.0
    expected_a = 1.5 * (np.outer(s, bv) + (av @ bv)[:, None])
    expected_b = 1.5 * (av.T @ s)
    np.testing.assert_allclose(engine.value(y), np.sum((av @ bv) * s), rtol=1e-6)
    np.testing.assert_allclose(grad_a, expected_a, rtol=1e-6)
    np.testing.assert_allclose(grad_b, expected_b, rtol=1e-6)
    np.testing.assert_array_equal(grad_unused, np.zeros(()))
    np.testing.assert_array_equal(grad_a_again, grad_a)
    assert grad_a.dtype == np.dtype(dtype) and engine.value(y).dtype == np.dtype(dtype)


def test_programs_replay_through_the_framework():
    # Composite programs: reused values, skip connections, broadcasting between steps.
    engine = load_engine(adapter("tensorflow").engine32)
    report = run_checks(engine, ops=["add", "multiply", "matmul", "sum", "exp", "reshape"],
                        max_examples=3, programs=40, seed=0)
    assert report.ok, [r.failure.to_dict() for r in report.results if r.failure]


@pytest.mark.parametrize("framework", ADAPTERS)
def test_grad_explains_what_it_cannot_use(framework):
    engine = adapter(framework).engine64
    x = engine.variable(np.ones(2))
    y = engine.exp(x)
    with pytest.raises(ValueError, match=r"cotangent has shape \(3,\) but y has shape \(2,\)"):
        engine.grad(y, [x], np.ones(3))
    with pytest.raises(TypeError, match="not a value of this engine"):
        engine.grad(engine.value(y), [x], np.ones(2))


@pytest.mark.parametrize("framework", ADAPTERS)
def test_substituted_ops_are_checked_and_misnamed_ones_refused(framework):
    module = adapter(framework)
    calls = []

    def multiply(a, b):
        calls.append(True)
        return module.FRAMEWORK.ops["multiply"](a, b)

    engine = module.make_engine("float64", ops={"mul": multiply}, name="mine")
    assert engine.name == "mine" and engine.multiply is not module.engine64.multiply
    assert check_op(load_engine(engine), "multiply", max_examples=5).status == "passed"
    assert calls
    with pytest.raises(UsageError, match=r"ops=\{'matmull': \.\.\.\} names no op"):
        module.make_engine(ops={"matmull": multiply})
    with pytest.raises(UsageError, match="is not a function"):
        module.make_engine(ops={"exp": 2.0})
    with pytest.raises(UsageError, match="dtype='float16' is not supported"):
        module.make_engine("float16")


# --- planted custom gradients: the user story ------------------------------


def _tensorflow_matmul(transpose):
    import tensorflow as tf

    @tf.custom_gradient
    def matmul(a, b):
        def backward(g):
            return g @ transpose(b), transpose(a) @ g

        return a @ b, backward

    return matmul


def tensorflow_matmul_all_axes():
    import tensorflow as tf

    return "matmul", _tensorflow_matmul(tf.transpose)  # the founding question's bug


def jax_sigmoid_derivative_s():
    import jax

    @jax.custom_vjp
    def sigmoid(x):
        return jax.nn.sigmoid(x)

    sigmoid.defvjp(lambda x: (sigmoid(x), sigmoid(x)), lambda s, g: (g * s,))  # forgets (1 - s)
    return "sigmoid", sigmoid


def torch_log_derivative_squared():
    import torch

    class Log(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return torch.log(x)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g / x**2  # should be g / x

    return "log", Log.apply


def autograd_tanh_derivative_of_input():
    import autograd.numpy as anp
    from autograd.extend import defvjp, primitive

    @primitive
    def tanh(x):
        return anp.tanh(x)

    defvjp(tanh, lambda out, x: lambda g: g * (1 - x**2))  # 1 - tanh(x)**2 with x for tanh(x)
    return "tanh", tanh


PLANTED_CUSTOM = {
    "tensorflow": (tensorflow_matmul_all_axes, "all axes"),
    "jax": (jax_sigmoid_derivative_s, "g * s"),
    "torch": (torch_log_derivative_squared, "g / x**2"),
    "autograd": (autograd_tanh_derivative_of_input, "g * (1 - x**2)"),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("framework", ADAPTERS)
def test_planted_custom_gradient_is_caught_and_diagnosed(framework, dtype):
    module = adapter(framework)
    make_op, diagnosis_mentions = PLANTED_CUSTOM[framework]
    op, planted = make_op()
    engine = load_engine(module.make_engine(dtype, ops={op: planted}, name=f"planted {op}"))
    result = check_op(engine, op, max_examples=100, seed=0)
    assert result.status == "failed"
    mismatch = next(failure for failure in result.failures if failure.category == "mismatch")
    assert mismatch.diagnosis and diagnosis_mentions in mismatch.diagnosis, mismatch.diagnosis


def test_a_correct_custom_gradient_passes():
    module = adapter("tensorflow")
    import tensorflow as tf

    @tf.custom_gradient
    def sigmoid(x):
        s = tf.sigmoid(x)
        return s, lambda g: g * s * (1 - s)

    engine = module.make_engine("float32", ops={"sigmoid": sigmoid})
    assert check_op(load_engine(engine), "sigmoid", max_examples=100, seed=0).status == "passed"


def test_matmul_rule_right_on_matrices_is_wrong_on_broadcast_batches_and_vectors():
    # The accepted answer's fix, as a custom gradient: tf.custom_gradient does not
    # sum a gradient over broadcast batch axes, and TensorFlow's `@` has no 1-D case.
    module = adapter("tensorflow")
    import tensorflow as tf

    engine = module.make_engine("float32", ops={"matmul": _tensorflow_matmul(tf.linalg.matrix_transpose)})
    result = check_op(load_engine(engine), "matmul", max_examples=100, seed=0)
    assert {failure.category for failure in result.failures} == {"shape", "exception"}


# --- missing frameworks ------------------------------------------------------

MISSING = {"jax": ("jax", "gradcheck[jax]"), "torch": ("torch", "gradcheck[torch]"),
           "autograd": ("autograd", "gradcheck[autograd]")}


@pytest.mark.parametrize("framework", MISSING)
def test_missing_framework_says_which_extra_to_install(framework, monkeypatch, capsys):
    top, extra = MISSING[framework]
    # None in sys.modules makes `import top` fail as if it were not installed.
    monkeypatch.setitem(sys.modules, top, None)
    monkeypatch.delitem(sys.modules, ADAPTERS[framework], raising=False)
    with pytest.raises(MissingFrameworkError, match=rf'pip install "{re.escape(extra)}"') as raised:
        importlib.import_module(ADAPTERS[framework])
    assert "is not installed" in str(raised.value) and "\n" not in str(raised.value)
    with pytest.raises(pytest.skip.Exception):  # what the tests above rely on where it is missing
        adapter(framework)

    from gradcheck.cli import main

    assert main(["check", ADAPTERS[framework], "--max-examples", "1"]) == 2
    err = capsys.readouterr().err
    assert f"Cannot load engine target '{ADAPTERS[framework]}'" in " ".join(err.split())
    assert extra in err and "Traceback" not in err


def test_adapters_package_imports_no_framework():
    code = textwrap.dedent("""
        import sys
        import gradcheck.adapters
        heavy = [m for m in ("tensorflow", "jax", "torch", "autograd") if m in sys.modules]
        assert not heavy, heavy
    """)
    subprocess.run([sys.executable, "-c", code], check=True)


def test_jax_turns_on_x64_only_when_the_float64_engine_is_used():
    adapter("jax")
    code = textwrap.dedent("""
        import numpy as np
        import jax
        from gradcheck.adapters import jax as adapter
        assert not jax.config.jax_enable_x64
        adapter.engine32.variable(np.ones(2))
        assert not jax.config.jax_enable_x64
        x = adapter.engine64.variable(np.ones(2))
        assert jax.config.jax_enable_x64
        assert adapter.engine64.value(x).dtype == np.float64
    """)
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_op_has_an_implementation_in_every_adapter():
    # The adapters are tables: a new op in gradcheck.ops needs a row in each.
    for framework in ADAPTERS:
        try:
            module = importlib.import_module(ADAPTERS[framework])
        except MissingFrameworkError:
            continue
        # Another form of an op (pow_tensor) is the op's own function (pow).
        assert set(module.FRAMEWORK.ops) == {spec.engine_function for spec in OPS.values()}, framework


def test_campaign_script_runs_resumes_and_renders(tmp_path, monkeypatch):
    # The short version of benchmarks/campaign_adapters.py: one op, TensorFlow, a few examples.
    # Imported by name, so that its spawned workers can import it too (they get our sys.path).
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "benchmarks"))
    campaign = importlib.import_module("campaign_adapters")
    out = tmp_path / "campaign.md"
    common = ["--frameworks", "tensorflow", "--dtypes", "float32", "--examples", "3", "--workers", "1",
              "--out", str(out)]
    assert campaign.main([*common, "--ops", "add"]) == 0
    assert campaign.main([*common, "--ops", "add,exp", "--resume"]) == 0
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [(row["op"], row["failures"]) for row in rows] == [("add", 0), ("exp", 0)]
    out.unlink()
    assert campaign.main(["--render", "--out", str(out)]) == 0
    assert "| tensorflow | float32 | exp | " in out.read_text()
