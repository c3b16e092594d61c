"""Tensor and Value classes checked as they are, with no adapter file (docs/contract.md, section 1c).

Each class of ``tests/targets/classes/`` is a style course engines are
written in; each of ``tests/engines/class_*.py`` and ``value_*.py`` has one
planted bug. The mapping probing finds is checked first (what ``gradcheck
inspect`` prints), then the check itself: the planted bug found, nothing
else, in float32 and float64.
"""

from __future__ import annotations

import functools
import textwrap
from pathlib import Path

import numpy as np
import pytest

from gradcheck import isolation
from gradcheck.classes import ClassConfig, ClassEngine, describe_mapping, engine_from_class
from gradcheck.classes._probe import TRIALS, sample
from gradcheck.cli import main
from gradcheck.engine import load_engine
from gradcheck.errors import TargetError, UsageError
from gradcheck.ops import OPS, REQUIRED
from gradcheck.runner import run_checks
from gradcheck.sandbox import available

HERE = Path(__file__).parent
CLASSES = HERE / "targets" / "classes"
ENGINES = HERE / "engines"

IsolatedEngine = functools.partial(isolation.IsolatedEngine, sandbox=available() is None)


def _class_engine(target: str) -> ClassEngine:
    engine = load_engine(target, quiet_tensorflow=False)
    assert isinstance(engine.obj, ClassEngine)
    return engine.obj


def _as_float32(engine: ClassEngine) -> ClassEngine:
    return engine_from_class(engine.cls, ClassConfig(dtype="float32"))


# --- what probing maps ------------------------------------------------------------------


def test_operators_and_methods_are_mapped_by_what_they_do():
    engine = _class_engine(f"{CLASSES}/ops_and_methods.py:Tensor")
    assert engine.kind == "tensor" and engine.dtype == "float64"
    assert engine.leaf_text == "Tensor(array, requires_grad=True)"
    assert engine.value_text == "x.data"
    assert engine.backward_text == "y.backward(cotangent), then x.grad"
    texts = {op: mapped.text for op, mapped in engine.mapping.items()}
    assert texts == {
        "add": "a + b", "subtract": "a - b", "multiply": "a * b", "divide": "a / b", "negative": "-x",
        "exp": "x.exp()", "log": "x.log()", "tanh": "x.tanh()", "relu": "x.relu()", "pow": "x ** p",
        "matmul": "a @ b", "permute_dims": "x.transpose(*axes)", "reshape": "x.reshape(shape)",
        "sum": "x.sum(axis=axis, keepdims=keepdims)",
    }
    assert engine.param_support == {}
    # transpose(*axes) with no axes reverses them all: not a matrix transpose.
    assert "x.transpose() gives shape (4, 3, 2) where matrix_transpose gives (2, 4, 3)" in engine.unsupported["matrix_transpose"]
    assert engine.unsupported["sqrt"] == "the class has no method, operator or module function for it"


def test_backward_without_gradient_partial_sum_and_reversing_transpose():
    engine = _class_engine(f"{CLASSES}/torch_style.py:Tensor")
    assert engine.value_text == "x.numpy()"
    assert engine.backward_text.startswith("sum(y * cotangent).backward() with the class's own a * b and x.sum(dim=axis)")
    assert engine.mapping["permute_dims"].text == "x.transpose() (axes reversed only)"
    assert engine.mapping["sum"].text == "x.sum(dim=axis)"
    assert engine.mapping["mean"].text == "x.mean(dim=axis, keepdim=keepdims)"
    # Parameters by PyTorch's names; what a method lacks is left out: the flattened scan, the correction.
    assert engine.mapping["cumulative_sum"].text == "x.cumsum(dim=axis)"
    assert engine.mapping["var"].text == "x.var(dim=axis, keepdim=keepdims, correction=correction)"
    assert engine.param_support == {
        "permute_dims": {"axes": [(0,), (1, 0), (2, 1, 0)]},
        "sum": {"keepdims": [False]},
        "cumulative_sum": {"axis": [0, 1, 2, -3, -2, -1]},
        "var": {"correction": [0.0]},
    }
    assert "matrix_transpose" in engine.unsupported


@pytest.mark.parametrize("op", sorted(TRIALS))
def test_every_probe_trial_is_a_case_the_reference_computes(op):
    """Each op's probe trials fit the op (a trial the reference cannot compute would stop probing a class)."""
    rng = np.random.default_rng(0)
    spec = OPS[op]
    for trial in TRIALS[op]:
        params = {p.name: trial.params.get(p.name, p.default) for p in spec.params}
        assert not any(value is REQUIRED for value in params.values()), (
            f"{op}'s trial {trial.label!r} leaves a required parameter out: give it in Trial.params"
        )
        value = spec.reference(*sample(op, trial, rng), **params)
        assert np.all(np.isfinite(value)), f"{op}'s trial {trial.label!r} is outside the op's domain"


def test_a_scalar_value_class_is_checked_on_object_arrays():
    engine = _class_engine(f"{CLASSES}/micrograd_value.py:Value")
    assert engine.kind == "scalar" and engine.dtype == "float64"
    assert engine.mapping["matmul"].text.startswith("a @ b (NumPy matmul over the objects")
    assert engine.mapping["exp"].text == "x.exp(), on each entry"
    assert engine.unsupported["max"].startswith("tried np.max")
    assert "scalar class" in engine.unsupported["softmax"]
    x = engine.variable(np.array([[1.0, 2.0], [3.0, 4.0]]))
    y = engine.sum(engine.multiply(x, x), axis=0)
    np.testing.assert_allclose(engine.value(y), [10.0, 20.0])
    np.testing.assert_allclose(engine.grad(y, [x], np.array([1.0, -1.0]))[0], [[2.0, -4.0], [6.0, -8.0]])


def test_inspect_prints_the_mapping(capsys):
    assert main(["inspect", f"{CLASSES}/torch_style.py:Tensor"]) == 0
    out = capsys.readouterr().out
    assert "permute_dims      x.transpose() (axes reversed only)  [checked on axes in {(0,), (1, 0), (2, 1, 0)}]" in out
    assert "sum               x.sum(dim=axis)  [checked on keepdims in {False}]" in out
    assert "matrix_transpose  unsupported: tried" in out
    assert describe_mapping(_class_engine(f"{CLASSES}/torch_style.py:Tensor")) in out


def test_inspect_lists_a_module_engine_too(capsys):
    assert main(["inspect", "gradcheck.examples.numpy_engine"]) == 0
    out = capsys.readouterr().out
    assert "  matmul            engine.matmul(...)" in out


# --- the check: planted bugs found, nothing else --------------------------------------------

CORRECT = [
    pytest.param(f"{CLASSES}/ops_and_methods.py:Tensor", ["add", "divide", "exp", "matmul", "permute_dims", "sum"],
                 id="operators-and-methods"),
    pytest.param(f"{CLASSES}/torch_style.py:Tensor", ["add", "multiply", "sigmoid", "matmul", "mean", "cumulative_sum", "var"],
                 id="backward-without-gradient"),
    pytest.param(f"{CLASSES}/micrograd_value.py:Value", ["divide", "tanh", "pow", "matmul", "mean", "broadcast_to"],
                 id="scalar-value"),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("target, ops", CORRECT)
def test_correct_classes_pass(target, ops, dtype):
    engine = _class_engine(target)
    if dtype == "float32":
        engine = _as_float32(engine)
    report = run_checks(engine, ops=ops, max_examples=8, programs=8)
    assert report.dtype == dtype
    assert report.ok, [r.to_dict() for r in report.results if r.status == "failed"]
    assert {r.check for r in report.results if r.status == "passed"} == {*ops, "programs"}


@pytest.mark.parametrize("op", ["sum", "permute_dims"])
def test_partly_supported_ops_are_checked_on_what_probing_found(op):
    # param_support is the engine's declared partial support (supported_params): only those values are drawn.
    engine = _class_engine(f"{CLASSES}/torch_style.py:Tensor")
    result = run_checks(engine, ops=[op], max_examples=15, programs=0).results[0]
    assert result.status == "passed", result.to_dict()
    assert result.not_checked


PLANTED = [
    pytest.param(f"{ENGINES}/class_exp_derivative.py:Tensor", "exp", ["add", "multiply", "sum"], id="exp-derivative"),
    pytest.param(f"{ENGINES}/class_matmul_backward.py:Tensor", "matmul", ["add", "multiply"], id="matmul-backward"),
    pytest.param(f"{ENGINES}/value_tanh_derivative.py:Value", "tanh", ["add", "multiply", "matmul"], id="value-tanh"),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("target, buggy, good", PLANTED)
def test_planted_bugs_are_found_and_nothing_else(target, buggy, good, dtype):
    engine = _class_engine(target)
    if dtype == "float32":
        engine = _as_float32(engine)
    report = run_checks(engine, ops=[buggy, *good], max_examples=20, programs=0)
    status = {r.check: r for r in report.results}
    assert status[buggy].status == "failed" and status[buggy].failure.category == "mismatch"
    assert all(status[op].status == "passed" for op in good), [status[op].to_dict() for op in good]


def test_check_command_on_a_class_finds_its_bug(tmp_path, capsys):
    status = main(["check", f"{ENGINES}/class_exp_derivative.py:Tensor", "--ops", "exp,add",
                   "--max-examples", "10", "--no-programs", "--report-dir", str(tmp_path), "--format", "json"])
    assert status == 1
    assert '"check": "exp"' in (tmp_path / "gradcheck.json").read_text()


def test_a_class_target_works_in_the_isolated_worker():
    with IsolatedEngine(f"{ENGINES}/class_matmul_backward.py:Tensor") as engine:
        report = run_checks(engine, ops=["matmul", "add", "exp"], max_examples=20, programs=0)
    status = {r.check: r.status for r in report.results}
    assert status == {"matmul": "failed", "add": "passed", "exp": "unsupported"}
    # What probing found comes back from the worker: the report's note and each unsupported op's reason.
    assert report.notes[0].startswith("Built from the tensor class Tensor: leaves Tensor(array, requires_grad=True)")
    assert report.results[2].reason == "probing the class: the class has no method, operator or module function for it"



def test_a_scalar_class_with_pow_loads_in_the_isolated_worker():
    # Its pow is found, its tensor-exponent form has no spelling of its own:
    # the ready message listed pow_tensor as an op and as unsupported, and the
    # worker was refused as malformed (every class with ** failed by default).
    with IsolatedEngine("tests/targets/classes/micrograd_value.py:Value") as engine:
        assert "pow_tensor" in engine.ops and "pow_tensor" not in engine.unsupported_reasons
        report = run_checks(engine, ops=["exp", "pow"], max_examples=5, programs=0)
    assert {r.check: r.status for r in report.results}["exp"] == "passed"


# --- messages and configuration -------------------------------------------------------------


def test_a_module_with_a_tensor_class_and_no_engine_functions_says_did_you_mean(capsys):
    with pytest.raises(TargetError, match=r"Did you mean .*micrograd_value.py:Value\?"):
        load_engine(f"{CLASSES}/micrograd_value.py")


def test_a_class_without_backward_is_told_what_a_tensor_class_needs(tmp_path):
    (tmp_path / "plain.py").write_text("class Plain:\n    def __init__(self, data):\n        self.data = data\n")
    with pytest.raises(TargetError) as error:
        load_engine(f"{tmp_path}/plain.py:Plain")
    assert "has no backward() method" in str(error.value)
    assert "default" not in str(error.value)


HOSTILE = '''
import sys
import numpy as np


class Tensor:
    def __init__(self, data, requires_grad=False):
        self.data, self.grad = np.asarray(data), None

    def __add__(self, other):
        return Tensor(self.data + other.data)

    def exp(self):
        while True:
            pass

    def log(self):
        sys.exit("log leaves")

    def tanh(self):
        print("tanh prints")
        raise RuntimeError("tanh is broken")

    def backward(self, grad):
        self.grad = grad
'''


def test_probing_a_class_that_hangs_exits_or_raises_is_bounded_and_loads(tmp_path, monkeypatch, capsys):
    from gradcheck.classes import _probe

    monkeypatch.setattr(_probe, "PER_CALL", 0.2)
    (tmp_path / "hostile.py").write_text(HOSTILE)
    engine = _class_engine(f"{tmp_path}/hostile.py:Tensor")
    assert set(engine.mapping) == {"add"}
    assert "no answer within" in engine.unsupported["exp"]
    assert "SystemExit: log leaves" in engine.unsupported["log"]
    assert "RuntimeError: tanh is broken" in engine.unsupported["tanh"]
    assert "tanh prints" not in capsys.readouterr().out


UNUSUAL = '''
import numpy as np


class Node:
    """Spells everything its own way: the value in .val, backprop(seed), .adjoint, relu as clamp0()."""

    def __init__(self, val, track=False):
        self.val = np.asarray(val)
        self.adjoint = None
        self._parents = ()
        self._rule = None

    def backward(self):
        raise RuntimeError("use backprop")

    def times(self, other):
        out = Node(self.val * other.val)
        out._parents = (self, other)
        out._rule = lambda g: (_sum_to(g * other.val, self.val.shape), _sum_to(g * self.val, other.val.shape))
        return out

    def clamp0(self):
        out = Node(np.maximum(self.val, 0))
        out._parents, out._rule = (self,), lambda g: (g * (self.val > 0),)
        return out

    def backprop(self, seed):
        order, seen = [], set()

        def visit(node):
            if id(node) not in seen:
                seen.add(id(node))
                for parent in node._parents:
                    visit(parent)
                order.append(node)

        visit(self)
        self.adjoint = seed
        for node in reversed(order):
            if node._rule is not None:
                for parent, g in zip(node._parents, node._rule(node.adjoint)):
                    parent.adjoint = g if parent.adjoint is None else parent.adjoint + g


def _sum_to(g, shape):
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, side in enumerate(shape):
        if side == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g
'''


def test_configuration_names_the_class_and_its_spellings(tmp_path, capsys):
    (tmp_path / "node.py").write_text(UNUSUAL)
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent('''
        [tool.gradcheck]
        class = "Node"
        value = "val"
        grad = "adjoint"
        backward = "backprop(grad)"
        constructor = { track = true }

        [tool.gradcheck.ops]
        multiply = "a.times(b)"
        relu = "clamp0"
    '''))
    engine = _class_engine(f"{tmp_path}/node.py")
    assert engine.leaf_text == "Node(array, track=True)"
    assert engine.backward_text == "y.backprop(cotangent), then x.adjoint"
    assert set(engine.mapping) == {"multiply", "relu"}
    assert engine.mapping["relu"].text == "x.clamp0()"
    report = run_checks(engine, ops=["multiply", "relu"], max_examples=10, programs=0)
    assert report.ok, [r.to_dict() for r in report.results]


@pytest.mark.parametrize("table, words", [
    ('kind = "matrix"', 'kind = \'matrix\' cannot be used: it must be "tensor" or "scalar"'),
    ('colour = 3', "unknown key(s) colour"),
    ('backward = "backward(x, y)"', "backward = 'backward(x, y)' cannot be used"),
    ('[tool.gradcheck.ops]\nsoftmaxx = "x.softmax()"', "'softmaxx', which is not an op gradcheck checks"),
    ('[tool.gradcheck.ops]\nadd = "x +"', "ops.add = 'x +' cannot be used"),
    ('[tool.gradcheck.ops]\nadd = "a + a"', "it never uses b"),
])
def test_a_bad_configuration_is_one_paragraph_and_exit_2(tmp_path, capsys, table, words):
    (tmp_path / "micrograd_value.py").write_text((CLASSES / "micrograd_value.py").read_text())
    (tmp_path / "gradcheck.toml").write_text(f"[tool.gradcheck]\n{table}\n")
    assert main(["inspect", f"{tmp_path}/micrograd_value.py:Value"]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1, err
    with pytest.raises(UsageError):
        load_engine(f"{tmp_path}/micrograd_value.py:Value")
