"""One bug, told once: self-consistency of a wrong forward, and failures grouped under their cause.

* A wrong forward whose gradient is the derivative of what the forward
  computes is reported as ``forward`` alone, saying so; a gradient that is
  not is "both wrong".
* Failures of one check that the same wrong rule reproduces (each on its own
  case) are one failure with ``also_seen_as``; different causes stay apart.
* On correct engines no recognizer fires and self-consistency never blames
  the gradient (the campaign; its long version is ``@pytest.mark.slow``).
"""

from __future__ import annotations

import importlib
import io
import json
import types
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from rich.console import Console

from gradcheck.case import Case
from gradcheck.diagnosis import Consistency, diagnoses, explain, self_consistency
from gradcheck.engine import load_engine
from gradcheck.examples.numpy_engine import make_engine, node
from gradcheck.ops import OP_NAMES
from gradcheck.oracles import reference_for
from gradcheck.reports import render_report
from gradcheck.results import CheckResult, Failure, Report
from gradcheck.runner import check_op
from gradcheck.strategies import op_cases
from gradcheck.tolerances import DEFAULT_TOLERANCES
from gradcheck.verdict import judge
from tests.engines import (
    matmul_2d_only,
    matmul_transpose_all_axes,
    matrix_transpose_forward_all_axes,
    softmax_ignores_axis,
)
from tests.shared_checks import searched

RIGHT_FOR_OWN_FORWARD = "your gradient is right for the function your forward computes: fix the forward"


def _transpose_engine(backward: Any) -> Any:
    """Return an engine whose matrix_transpose reverses every axis, with ``backward(g)`` as its VJP."""
    op = lambda x: node(np.transpose(x.data), (x,), lambda g: (backward(g),))  # noqa: E731
    return load_engine(make_engine(name="test: transpose forward", overrides={"matrix_transpose": op}))


def _case(op: str, *inputs: np.ndarray, params: dict[str, Any] | None = None, cotangent: Any = None) -> Case:
    names = ("a", "b")[: len(inputs)] if len(inputs) == 2 else ("x",)
    output = np.asarray(Case(op, names, inputs, params or {}).reference(*inputs))
    g = np.arange(1.0, output.size + 1).reshape(output.shape) if cotangent is None else cotangent
    return Case(op, names, tuple(inputs), params or {}, g)


def _failure(engine: Any, case: Case) -> Failure:
    failure = judge(case, engine.run(case, 10.0, False), reference_for(case), DEFAULT_TOLERANCES["float64"])
    assert failure is not None
    return failure


X = np.arange(24.0).reshape(2, 3, 4) / 7 - 1.5


# --- Self-consistency ------------------------------------------------------------------


def test_forward_only_transpose_bug_is_forward_alone_with_the_sentence():
    result = searched(matrix_transpose_forward_all_axes.engine, "matrix_transpose")  # check_op, 100 examples, seed 0
    assert [failure.category for failure in result.failures] == ["forward"]
    (failure,) = result.failures
    assert failure.also_seen_as == ()
    assert failure.diagnosis is not None and RIGHT_FOR_OWN_FORWARD in failure.diagnosis


def test_forward_bug_with_a_consistent_backward_is_told_so():
    # softmax over the last axis whatever axis is asked: the gradient is that function's.
    result = searched(softmax_ignores_axis.engine, "softmax")  # check_op, 100 examples, seed 0
    assert [failure.category for failure in result.failures] == ["forward"]
    assert RIGHT_FOR_OWN_FORWARD in (result.failures[0].diagnosis or "")


@pytest.mark.parametrize("backward, x, verdict", [
    (np.transpose, X, Consistency.OWN),
    # The right VJP of a last-two swap: right for the op, not for this forward
    # (a cube, so that the swapped cotangent has x's shape).
    (lambda g: np.swapaxes(g, -1, -2), X[:, :2, :2], Consistency.REFERENCE),
    (lambda g: 2 * np.transpose(g), X, Consistency.NEITHER),
], ids=["own", "reference", "neither"])
def test_self_consistency_says_which(backward, x, verdict):
    engine = _transpose_engine(backward)
    case = _case("matrix_transpose", x)
    found = self_consistency(engine, case, 10.0)
    assert found is not None and found.consistency is verdict


def test_both_wrong_is_said_and_keeps_the_gradient_failure():
    engine = _transpose_engine(lambda g: 2 * np.transpose(g))
    case = _case("matrix_transpose", X)
    (failure,) = explain([(case, _failure(engine, case))], DEFAULT_TOLERANCES["float64"], engine=engine, timeout=10.0)
    assert "both are wrong" in (failure.diagnosis or "")
    assert "finite differences of the forward give" in (failure.diagnosis or "")


# --- Grouping ---------------------------------------------------------------------------


@pytest.fixture
def question_tape_result() -> CheckResult:
    from gradcheck.examples import question_tape

    return searched(question_tape, "matmul")  # check_op, 100 examples, seed 0


def test_one_transpose_bug_is_one_failure_also_seen_as_shape_and_exception(question_tape_result):
    result = question_tape_result
    # Two bugs: the all-axes transpose (told once, with its shape and exception
    # consequences), and a forward that raises on 1-D operands (tf.matmul needs
    # matrices), a distinct exception the search goes on to find.
    assert [failure.category for failure in result.failures] == ["mismatch", "exception"]
    failure, one_d = result.failures
    assert all(record.shape == (1,) for record in one_d.inputs) and "1-D" in (one_d.diagnosis or "")
    assert not one_d.also_seen_as
    assert [other.category for other in failure.also_seen_as] == ["shape", "exception"]
    assert "all axes of" in (failure.diagnosis or "")
    # Each consequence keeps its own case and its own evidence.
    for other in failure.also_seen_as:
        assert other.inputs and "reverses" in (other.diagnosis or "")


def test_grouped_failures_in_every_format(question_tape_result, tmp_path):
    report = Report(target="gradcheck.examples.question_tape", seed=0, results=(question_tape_result,))
    assert report.summary == {"passed": 0, "failed": 1, "unsupported": 0}
    data = json.loads(json.dumps(report.to_dict()))
    also = data["results"][0]["failure"]["also_seen_as"]
    assert [item["category"] for item in also] == ["shape", "exception"]
    assert [item["category"] for item in data["results"][0]["failures"]] == ["mismatch", "exception"]
    assert Report.from_dict(data).to_dict() == report.to_dict()
    terminal = io.StringIO()
    render_report(report, ["text", "json", "html", "junit", "md"], tmp_path,
                  console=Console(file=terminal, width=100, color_system=None))
    texts = {path.name: path.read_text() for path in tmp_path.iterdir() if path.suffix in (".html", ".md", ".xml")}
    texts["terminal"] = terminal.getvalue()
    assert len(texts) == 4
    for name, text in texts.items():
        text = " ".join(text.replace("│", " ").split())
        assert "also seen as" in text.lower(), name
        assert "shape on (a: " in text and "exception on (a: " in text, name
        assert "1 of 4" not in text and "(3 of" not in text, name  # two bugs, not four failures


def test_different_causes_are_never_grouped():
    # A transpose over every axis and a rule that assumes matrices: two bugs of matmul.
    tolerance = DEFAULT_TOLERANCES["float64"]
    transposed = load_engine(matmul_transpose_all_axes.engine)
    matrices = load_engine(matmul_2d_only.engine)
    batched = _case("matmul", np.arange(8.0).reshape(2, 2, 2) - 3, np.arange(4.0).reshape(2, 2) + 1)
    vector = _case("matmul", np.arange(6.0).reshape(2, 3) - 2, np.arange(3.0) + 1)
    failing = [(batched, _failure(transposed, batched)), (vector, _failure(matrices, vector))]
    told = explain(failing, tolerance)
    assert [failure.category for failure in told] == ["mismatch", "exception"]
    assert all(failure.also_seen_as == () for failure in told)


def test_descriptions_without_a_rule_never_group():
    # Two sign flips of different ops' rules look alike but name no single wrong rule.
    tolerance = DEFAULT_TOLERANCES["float64"]
    case = _case("negative", np.array([1.0, -2.0]))
    flipped = Failure("mismatch", "m", (), wrt="x", expected=-case.cotangent, actual=case.cotangent)
    told = explain([(case, flipped), (case, flipped)], tolerance)
    assert len(told) == 2


# --- Exceptions a second run of the same case explains -------------------------------

# Shapes and parameters fixed where the bug shows (test_planted.py finds each by search).
RERUN_BUGS = [
    ("sum_negative_axes_raises", "sum", [(2, 3)], {"axis": -1, "keepdims": False},
     ("raised with", "negative axes axis=-1", "written non-negative, axis=1", "axis % x.ndim")),
    ("add_unbroadcast_raises", "add", [(2, 3), (3,)], None,
     ("raised on operands of shapes a (2, 3), b (3,)", "broadcast to (2, 3)", "sum each operand's gradient")),
    ("maximum_broadcast_raises", "maximum", [(2, 3), (3,)], None,
     ("raised on operands of shapes a (2, 3), b (3,)", "broadcast to (2, 3)", "a > b")),
]


@pytest.mark.parametrize("module_name, op, shapes, params, words", RERUN_BUGS, ids=[row[0] for row in RERUN_BUGS])
def test_exception_is_explained_by_a_second_run(module_name, op, shapes, params, words):
    module = importlib.import_module(f"tests.engines.{module_name}")
    result = check_op(load_engine(module.engine), op, max_examples=5, seed=0, shapes=shapes, params=params)
    assert [failure.category for failure in result.failures] == ["exception"]
    diagnosis = result.failures[0].diagnosis or ""
    for word in words:
        assert word in diagnosis, (word, diagnosis)


def test_mixed_sign_axes_are_named():
    from tests.engines import sum_negative_axes_raises

    engine = load_engine(sum_negative_axes_raises.engine)
    case = _case("sum", X, params={"axis": (0, -1), "keepdims": False})
    failure = _failure(engine, case)
    (told,) = explain([(case, failure)], DEFAULT_TOLERANCES["float64"], engine=engine, timeout=10.0)
    assert "mixed-sign axes axis=(0, -1)" in (told.diagnosis or "")
    assert "axis=(0, 2)" in (told.diagnosis or "")


def test_no_second_run_without_the_engine():
    from tests.engines import sum_negative_axes_raises

    engine = load_engine(sum_negative_axes_raises.engine)
    case = _case("sum", X, params={"axis": -1, "keepdims": False})
    (told,) = explain([(case, _failure(engine, case))], DEFAULT_TOLERANCES["float64"])
    assert told.diagnosis is None


def test_a_rewrite_that_fails_too_explains_nothing():
    # matmul on matrices only raises on 1-D operands whatever their axes: no rewrite applies,
    # and the 1-D recognizer, not a rerun, names it.
    engine = load_engine(matmul_2d_only.engine)
    case = _case("matmul", np.arange(6.0).reshape(2, 3) - 2, np.arange(3.0) + 1)
    (told,) = explain([(case, _failure(engine, case))], DEFAULT_TOLERANCES["float64"], engine=engine, timeout=10.0)
    assert "1-D" in (told.diagnosis or "") and "rewrite" not in (told.diagnosis or "")


# --- A user's function: only what its numbers show ---------------------------------------


def test_off_by_one_conv_window_gets_no_invented_cause():
    from gradcheck import check_function
    from tests.functions import layers

    report = check_function(layers.conv1d, layers.conv1d_vjp_window_off_by_one,
                            shapes=layers.conv1d_shapes, max_examples=100)
    (failure,) = report.results[0].failures
    assert failure.category == "mismatch"
    diagnosis = failure.diagnosis or ""
    for claim in ("passed through", "local derivative", "disconnected", "never reached"):
        assert claim not in diagnosis, diagnosis
    # The correct VJP passes: the check is about the window.
    assert check_function(layers.conv1d, layers.conv1d_vjp, shapes=layers.conv1d_shapes,
                          max_examples=30).results[0].status == "passed"


@pytest.mark.parametrize("g, fires", [
    (np.array([1.5]), False),  # one number: any rule giving it would "match"
    (np.array([1.0, 1.0, 1.0]), False),  # a constant cotangent: still one number
    (np.array([1.0, -2.0, 0.5]), True),
], ids=["one-entry", "constant", "varied"])
def test_function_passed_through_needs_more_than_one_number(g, fires):
    from gradcheck.function_case import FunctionCase

    case = FunctionCase(function=layers_softplus(), names=("x",), inputs=(np.ones(g.shape),), cotangent=g)
    failure = Failure("mismatch", "m", (), wrt="x", expected=0.3 * g, actual=g)
    names = [name for name, _ in diagnoses(case, failure, DEFAULT_TOLERANCES["float64"])]
    assert ("passed_through" in names) is fires, names


def layers_softplus() -> Any:
    # Only its name is read: the recognizers of a function need no call into it.
    return types.SimpleNamespace(name="softplus")


# --- Campaign: correct engines, where no recognizer may fire --------------------------

CORRECT_ENGINES = [
    ("numpy64", "gradcheck.examples.numpy_engine:engine64"),
    ("numpy32", "gradcheck.examples.numpy_engine:engine32"),
    ("tf64", "gradcheck.adapters.tensorflow:engine64"),
    ("tf32", "gradcheck.adapters.tensorflow:engine32"),
]


def _campaign(target: str, examples: int, consistency_every: int) -> list[str]:
    """Return every recognizer that fires, and every self-consistency that blames, on a correct engine."""
    engine = load_engine(target)
    tolerance = DEFAULT_TOLERANCES[engine.dtype.name]
    fired: list[str] = []
    for op in OP_NAMES:
        seen = [0]

        @settings(max_examples=examples, database=None, deadline=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(op_cases(op, dtype=engine.dtype.name))
        def run(case: Case) -> None:
            reference = reference_for(case)
            if not reference.agrees:
                return
            outcome = engine.run(case, 30.0, False)
            assert outcome.failure is None and outcome.forward is not None and outcome.grads is not None
            pretended = [Failure(category, "pretended", (), expected=reference.forward, actual=outcome.forward)
                         for category in ("forward", "nonfinite")]
            for name, expected, actual in zip(case.names, reference.grads, outcome.grads):
                pretended += [Failure(category, "pretended", (), wrt=name, expected=expected, actual=actual)
                              for category in ("mismatch", "shape", "nonfinite")]
            for failure in pretended:
                fired.extend(f"{op} {failure.category}: {name}: {sentence}"
                             for name, sentence in diagnoses(case, failure, tolerance))
            seen[0] += 1
            if seen[0] % consistency_every == 1 or consistency_every == 1:
                found = self_consistency(engine, case, 30.0)
                if found is not None and found.consistency is not Consistency.OWN:
                    fired.append(f"{op} self-consistency: {found} on {case.describe()}")

        run()
    return fired


@pytest.mark.parametrize("target", [target for _, target in CORRECT_ENGINES],
                         ids=[name for name, _ in CORRECT_ENGINES])
def test_no_recognizer_fires_on_a_correct_engine(target):
    assert _campaign(target, examples=3, consistency_every=3) == []


@pytest.mark.slow
@pytest.mark.parametrize("target", [target for _, target in CORRECT_ENGINES],
                         ids=[name for name, _ in CORRECT_ENGINES])
def test_no_recognizer_fires_on_a_correct_engine_long(target):
    assert _campaign(target, examples=200, consistency_every=1) == []
