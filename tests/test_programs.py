"""Composite programs: construction, checking, shrinking and blame."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis.errors import InvalidArgument

from gradcheck._tf import tensorflow
from gradcheck.engine import load_engine
from gradcheck.ops import OP_NAMES, OPS
from gradcheck.program import ProgramCase, Step
from gradcheck.runner import check_programs, run_checks
from gradcheck.strategies import programs
from tests.engines import PLANTED_TRAVERSALS

TRAVERSAL_DIAGNOSIS = "the backward pass itself is at fault"


# --- the strategy -------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_programs_are_consistent_by_construction(dtype):
    """Every drawn program runs in NumPy and TensorFlow, finite, with Hypothesis's health checks on."""
    tf = tensorflow()

    @settings(max_examples=150, database=None, deadline=None)  # health checks stay enabled
    @given(programs(dtype=dtype))
    def check(program):
        values = program.reference_values(*program.inputs)
        assert all(np.all(np.isfinite(value)) for value in values.values())
        output = program.reference(*program.inputs)
        assert program.cotangent.shape == output.shape
        tf_output = program.tensorflow(tf, *[tf.constant(x, dtype=tf.float64) for x in program.inputs])
        np.testing.assert_allclose(tf_output.numpy(), output, rtol=1e-9, atol=1e-9)
        # Dead code and unused inputs are pruned: every step and input reaches y.
        reaching = program.path_lengths()
        assert all(step.out in reaching for step in program.steps)
        assert all(name in reaching for name in program.names)
        for x in program.inputs:
            assert np.array_equal(x.astype(dtype).astype(np.float64), x)

    check()


def test_programs_reach_fan_out_skip_connections_and_chains():
    seen = set()

    @settings(max_examples=300, database=None, deadline=None)
    @given(programs(["matmul", "add", "sum", "exp", "reshape"]))
    def collect(program):
        if len(program.steps) >= 3:
            seen.add("chain of 3+")
        if any(len(users) > 1 for users in program.consumers().values()):
            seen.add("reused value")
        intermediates = {step.out for step in program.steps}
        if any(len(lengths) > 1 and name in intermediates for name, lengths in program.path_lengths().items()):
            seen.add("skip connection")
        if [step.op for step in program.steps[:2]] == ["matmul", "matmul"]:
            seen.add("matmul(matmul(...))")
        if any(step.op in ("sum", "reshape") for step in program.steps[:-1]):
            seen.add("reduction or reshape in the middle")

    collect()
    assert seen == {
        "chain of 3+", "reused value", "skip connection", "matmul(matmul(...))",
        "reduction or reshape in the middle",
    }


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: programs([]), "ops_used=[]"),
        (lambda: programs("matmul"), "ops_used='matmul'"),
        (lambda: programs(["matmull"]), "'matmull'"),
        (lambda: programs(max_steps=0), "max_steps=0"),
        (lambda: programs(dtype="int8"), "dtype='int8'"),
    ],
    ids=["empty", "string-not-list", "unknown-op", "no-steps", "bad-dtype"],
)
def test_invalid_arguments_are_named(make, message):
    with pytest.raises(InvalidArgument, match=message.replace("[", r"\[").replace("]", r"\]")):
        make()


def test_program_prints_as_straight_line_code():
    program = ProgramCase(
        ("x0", "x1"),
        (np.ones((2, 2)), np.ones((2,))),
        (Step("t0", "matmul", ("x0", "x1")), Step("t1", "sum", ("t0",), {"axis": 0})),
        np.ones(()),
    )
    assert program.code() == "\n".join([
        "x0 = input(2, 2)",
        "x1 = input(2,)",
        "t0 = matmul(x0, x1)",
        "y = sum(t0, axis=0)",
    ])
    assert program.path_lengths() == {"t1": {0}, "t0": {1}, "x0": {2}, "x1": {2}}


# --- checking -------------------------------------------------------------------


@pytest.mark.parametrize("target", ["engine32", "engine64"])
def test_correct_engine_passes_programs(target):
    engine = load_engine(f"gradcheck.examples.numpy_engine:{target}")
    result = check_programs(engine, max_examples=150, seed=0)
    assert result.status == "passed", [failure.to_dict() for failure in result.failures]
    assert result.oracle_disagreements == 0, result.oracle_note
    assert result.kind == "program"


@pytest.mark.parametrize("planted", PLANTED_TRAVERSALS, ids=[p.id for p in PLANTED_TRAVERSALS])
def test_traversal_bugs_are_caught_with_a_traversal_diagnosis(planted):
    engine = load_engine(planted.engine)
    report = run_checks(engine, max_examples=30, seed=0, programs=300)
    ops = [result for result in report.results if result.kind == "op"]
    assert all(result.status == "passed" for result in ops), [r.check for r in ops if r.status != "passed"]
    (programs_result,) = [result for result in report.results if result.kind == "program"]
    assert programs_result.status == "failed"
    failure = programs_result.failure
    assert failure.category == planted.category
    assert TRAVERSAL_DIAGNOSIS in failure.diagnosis
    assert failure.program.splitlines()[-1].startswith("y = ")
    assert len(failure.program.splitlines()) <= 6, failure.program


def test_fixed_question_tape_fails_a_small_matmul_only_program():
    from gradcheck.examples import question_tape_fixed

    engine = load_engine(question_tape_fixed)
    result = check_programs(engine, ops=["matmul"], failed_ops=["matmul"], max_examples=200, seed=0)
    assert result.status == "failed"
    failure = result.failure
    nodes = failure.program.splitlines()  # one line per input and per step
    assert len(nodes) <= 4, failure.program
    assert all("matmul" in line or "input" in line for line in nodes)
    assert TRAVERSAL_DIAGNOSIS in failure.diagnosis


def test_program_failure_blamed_on_an_op_that_passed_alone_names_it():
    """An op bug only programs reach is reported with the op named, not the traversal."""
    from tests.engines import PLANTED

    (planted,) = [p for p in PLANTED if p.id == "log_derivative_squared"]
    engine = load_engine(planted.engine)
    # Its own check is not run (failed_ops empty), so programs are the first to see it.
    result = check_programs(engine, ops=["log", "add"], max_examples=100, seed=0)
    assert result.status == "failed"
    assert result.failure.diagnosis.startswith("log is wrong on its own")


def test_program_failures_of_known_bad_ops_are_not_reported_again():
    from tests.engines import PLANTED

    (planted,) = [p for p in PLANTED if p.id == "log_derivative_squared"]
    engine = load_engine(planted.engine)
    result = check_programs(engine, ops=["log", "add"], failed_ops=["log"], max_examples=100, seed=0)
    assert result.status == "passed"


def test_same_seed_same_minimal_program():
    engine = load_engine("tests/engines/traversal_overwrites.py:engine")
    first = check_programs(engine, max_examples=100, seed=3)
    second = check_programs(engine, max_examples=100, seed=3)
    assert [f.to_dict() for f in first.failures] == [f.to_dict() for f in second.failures]


def test_programs_use_only_supported_ops():
    engine = load_engine("gradcheck.examples.question_tape_fixed")
    assert list(engine.ops) == ["matmul"]
    result = check_programs(engine, failed_ops=["matmul"], max_examples=50, seed=0)
    for failure in result.failures:
        ops_used = {line.split(" = ")[1].split("(")[0] for line in failure.program.splitlines()}
        assert ops_used <= {"matmul", "input"}


@pytest.mark.slow
@pytest.mark.parametrize("target", ["engine32", "engine64"])
def test_correct_engine_passes_500_programs(target):
    engine = load_engine(f"gradcheck.examples.numpy_engine:{target}")
    result = check_programs(engine, max_examples=500, seed=2024)
    assert result.status == "passed", [failure.to_dict() for failure in result.failures]
    assert result.oracle_disagreements == 0, result.oracle_note


def test_every_op_can_appear_in_a_program():
    seen = set()

    # 52 ops, drawn unevenly (domains on computed values): in these 1200 programs
    # log1p appears 3 times and mean 7, so the budget grows with the op table.
    # Derandomized: a random draw of 1200 missed log1p once in a full run.
    @settings(max_examples=1200, database=None, deadline=None, derandomize=True)
    @given(programs())
    def collect(program):
        seen.update(step.op for step in program.steps)

    collect()
    assert seen == set(OP_NAMES)


def test_long_matmul_chains_do_not_trip_the_finite_difference_oracle():
    # A chain of matmuls is a polynomial of high degree: second-order central
    # differences were off by 5e-8 on it (truncation, not rounding), and
    # TensorFlow's right answer was counted as an oracle disagreement.
    # The question's tape draws them (in `gradcheck demo`) while it shrinks its bugs.
    result = check_programs(
        load_engine("gradcheck.examples.question_tape"), failed_ops=["matmul"], max_examples=200, seed=0
    )
    assert result.status == "failed"
    assert result.oracle_disagreements == 0, result.oracle_note


CNN_OPS = ["conv2d", "relu", "max_pool2d", "reshape", "matmul", "cross_entropy"]


def test_a_course_cnn_comes_out_of_the_search():
    # conv → relu → pool → flatten → dense → loss; max pooling and a ReLU
    # commute, so the activation may also come after the pooling.
    wanted = {
        ("conv2d", "relu", "max_pool2d", "reshape", "matmul", "cross_entropy"),
        ("conv2d", "max_pool2d", "relu", "reshape", "matmul", "cross_entropy"),
    }
    seen = set()

    class Found(Exception):
        pass

    # Generate only: Found ends the search (it is not a failure to shrink).
    @settings(max_examples=3000, database=None, deadline=None, derandomize=True, phases=[Phase.generate])
    @given(programs(CNN_OPS))
    def collect(program):
        seen.add(tuple(step.op for step in program.steps))
        if wanted <= seen:
            raise Found

    with pytest.raises(Found):
        collect()


def test_cnn_programs_flatten_each_example_and_pool_without_ties():
    from gradcheck.strategies._programs import _pool_untied

    @settings(max_examples=150, database=None, deadline=None, derandomize=True)
    @given(programs(CNN_OPS))
    def check(program):
        ops_used = tuple(step.op for step in program.steps)
        if ops_used[:1] != ("conv2d",) or ops_used[-3:] != ("reshape", "matmul", "cross_entropy"):
            return
        values = dict(zip(program.names, program.inputs))
        for step in program.steps:
            args = [values[arg] for arg in step.args]
            if step.op == "reshape" and args[0].ndim == 4:
                assert step.params["shape"] in ((args[0].shape[0], -1), (args[0].shape[0], args[0][0].size))
            if step.op == "max_pool2d":
                assert _pool_untied(args[0], **step.params)
            values[step.out] = OPS[step.op].reference(*args, **step.params)

    check()


@pytest.mark.parametrize("target", ["engine32", "engine64"])
def test_correct_engine_passes_cnn_programs(target):
    engine = load_engine(f"gradcheck.examples.numpy_engine:{target}")
    result = check_programs(engine, ops=CNN_OPS + ["avg_pool2d", "tanh", "gelu", "add"], max_examples=100, seed=1)
    assert result.status == "passed", [failure.to_dict() for failure in result.failures]
    assert result.oracle_disagreements == 0, result.oracle_note


def test_blaming_steps_reads_a_gathered_adjoint_as_dense():
    # The adjoint of a value that a take reads is tf.IndexedSlices; blaming a
    # program's steps crashed on it (found by a campaign over all ops).
    program = ProgramCase(
        ("x0",), (np.array([0.5, 1.0, 1.5]),),
        (Step("t0", "sin", ("x0",), {}), Step("t1", "take", ("t0",), {"indices": np.array([0, 0, 2]), "axis": 0})),
        np.array([1.0, 2.0, 3.0]),
    )
    (_, sin_case), (_, take_case) = program.step_cases()
    assert np.allclose(sin_case.cotangent, [3.0, 0.0, 3.0])
    assert np.allclose(take_case.cotangent, [1.0, 2.0, 3.0])
