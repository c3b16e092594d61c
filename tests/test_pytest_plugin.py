"""The pytest plugin (issue 5) and ``assert_gradients``.

Plugin tests hold a small test suite in a string, run pytest on it with
``pytester`` and assert the outcomes, as pytest's own plugin tests do. They
run in this process (``runpytest``) unless isolation is the point: the
import-cost tests and pytest-xdist use a fresh interpreter
(``runpytest_subprocess``). Searches are tiny (5 examples per op, 10
programs, two or three ops) so each inner run takes about a second.

Planted bug: ``tests/engines/mean_missing_1_over_n.py`` (mean's backward
forgets to divide by n), copied into the pytester folder as ``engine.py``.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

import gradcheck
from gradcheck.assertions import CheckSettings, GradientAssertionError, assert_gradients, check_report
from gradcheck.engine import load_engine
from gradcheck.errors import UsageError
from gradcheck.reports.text import render_check_text

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent
NUMPY = "gradcheck.examples.numpy_engine"
TAPE = "gradcheck.examples.question_tape"  # defines matmul only, and gets it wrong
PLANTED_SOURCE = REPO / "tests" / "engines" / "mean_missing_1_over_n.py"
FAST = ("--gradcheck-max-examples", "5", "--gradcheck-programs", "10")
TRIVIAL_TEST = "def test_trivial():\n    pass\n"

# What a failure report must not be: a traceback, or Hypothesis talking.
NOT_IN_A_FAILURE = ("Traceback", "hypothesis", "Falsifying", "_CaseFailed")


@pytest.fixture(scope="module", autouse=True)
def _imports_done_before_pytester():
    """Run one tiny check first, so every module a check imports is loaded already.

    ``pytester`` restores ``sys.modules`` after each in-process run; a module
    first imported inside one would be imported again by the next, and
    TensorFlow does not survive being imported twice in one process.
    """
    check_report(NUMPY, ["matmul", "programs"], CheckSettings(max_examples=2, programs=2))


@pytest.fixture
def planted(pytester: pytest.Pytester) -> str:
    """Return the target of the planted-bug engine, written next to the inner test suite."""
    pytester.makepyfile(engine=PLANTED_SOURCE.read_text(encoding="utf-8"))
    return "engine.py"


def run(pytester: pytest.Pytester, target: str, *args: str, ops: str = "sum,mean") -> pytest.RunResult:
    """Run pytest on a trivial suite plus the gradcheck items of ``target`` (``ops``)."""
    if not (pytester.path / "test_trivial.py").exists():
        pytester.makepyfile(test_trivial=TRIVIAL_TEST)
    return pytester.runpytest(f"--gradcheck={target}", "--gradcheck-ops", ops, *FAST, *args)


def failures(result: pytest.RunResult) -> str:
    """Return the FAILURES section of an inner run's output (the header names Hypothesis's plugin)."""
    return result.stdout.str().split("= FAILURES =", 1)[1].split("short test summary info", 1)[0]


def assert_minimal_case(text: str) -> None:
    """Assert that ``text`` is the planted mean bug's panel, with its diagnosis, and no traceback."""
    for fragment in ("mean · mismatch", "inputs", "gradient w.r.t. x", "diagnosis",
                     "constant factor", "replay"):
        assert fragment in text, fragment
    for fragment in NOT_IN_A_FAILURE:
        assert fragment not in text, fragment


# --- items ------------------------------------------------------------------------


def test_one_item_per_op_then_programs(pytester):
    result = run(pytester, NUMPY, "-v", ops="matmul,sum")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines([
        f"{NUMPY}::gradcheck[[]matmul[]] PASSED*",
        f"{NUMPY}::gradcheck[[]sum[]] PASSED*",
        f"{NUMPY}::gradcheck[[]programs[]] PASSED*",
    ])
    # The seed is in the session header, for replay.
    result.stdout.fnmatch_lines([f"gradcheck: {NUMPY} (engine *), seed 0, 5 examples per op, 10 programs*"])


def test_failure_report_is_the_minimal_case_and_diagnosis(pytester, planted):
    result = run(pytester, planted, "-k", "mean")
    result.assert_outcomes(failed=1, deselected=3)
    assert_minimal_case(failures(result))
    # The one-line summary names the check and what was wrong.
    result.stdout.fnmatch_lines(["FAILED engine.py::gradcheck[[]mean[]] - *mean · mismatch*"])


def test_a_named_op_the_engine_lacks_fails_with_the_reason(pytester):
    # As assert_gradients does; ops nobody named are one skipped item (tests/test_pytest_ids.py).
    result = run(pytester, TAPE, "-rf", "--gradcheck-programs", "0", "-k", "not matmul", ops="matmul,sum")
    result.assert_outcomes(passed=1, failed=1, deselected=1)
    result.stdout.fnmatch_lines(["sum is unsupported: the engine defines no 'sum'", "FAILED *::gradcheck[[]sum[]]*"])


def test_programs_is_told_which_ops_failed_their_own_check(pytester, planted):
    # mean fails on its own, first: the programs that fail only because of mean are not reported again.
    together = run(pytester, planted, "-rA")
    together.assert_outcomes(passed=3, failed=1)
    together.stdout.fnmatch_lines(["*not repeated here: program failures due only to mean*"])
    # Alone, programs cannot know: it reports the failure and blames mean.
    alone = run(pytester, planted, "-k", "programs")
    alone.assert_outcomes(failed=1, deselected=3)
    alone.stdout.fnmatch_lines(["*mean is wrong on its own*", "*no verdict in this process for sum, mean*"])


def test_without_a_target_nothing_is_added(pytester):
    pytester.makepyfile(test_trivial=TRIVIAL_TEST)
    # In-process, gradcheck is already imported: with some editable installs
    # pytest then warns it cannot rewrite it, which is not the plugin's output.
    result = pytester.runpytest("--collect-only", "-q", "-W", "ignore::pytest.PytestAssertRewriteWarning")
    result.stdout.fnmatch_lines(["test_trivial.py::test_trivial", "1 test collected*"])
    assert "gradcheck" not in result.stdout.str()


def test_ini_setting_names_the_target(pytester):
    pytester.makeini(f"[pytest]\ngradcheck_target = {NUMPY}\n")
    pytester.makepyfile(test_trivial=TRIVIAL_TEST)
    result = pytester.runpytest("--gradcheck-ops", "sum", *FAST, "-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines([f"{NUMPY}::gradcheck[[]sum[]] PASSED*"])


# --- usage errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        pytest.param(("--gradcheck=missing.py",), "there is no file missing.py", id="missing-file"),
        pytest.param((f"--gradcheck={NUMPY}:nothing",), "has no attribute 'nothing'", id="missing-name"),
        pytest.param((f"--gradcheck={NUMPY}", "--gradcheck-max-examples", "0"),
                     "--gradcheck-max-examples=0 must be at least 1", id="max-examples"),
        pytest.param((f"--gradcheck={NUMPY}", "--gradcheck-seed", "x"),
                     "--gradcheck-seed='x' is not a whole number", id="seed"),
        pytest.param((f"--gradcheck={NUMPY}", "--gradcheck-ops", "matmull"),
                     "Did you mean 'matmul'?", id="unknown-op"),
        pytest.param((f"--gradcheck={NUMPY}", "--gradcheck-ops", ","), "names no op", id="no-op"),
        pytest.param((f"--gradcheck={NUMPY}", "--gradcheck-format", "xml"),
                     "--gradcheck-format: --format=xml is not a report format", id="format"),
    ],
)
def test_bad_target_or_option_is_a_usage_error_in_one_paragraph(pytester, args, fragment):
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("ERROR: "), result.stderr.str()
    assert fragment in errors[0]
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


# --- pytest's own options ------------------------------------------------------------


def test_junitxml_has_a_testcase_per_check_and_the_minimal_case(pytester, planted):
    result = run(pytester, planted, "--junitxml=out.xml")
    result.assert_outcomes(passed=3, failed=1)
    cases = {case.get("name"): case for case in ElementTree.parse(pytester.path / "out.xml").iter("testcase")}
    assert set(cases) == {"test_trivial", "gradcheck[sum]", "gradcheck[mean]", "gradcheck[programs]"}
    assert cases["gradcheck[mean]"].get("classname") == "engine"
    failures = [case.find("failure") for case in cases.values()]
    assert [failure is not None for failure in failures].count(True) == 1
    assert_minimal_case(cases["gradcheck[mean]"].find("failure").text)


def test_k_and_m_select_gradcheck_items(pytester):
    by_name = run(pytester, NUMPY, "-k", "matmul", ops="matmul,sum")
    by_name.assert_outcomes(passed=1, deselected=3)
    by_marker = run(pytester, NUMPY, "-m", "not gradcheck", ops="matmul,sum")
    by_marker.assert_outcomes(passed=1, deselected=3)


def test_x_stops_at_the_first_failed_check(pytester, planted):
    result = run(pytester, planted, "-x", ops="mean,sum")
    result.assert_outcomes(passed=1, failed=1)  # test_trivial ran; sum and programs did not
    assert "gradcheck[sum]" not in result.stdout.str()


def test_lf_reruns_only_the_failed_checks(pytester, planted):
    run(pytester, planted).assert_outcomes(passed=3, failed=1)
    again = run(pytester, planted, "--lf", "-v")
    again.assert_outcomes(failed=1, deselected=3)
    again.stdout.fnmatch_lines([
        "run-last-failure: rerun previous 1 failure*",
        "engine.py::gradcheck[[]mean[]] FAILED*",
    ])


# pytest-xdist: tests/test_pytest_ids.py (every gradcheck item on one worker).


# --- report files ------------------------------------------------------------------


def test_report_dir_gets_the_run_in_the_formats_asked(pytester, planted):
    result = run(pytester, planted, "--gradcheck-seed", "7", "--gradcheck-report-dir", "out",
                 "--gradcheck-format", "json,text")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines([
        "gradcheck: engine.py (engine planted: mean_missing_1_over_n, float64), seed 7, *",
    ])
    result.stdout.fnmatch_lines([
        "*- gradcheck -*",
        "gradcheck engine.py",  # the text report's header ...
        "*Wrote json to out*gradcheck.json",
        "engine.py: 2 passed, 1 failed, 0 unsupported (seed 7)",  # ... and the closing line
    ])
    report = json.loads((pytester.path / "out" / "gradcheck.json").read_text(encoding="utf-8"))
    assert report["seed"] == 7
    assert report["summary"] == {"passed": 2, "failed": 1, "unsupported": 0}
    assert report["results"][1]["failure"]["diagnosis"]


def test_no_report_files_unless_asked(pytester):
    run(pytester, NUMPY, ops="sum").assert_outcomes(passed=3)
    assert not (pytester.path / "reports").exists()


# --- marker and fixture ----------------------------------------------------------------


MARKED_SUITE = f"""
import pytest

@pytest.mark.gradcheck("sum", engine="{NUMPY}", max_examples=5, programs=0)
def test_marked_passes(gradcheck_engine):
    assert gradcheck_engine.supports("sum")  # the marker's engine

@pytest.mark.gradcheck(["mean"], engine="engine.py", max_examples=5)
def test_marked_wrong_gradient():
    pass

@pytest.mark.gradcheck(["mean"], engine="engine.py")
def test_marked_body_fails_first():
    assert 1 == 2

@pytest.mark.gradcheck(["mean"])
def test_marked_without_engine():
    pass

@pytest.mark.gradcheck(["mean"], engine="engine.py", max_exmaples=5)
def test_marked_misspelt():
    pass

def test_fixture_without_target(gradcheck_engine):
    pass
"""


def test_marker_checks_after_the_body_and_fixture_skips_without_target(pytester, planted):
    pytester.makepyfile(test_marked=MARKED_SUITE)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, failed=2, skipped=2, errors=1)
    assert_minimal_case(failures(result).split("test_marked_wrong_gradient")[1].split("test_marked_body")[0])
    result.stdout.fnmatch_lines([
        "*ERROR at setup of test_marked_misspelt*",
        "@pytest.mark.gradcheck: unknown keyword argument(s) max_exmaples; *",
        "*assert 1 == 2*",  # the body's own failure: gradcheck did not run
        "SKIPPED [[]1[]] test_marked.py:*: no gradcheck target: run pytest --gradcheck=TARGET*",
    ])


def test_fixture_and_marker_use_the_configured_target(pytester):
    pytester.makepyfile(test_marked=f"""
import pytest

def test_fixture(gradcheck_engine):
    assert gradcheck_engine.target == "{NUMPY}"

@pytest.mark.gradcheck("sum")
def test_marked():
    pass
""")
    result = pytester.runpytest(f"--gradcheck={NUMPY}", "--gradcheck-ops", "sum", *FAST)
    result.assert_outcomes(passed=4)  # two tests, gradcheck[sum], gradcheck[programs]


# --- import cost --------------------------------------------------------------------


COSTLESS_SUITE = """
import sys

HEAVY = ("tensorflow", "hypothesis", "numpy", "rich", "gradcheck.runner", "gradcheck.engine",
         "gradcheck.assertions")

def test_plugin_is_active_and_imported_nothing_heavy(gradcheck_engine):
    pass

def test_nothing_heavy_is_imported():
    assert "gradcheck.pytest_plugin" in sys.modules
    assert [name for name in HEAVY if name in sys.modules] == []
"""


@pytest.mark.parametrize(
    "load",
    [pytest.param((), id="entry-point"), pytest.param(("-p", "gradcheck.pytest_plugin"), id="no-autoload")],
)
def test_plugin_costs_nothing_without_a_target(pytester, monkeypatch, load):
    if load:
        monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(test_costless=COSTLESS_SUITE)
    result = pytester.runpytest_subprocess(*load, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=1)  # the fixture skips: no target


# --- assert_gradients -------------------------------------------------------------------


def test_assert_gradients_returns_the_result_or_results():
    result = assert_gradients(NUMPY, "sum", max_examples=5)
    assert (result.check, result.status, result.examples) == ("sum", "passed", 5)
    results = assert_gradients(NUMPY, ["mul", "programs"], max_examples=5, programs=5)
    assert [(r.check, r.kind, r.status) for r in results] == [
        ("multiply", "op", "passed"), ("programs", "program", "passed"),
    ]
    assert gradcheck.assert_gradients is assert_gradients


def test_assert_gradients_raises_with_the_minimal_case():
    with pytest.raises(AssertionError) as raised:
        assert_gradients(str(PLANTED_SOURCE) + ":engine", ["sum", "mean"], max_examples=5)
    error = raised.value
    assert isinstance(error, GradientAssertionError)
    assert [result.check for result in error.results] == ["mean"]
    assert [result.check for result in error.report.results] == ["sum", "mean"]
    assert str(error).startswith("mean · mismatch: the gradient w.r.t. x differs")
    assert_minimal_case(str(error))


def test_assert_gradients_checks_every_defined_op_by_default_and_each_named_one():
    with pytest.raises(GradientAssertionError) as every_defined:
        assert_gradients(TAPE, max_examples=5, programs=5)
    assert [result.check for result in every_defined.value.report.results] == ["matmul", "programs"]
    with pytest.raises(GradientAssertionError, match="sum is unsupported: the engine defines no 'sum'"):
        assert_gradients(TAPE, ["sum"])


@pytest.mark.parametrize(
    ("ops", "settings", "fragment"),
    [
        pytest.param([], {}, "ops=[] names no check", id="no-ops"),
        pytest.param("matmull", {}, "Did you mean 'matmul'?", id="unknown-op"),
        pytest.param("sum", {"max_examples": 0}, "max_examples=0 must be at least 1",
                     id="max-examples"),
        pytest.param("sum", {"seed": 1.5}, "seed=1.5 is not a whole number", id="seed"),
        pytest.param("sum", {"timeout": 0}, "timeout=0 must be a finite number greater than 0", id="timeout"),
        pytest.param("programs", {"programs": 0}, "programs=0 draws no program", id="no-programs"),
    ],
)
def test_assert_gradients_names_a_bad_argument(ops, settings, fragment):
    with pytest.raises(UsageError) as raised:
        assert_gradients(NUMPY, ops, **settings)
    assert fragment in str(raised.value)


def test_check_text_is_plain_and_fits_its_width():
    report = check_report(load_engine(str(PLANTED_SOURCE) + ":engine"), ["mean"],
                          CheckSettings(max_examples=5))
    text = render_check_text(report, report.results[0], width=64)
    assert "\x1b" not in text
    assert max(map(len, text.splitlines())) <= 64
    assert text.splitlines()[0].startswith("╭─ mean · mismatch")


def test_supported_params_option_declares_partial_support(pytester):
    # The engine declares mean over all axes only; the option replaces that with axis 0, which it
    # cannot do: mean fails. softmax keeps the engine's declaration, and its section says so.
    target = str(Path(__file__).parent / "targets" / "partial_support.py")
    result = run(pytester, target, "-rA", "--gradcheck-programs", "0",
                 "--gradcheck-supported-params", '{"mean": {"axis": [0]}}', ops="softmax,mean")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "*mean: checked on: axis=0; not checked: any other axis*",
        "*softmax: checked on: axis=-1; not checked: any other axis*",
        "FAILED *gradcheck[[]mean[]]*",
    ])
    assert "mean · exception" in failures(result)
