"""The pytest plugin's items as pytest users handle them (issue 19).

* A node id pytest prints (``two_ops.py::gradcheck[sum]``) runs that item
  when passed back to pytest, for every item the plugin makes and for a
  module target too.
* The ops an engine does not define are one skipped item,
  ``gradcheck[unsupported]``, whose one line lists them; an op the user named
  (``--gradcheck-ops``, a node id) and the engine lacks fails, as
  ``assert_gradients`` does.
* Under pytest-xdist the gradcheck items run on one worker, so
  ``gradcheck[programs]`` does not report an op's bug again.

As in ``tests/test_pytest_plugin.py``: small suites run with ``pytester``,
in-process unless xdist is the point; searches are tiny (5 examples per op,
10 programs). The engines: ``tests/targets/two_ops.py`` (matmul and sum, both
right) and the planted bugs ``tests/engines/mean_missing_1_over_n.py`` and
``tests/engines/pow_derivative_p_x_p.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gradcheck.assertions import CheckSettings, check_report
from gradcheck.ops import OP_NAMES

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent
TWO_OPS = REPO / "tests" / "targets" / "two_ops.py"
PLANTED = REPO / "tests" / "engines"
FAST = ("--gradcheck-max-examples", "5", "--gradcheck-programs", "10")
TRIVIAL_TESTS = "def test_one():\n    pass\n\n\ndef test_two():\n    pass\n"
# An item's -v line: "two_ops.py::gradcheck[sum] PASSED  [ 50%]", or "[gw0] [ 50%] PASSED two_ops.py::gradcheck[sum]".
ITEM_LINE = re.compile(
    r"^(?:(?P<id>\S+::gradcheck\[\w+\]) (?:PASSED|FAILED|SKIPPED)"
    r"|\[gw\d+\] \[ *\d+%\] (?:PASSED|FAILED|SKIPPED) (?P<xdist_id>\S+::gradcheck\[\w+\]))"
)


@pytest.fixture(scope="module", autouse=True)
def _imports_done_before_pytester():
    """Import what a check imports before pytester runs (it restores sys.modules; TensorFlow cannot load twice)."""
    check_report("gradcheck.examples.numpy_engine", ["matmul", "programs"], CheckSettings(max_examples=2, programs=2))


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """Return a pytester folder holding two trivial tests and the two-op engine."""
    pytester.makepyfile(test_trivial=TRIVIAL_TESTS, two_ops=TWO_OPS.read_text(encoding="utf-8"))
    return pytester


def printed_ids(result: pytest.RunResult) -> list[str]:
    """Return the gradcheck node ids an inner run printed, in order."""
    return [match["id"] or match["xdist_id"] for line in result.stdout.lines if (match := ITEM_LINE.match(line))]


def ran(result: pytest.RunResult) -> int:
    """Return how many items an inner run ran (passed, failed or skipped)."""
    outcomes = result.parseoutcomes()
    return sum(outcomes.get(key, 0) for key in ("passed", "failed", "skipped"))


# --- node ids that rerun -----------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [pytest.param("two_ops.py", id="file"), pytest.param("two_ops", id="module")],
)
def test_each_printed_node_id_runs_that_item_alone(suite, target):
    if target == "two_ops":
        suite.syspathinsert()
    first = suite.runpytest(f"--gradcheck={target}", *FAST, "-v")
    first.assert_outcomes(passed=5, skipped=1)
    ids = printed_ids(first)
    assert ids == [f"{target}::gradcheck[{check}]" for check in ("matmul", "sum", "unsupported", "programs")]
    for node_id in ids:
        again = suite.runpytest(f"--gradcheck={target}", *FAST, "-v", node_id)
        assert ran(again) == 1, again.stdout.str()
        assert printed_ids(again) == [node_id]


def test_node_ids_mix_with_test_files_and_other_paths_to_the_engine(suite):
    both = suite.runpytest("--gradcheck=two_ops.py", *FAST, "-v", "test_trivial.py::test_one",
                           "./two_ops.py::gradcheck[sum]", f"{suite.path / 'two_ops.py'}::gradcheck[programs]")
    both.assert_outcomes(passed=3)
    assert printed_ids(both) == ["two_ops.py::gradcheck[sum]", "two_ops.py::gradcheck[programs]"]
    # No [check]: every gradcheck item, and none of the test files.
    every = suite.runpytest("--gradcheck=two_ops.py", *FAST, "two_ops.py::gradcheck")
    every.assert_outcomes(passed=3, skipped=1)


def test_a_node_id_naming_no_item_is_a_usage_error(suite):
    result = suite.runpytest("--gradcheck=two_ops.py", "--gradcheck-ops", "matmul", *FAST,
                             "two_ops.py::gradcheck[sum]")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1, result.stderr.str()
    assert errors[0].startswith("ERROR: not found: two_ops.py::gradcheck[sum]; the gradcheck items of two_ops.py")
    assert errors[0].endswith("gradcheck[matmul], gradcheck[programs] (their ops come from --gradcheck-ops "
                              "and the ops the engine defines).")
    misspelt = suite.runpytest("--gradcheck=two_ops.py", *FAST, "two_ops.py::gradcheck[matmull]")
    assert misspelt.ret == pytest.ExitCode.USAGE_ERROR
    assert misspelt.stderr.str().rstrip().endswith("Did you mean gradcheck[matmul]?")


# --- unsupported ops -----------------------------------------------------------------


def test_ops_the_engine_lacks_are_one_skipped_item_whose_line_lists_them(suite):
    result = suite.runpytest("--gradcheck=two_ops.py", *FAST, "-ra", "--gradcheck-report-dir", "out")
    result.assert_outcomes(passed=5, skipped=1)
    skipped = [line for line in result.stdout.lines if line.startswith("SKIPPED")]
    lacking = [op for op in OP_NAMES if op not in ("matmul", "sum")]
    assert skipped == [(
        f"SKIPPED [1] two_ops.py: {len(lacking)} ops not checked: the engine defines none of "
        f"{', '.join(lacking)} (docs/contract.md, section 1)"
    )]
    # The report files still hold each op's result, and -k finds the item by any op it lists.
    report = json.loads((suite.path / "out" / "gradcheck.json").read_text(encoding="utf-8"))
    statuses = {entry["check"]: entry["status"] for entry in report["results"]}
    assert [check for check, status in statuses.items() if status == "unsupported"] == lacking
    assert report["summary"] == {"passed": 3, "failed": 0, "unsupported": len(lacking)}
    by_op = suite.runpytest("--gradcheck=two_ops.py", *FAST, "-k", "conv2d", "-v")
    by_op.assert_outcomes(skipped=1, deselected=5)
    assert printed_ids(by_op) == ["two_ops.py::gradcheck[unsupported]"]


@pytest.mark.parametrize(
    ("args", "item"),
    [
        pytest.param(("--gradcheck-ops", "matmul,mean"), "mean", id="gradcheck-ops"),
        pytest.param(("two_ops.py::gradcheck[conv2d]",), "conv2d", id="node-id"),
    ],
)
def test_an_op_named_that_the_engine_lacks_fails(suite, args, item):
    result = suite.runpytest("--gradcheck=two_ops.py", *FAST, "-ra", *args)
    assert result.parseoutcomes()["failed"] == 1
    result.stdout.fnmatch_lines([
        f"{item} is unsupported: the engine defines no '{item}'",  # the failure, in full
        f"FAILED two_ops.py::gradcheck[[]{item}[]] - Failed: {item} is unsupported: *",
    ])
    assert "SKIPPED" not in result.stdout.str()


def test_pow_item_reports_pow_and_pow_tensor_its_own(pytester):
    # Checking pow checks pow_tensor too (the engine's pow takes both): each item reports its own form.
    pytester.makepyfile(engine=(PLANTED / "pow_derivative_p_x_p.py").read_text(encoding="utf-8"))
    result = pytester.runpytest("--gradcheck=engine.py", "--gradcheck-ops", "pow,pow_tensor", *FAST, "-v")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "engine.py::gradcheck[[]pow[]] FAILED*",
        "engine.py::gradcheck[[]pow_tensor[]] PASSED*",
    ])


# --- pytest-xdist ----------------------------------------------------------------------


CONTROLLER_IMPORTS = """
import sys

def pytest_unconfigure(config):
    if not hasattr(config, "workerinput"):
        with open("controller.txt", "w") as file:
            file.write(f"tensorflow imported: {'tensorflow' in sys.modules}")
"""


def test_xdist_runs_every_gradcheck_item_on_one_worker_and_merges_the_reports(pytester):
    pytester.makepyfile(test_trivial=TRIVIAL_TESTS,
                        engine=(PLANTED / "mean_missing_1_over_n.py").read_text(encoding="utf-8"))
    pytester.makeconftest(CONTROLLER_IMPORTS)
    result = pytester.runpytest_subprocess(
        "--gradcheck=engine.py", "--gradcheck-ops", "matmul,sum,mean", *FAST,
        "-n", "2", "--gradcheck-report-dir", "reports", "-v", "-p", "no:cacheprovider",
    )
    # mean's bug fails its own item only: programs, on the same worker, knows mean failed.
    result.assert_outcomes(passed=5, failed=1)
    lines = [line for line in result.stdout.lines if re.match(r"\[gw\d+\] .*(PASSED|FAILED)", line)]
    workers = {line.split()[0] for line in lines if "::gradcheck[" in line}
    assert len(workers) == 1, lines
    checks = ("matmul", "sum", "mean", "programs")
    assert printed_ids(result) == [f"engine.py::gradcheck[{check}]" for check in checks]
    result.stdout.fnmatch_lines(["FAILED engine.py::gradcheck[[]mean[]] - *mean · mismatch*"])
    report = json.loads((pytester.path / "reports" / "gradcheck.json").read_text(encoding="utf-8"))
    assert [(entry["check"], entry["status"]) for entry in report["results"]] == [
        ("matmul", "passed"), ("sum", "passed"), ("mean", "failed"), ("programs", "passed"),
    ]
    # The controller runs no check: it does not import TensorFlow (its start-up is the workers').
    assert (pytester.path / "controller.txt").read_text(encoding="utf-8") == "tensorflow imported: False"
