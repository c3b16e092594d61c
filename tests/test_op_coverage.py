"""Adding an op is a row of ``gradcheck.ops`` plus its implementations: these tests say which.

One test per op and per place that must know it, so that a new row fails
here with a message naming what to add and in which file, before any
search runs: the bundled NumPy engine, every framework adapter, the row's
own fields (two forwards, a shape rule, a parameter rule, a batching rule
that works), and the other tables keyed by op name.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradcheck.adapters import ADAPTERS
from gradcheck.engine import load_engine
from gradcheck.examples import numpy_engine
from gradcheck.ops import OP_NAMES, OPS, Domain
from gradcheck.strategies import PARAM_RULES, SHAPE_RULES, op_cases, operand_shapes
from tests.engines._compare import TF
from tests.test_adapters import adapter

_NUMPY_ENGINE = "gradcheck/examples/numpy_engine.py"
NUMPY_TARGETS = (
    "gradcheck.examples.numpy_engine",
    "gradcheck.examples.numpy_engine:engine32",
    "gradcheck.examples.numpy_engine:engine64",
)


@functools.cache
def _loaded(target):
    return load_engine(target)


def _signature(op):
    spec = OPS[op]
    return ", ".join([*spec.operands, *(param.name for param in spec.params)])


# --- (a) the bundled engine ---------------------------------------------------


@pytest.mark.parametrize("target", NUMPY_TARGETS, ids=lambda target: target.rpartition(".")[2])
@pytest.mark.parametrize("op", OP_NAMES)
def test_the_numpy_engine_has_the_op(op, target):
    assert _loaded(target).supports(op), (
        f"{target} has no {op!r}. Add `def {op}({_signature(op)})` to {_NUMPY_ENGINE}, returning a "
        f"node with its forward value and backward rule, then list it in REFERENCE_OPS (which "
        f"make_engine builds engine32 and engine64 from) and in __all__ (the module as an engine)."
    )


# --- (b) every framework adapter ----------------------------------------------


@pytest.mark.parametrize("framework", ADAPTERS)
@pytest.mark.parametrize("op", OP_NAMES)
def test_every_adapter_has_the_op(op, framework):
    module = adapter(framework)
    # Another form of an op (pow_tensor) is the op's own function (pow), which takes both.
    function = OPS[op].engine_function
    assert function in module.FRAMEWORK.ops, (
        f"{module.__name__} has no {op!r}. Add `{op!r}: <the {module.FRAMEWORK.name} function>` to "
        f"FRAMEWORK.ops in gradcheck/adapters/{framework}.py, called as {op}({_signature(op)}) with "
        f"{module.FRAMEWORK.name} tensors for the operands."
    )
    assert _loaded(module.__name__).supports(op)


def _implemented(name):
    """Return what holds the ops of the bundled engine or of an adapter, where, and the ops."""
    if name == "numpy_engine":
        return "REFERENCE_OPS", _NUMPY_ENGINE, numpy_engine.REFERENCE_OPS
    return "FRAMEWORK.ops", f"gradcheck/adapters/{name}.py", adapter(name).FRAMEWORK.ops


@pytest.mark.parametrize("name", ["numpy_engine", *ADAPTERS])
def test_no_implementation_has_an_op_the_table_lacks(name):
    table, path, implemented = _implemented(name)
    stale = sorted(set(implemented) - {OPS[op].engine_function for op in OP_NAMES})
    assert not stale, (
        f"{table} in {path} implements {stale}, which gradcheck/ops.py has no row for: add a row to "
        f"_TABLE there (two forwards, shape rule, domains), or remove them."
    )


# --- (c) the row itself ---------------------------------------------------------


@pytest.mark.parametrize("op", OP_NAMES)
def test_the_row_has_two_forwards(op):
    spec = OPS[op]
    assert spec.name == op and spec.operands and len(set(spec.operands)) == len(spec.operands), (
        f"OPS[{op!r}] must be named {op!r} and name each operand once; it has name={spec.name!r}, "
        f"operands={spec.operands!r}."
    )
    assert callable(spec.reference) and callable(spec.tensorflow) and spec.reference is not spec.tensorflow, (
        f"OPS[{op!r}] needs two independent forwards in gradcheck/ops.py: a NumPy float64 `reference` "
        f"(finite differences evaluate it) and `tensorflow(tf, {_signature(op)})` (the tape differentiates it)."
    )


@pytest.mark.parametrize("op", OP_NAMES)
def test_the_row_names_rules_the_strategies_know(op):
    spec = OPS[op]
    assert spec.shapes in SHAPE_RULES, (
        f"OPS[{op!r}].shapes={spec.shapes!r} names no shape rule: use one of {', '.join(SHAPE_RULES)}, "
        f"or add the rule to _RULES in gradcheck/strategies/_shapes.py."
    )
    names = [param.name for param in spec.params]
    if names:
        assert spec.param_rule in PARAM_RULES, (
            f"OPS[{op!r}] has parameters {names} but param_rule={spec.param_rule!r} names no rule: use "
            f"one of {', '.join(PARAM_RULES)}, or add one drawing {names} to PARAM_RULES in "
            f"gradcheck/strategies/_cases.py."
        )
    else:
        assert spec.param_rule is None, (
            f"OPS[{op!r}] has param_rule={spec.param_rule!r} but no parameters: add its Param entries "
            f"to the row, or drop the rule."
        )


_STACKED_SETS = 3


# op_cases checks fixed shapes by running the forward on zeros, where log(0),
# 0 / 0 and 0 ** -p warn: noise from the strategy, not something the row does.
@pytest.mark.filterwarnings("ignore::RuntimeWarning:gradcheck")
@pytest.mark.parametrize("op", OP_NAMES)
@settings(max_examples=10, database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_the_row_draws_cases_and_batches_them(op, data):
    """The row's rules draw a case, and ``OpSpec.batch`` runs several as one NumPy call."""
    spec = OPS[op]
    shapes = data.draw(operand_shapes(spec.shapes), label="shapes")
    # A variadic op draws how many operands it gets (xs[0], xs[1], ...).
    assert len(shapes) >= 1 if spec.variadic else len(shapes) == len(spec.operands), (
        f"shape rule {spec.shapes!r} draws {len(shapes)} shape(s) for {op}'s {len(spec.operands)} "
        f"operand(s) ({', '.join(spec.operands)}): choose a rule for that many operands."
    )
    params = data.draw(PARAM_RULES[spec.param_rule](shapes, 64), label="params") if spec.param_rule else {}
    assert set(params) == {param.name for param in spec.params}, (
        f"param_rule {spec.param_rule!r} draws {sorted(params)} for {op}, whose row has parameters "
        f"{[param.name for param in spec.params]}: the Param entries and the rule must name the same ones."
    )
    domains = spec.domains_for(params, len(shapes))
    assert len(domains) == len(shapes) and all(isinstance(d, Domain) for d in domains), (
        f"OPS[{op!r}].domains gives {domains!r}: one Domain per operand ({', '.join(spec.operands)})."
    )
    batch = data.draw(op_cases(op, shapes=shapes, params=params, sets=_STACKED_SETS), label="batch")
    assert spec.inner_length(shapes, batch[0].params) >= 1

    # The same outputs two ways: one call per case, and one call on the stacked operands.
    one_by_one = np.stack([case.reference(*case.inputs) for case in batch])
    try:
        views, call_params = spec.batch(shapes, batch[0].params, _STACKED_SETS)
    except NotImplementedError as exc:
        # A row may say why its op has no batching rule: the oracles then answer one case at a time.
        assert str(exc), f"OPS[{op!r}]'s stacked raises NotImplementedError without saying why."
        return
    stacked = [
        np.stack([case.inputs[index] for case in batch]).reshape((_STACKED_SETS, *view))
        for index, view in enumerate(views)
    ]
    rule = "stacked=None (the op maps over leading axes)" if spec.stacked is None else "its stacked rule"
    try:
        together = np.asarray(spec.reference(*stacked, **call_params))
    except Exception as exc:  # noqa: BLE001 - the message below says which rule to fix
        pytest.fail(
            f"OPS[{op!r}] with {rule} cannot run {_STACKED_SETS} cases of {shapes} and {batch[0].params} "
            f"as one call (views {views}, parameters {call_params}): {type(exc).__name__}: {exc}. "
            "Give the row a batching rule in gradcheck/ops.py (`stacked=`, see OpSpec.batch)."
        )
    assert together.size == one_by_one.size, (
        f"OPS[{op!r}] with {rule} gives {together.shape} for {_STACKED_SETS} stacked cases, not "
        f"{one_by_one.shape}: fix the batching rule in gradcheck/ops.py (`stacked=`, see OpSpec.batch)."
    )
    # A few ulps at most: a stacked reduction or product may add in another order.
    np.testing.assert_allclose(
        together.reshape(one_by_one.shape), one_by_one, rtol=1e-12, atol=1e-12,
        err_msg=f"OPS[{op!r}] with {rule} mixes up the stacked cases: fix it in gradcheck/ops.py.",
    )


# --- (d) what diagnosis needs, on the row; and the tests' own TensorFlow ----------


@pytest.mark.parametrize("op", OP_NAMES)
def test_the_row_says_the_right_rule_of_each_operand(op):
    spec = OPS[op]
    assert len(spec.vjp_rules) == len(spec.operands) and all(spec.vjp_rules), (
        f"OPS[{op!r}].vjp_rules is {spec.vjp_rules!r}: give the right VJP of each operand "
        f"({', '.join(spec.operands)}), one string per operand, as a person would write it (\"g * cos(x)\"), "
        "in its row in gradcheck/ops.py."
    )


@pytest.mark.parametrize("op", OP_NAMES)
def test_the_tests_independent_tensorflow_has_the_op(op):
    assert callable(getattr(TF, OPS[op].engine_function, None)), (
        f"tests/engines/_compare.py TF has no {op!r}: add `{op}=<TensorFlow function of ({_signature(op)})>`"
        " there, written apart from gradcheck/ops.py (it vouches for the examples and the planted bugs)."
    )
