"""One failure per distinct bug (issue 15, point 2), each on the smallest case of its kind (point 6).

Two bugs of one op and one category in classes of cases neither contains
(1-D operands and batched stacks; negative axes and ``keepdims``) are both
reported, each shrunk within its class; a bug that shows everywhere is told
once. After shrinking, a failure moves to smaller shapes of its class that
still show it: ``(1, 1, 1) @ (1,)`` rather than ``(2, 2, 2) @ (2,)``, while
the question's transpose bug, invisible on sides of 1, stays on
``(2, 2, 2) @ (2, 2, 2)``.
"""

from __future__ import annotations

import pytest

import ast
import dataclasses
import functools
import json
import subprocess
import sys
from importlib import import_module

from gradcheck.engine import load_engine
from gradcheck.reports import render_report
from gradcheck.reports.display import status_text
from gradcheck.reports.reproducer import write_reproducers
from gradcheck.results import CheckResult, Report
from gradcheck.runner import check_op
from gradcheck.strategies import case_class, case_size, op_cases, smaller_cases
from tests.report_samples import sample_report
from tests.test_reports import plain_console

EXAMPLES = 100


@functools.lru_cache(maxsize=None)
def _checked(name: str) -> CheckResult:
    planted = import_module(f"tests.engines.{name}")
    return check_op(load_engine(planted.engine), planted.OP, max_examples=EXAMPLES, seed=0)


def _shapes(failure) -> list[tuple[int, ...]]:
    return [record.shape for record in failure.inputs]


def test_matmul_wrong_on_batched_stacks_and_on_1d_operands_shows_both():
    result = _checked("matmul_batched_and_1d")
    mismatches = [failure for failure in result.failures if failure.category == "mismatch"]
    assert len(mismatches) == 2, [(f.category, _shapes(f)) for f in result.failures]
    batched, vector = sorted(mismatches, key=lambda failure: len(_shapes(failure)[1]), reverse=True)
    # Each on its own minimal case: the stack with every side 2 (sides of 1
    # hide a transpose), and the square matrix times a vector.
    assert _shapes(batched) == [(2, 2, 2), (2, 2, 2)]
    assert _shapes(vector) in ([(2, 2), (2,)], [(2,), (2, 2)])  # a @ v or v @ b
    assert "all axes of b reversed" in batched.diagnosis


def test_sum_raising_on_negative_axes_is_not_hidden_by_missing_keepdims():
    result = _checked("sum_negative_axis_no_keepdims")
    exceptions = [failure for failure in result.failures if failure.category == "exception"]
    assert len(exceptions) == 2, [(f.category, _shapes(f), f.params) for f in result.failures]
    by_keepdims = {failure.params["keepdims"]: failure for failure in exceptions}
    assert "TypeError" in by_keepdims[True].message and _shapes(by_keepdims[True]) == [()]
    negative = by_keepdims[False]
    assert negative.params["axis"] == -1 and _shapes(negative) == [(2,)]


def test_a_shape_driven_failure_moves_to_sides_of_one():
    # Hypothesis alone stops at (2, 2, 2) @ (2,), drawn from the space where every side is 2.
    (failure,) = _checked("matmul_batched_vector_raises").failures
    assert failure.category == "exception"
    assert _shapes(failure) == [(1, 1, 1), (1,)]


def test_a_bug_that_shows_everywhere_is_told_once():
    planted = import_module("tests.engines.subtract_sign")
    result = check_op(load_engine(planted.engine), "subtract", max_examples=30, seed=0)
    assert [failure.category for failure in result.failures] == ["mismatch"]


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")  # fixed shapes: one draw is enough
def test_case_classes_by_rank_and_parameter():
    def of(op, shapes, params=None):
        return case_class(op_cases(op, shapes=shapes, params=params).example())

    matrix, vector = of("matmul", [(2, 2), (2, 2)]), of("matmul", [(2, 2), (2,)])
    batched, broadcast = of("matmul", [(2, 2, 2), (2, 2, 2)]), of("matmul", [(2, 2, 2), (2, 2)])
    vector_on_stack = of("matmul", [(2,), (2, 2, 2)])
    assert [c.features for c in (matrix, vector, batched, broadcast)] == [
        set(), {"1-D"}, {"batched"}, {"batched", "broadcast"}]
    assert matrix.contains(vector) and matrix.contains(batched) and batched.contains(broadcast)
    assert not vector.contains(batched) and not batched.contains(vector)
    # A vector times a stack builds on both: either bug explains a failure there.
    assert vector.contains(vector_on_stack) and batched.contains(vector_on_stack)
    plain, negative = of("sum", [(2, 3)], {"axis": 1}), of("sum", [(2, 3)], {"axis": -1})
    kept = of("sum", [(2, 3)], {"axis": None, "keepdims": True})
    assert negative.features == {"1-D", "matrix", "axis", "negative axis"}
    assert kept.features == {"1-D", "matrix", "keepdims"}
    assert plain.contains(negative) and not negative.contains(plain)
    assert not negative.contains(kept) and not kept.contains(negative)
    assert of("sum", [(2, 3)], {"axis": None}).contains(kept)


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")  # fixed shapes: one draw is enough
def test_smaller_cases_keep_the_op_and_its_parameters_and_shrink():
    case = op_cases("sum", shapes=[(2, 3, 2)], params={"axis": -1, "keepdims": True}, sets=8).example()[0]
    batches = list(smaller_cases(case))
    assert batches and batches[0][0].shapes == ((1, 1, 1),)
    for batch in batches:
        for smaller in batch:
            assert smaller.op == "sum" and smaller.params == case.params
            assert case_size(smaller) < case_size(case)
            smaller.reference(*smaller.inputs)  # the op accepts it


def test_two_failures_of_one_category_get_two_tests_and_survive_json(tmp_path):
    result = _checked("matmul_batched_and_1d")
    planted = import_module("tests.engines.matmul_batched_and_1d")
    engine = load_engine(planted.engine)
    report = Report(target=f"{planted.__file__}:engine", seed=0, dtype="float64", max_examples=EXAMPLES,
                    results=(result,))
    restored = Report.from_dict(json.loads(json.dumps(report.to_dict())))
    assert [f.category for f in restored.results[0].failures] == [f.category for f in result.failures]
    paths = write_reproducers(report, tmp_path, engine)
    source = paths["matmul"].read_text()
    tests = [node.name for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)
             and node.name.startswith("test_")]
    assert len(tests) == len(set(tests)) == len(result.failures)
    assert {"test_matmul_mismatch", "test_matmul_mismatch_2"} <= set(tests)
    # Each reproducer test fails on the engine: each bug is there to see.
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(paths["matmul"])],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert f"{len(tests)} failed" in run.stdout, run.stdout[-2000:]


def _two_mismatches() -> Report:
    """The sample report with matmul failing by two mismatches: a category repeated within a check."""
    report = sample_report()
    results = []
    for result in report.results:
        if result.check == "matmul":
            first = result.failures[0]
            second = dataclasses.replace(first, message="the gradient w.r.t. a differs from the reference", wrt="a")
            result = dataclasses.replace(result, failures=(first, second, result.failures[1]))
        results.append(result)
    return dataclasses.replace(report, results=tuple(results))


def test_every_format_shows_both_failures_of_a_repeated_category(tmp_path):
    report = _two_mismatches()
    matmul = next(result for result in report.results if result.check == "matmul")
    assert status_text(matmul) == "failed: mismatch ×2, exception"
    render_report(report, ["json", "html", "junit", "md"], tmp_path, console=plain_console())
    markdown = (tmp_path / "gradcheck.md").read_text(encoding="utf-8")
    assert "matmul · mismatch (1 of 3)" in markdown and "matmul · mismatch (2 of 3)" in markdown
    html = (tmp_path / "gradcheck.html").read_text(encoding="utf-8")
    assert html.count('id="failure-matmul-') == 3  # one anchor per failure, none shared
    stored = json.loads((tmp_path / "gradcheck.json").read_text(encoding="utf-8"))
    restored = Report.from_dict(stored).results[2]
    assert [failure.category for failure in restored.failures] == ["mismatch", "mismatch", "exception"]
    assert [failure.wrt for failure in restored.failures[:2]] == ["b", "a"]
