"""Grading for an LMS: Gradescope's ``results.json``, the Classroom runner result, Canvas's CSV, the roster.

The outputs are checked against what each LMS documents (Gradescope's
autograder specification, the fields GitHub Classroom's grading reporter
reads, Canvas's gradebook import columns), written as small schemas here. Most
tests render the hand-made reports of ``tests/report_samples.py`` (no engine
runs); the grading run of ``tests/test_grade.py`` (``graded``, shared by the
session) is read for the per-submission files, and one in-process check shows
``gradcheck check --format gradescope,classroom`` end to end.
"""

from __future__ import annotations

import csv
import io
import json
import numbers
import os

import pytest

from gradcheck.cli import main
from gradcheck.errors import UsageError
from gradcheck.grade import Student, find_submissions, load_roster
from gradcheck.reports.json import write_json
from gradcheck.reports.lms import (
    CANVAS_COLUMNS,
    CanvasExport,
    GradedReport,
    Grading,
    classroom_result,
    gradescope_results,
    write_canvas,
)
from gradcheck.results import CheckResult, Gradebook, Report, Row, Weights
from tests.report_samples import passing_report, sample_report
from tests.test_reports import assert_gold
from tests.test_grade import CHECKS, EXPECTED, HIDDEN, NO_SANDBOX, STUDENT_IDS, graded  # noqa: F401 - the fixture

# --- What each LMS documents ----------------------------------------------------------

# https://gradescope-autograders.readthedocs.io/en/latest/specs/ ("Output format"): every field, with its type.
GRADESCOPE_FIELDS = {
    "score": numbers.Real, "execution_time": numbers.Real, "output": str, "output_format": str,
    "test_output_format": str, "test_name_format": str, "visibility": str, "stdout_visibility": str,
    "extra_data": dict, "tests": list, "leaderboard": list,
}
GRADESCOPE_TEST_FIELDS = {
    "score": numbers.Real, "max_score": numbers.Real, "status": str, "name": str, "name_format": str,
    "number": str, "output": str, "output_format": str, "tags": list, "visibility": str, "extra_data": dict,
}
GRADESCOPE_VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}
GRADESCOPE_STATUSES = {"passed", "failed"}
GRADESCOPE_TEXT_FORMATS = {"text", "simple_format", "html", "md", "ansi"}
# What gradcheck promises on top of the specification's optional fields.
GRADESCOPE_TEST_WRITTEN = {"name", "score", "max_score", "status", "output", "visibility"}

# classroom-resources/autograding-grading-reporter: the runner result it decodes from <RUNNER>_RESULTS.
CLASSROOM_FIELDS = {"version": int, "status": str, "max_score": numbers.Real, "tests": list}
CLASSROOM_TEST_FIELDS = {
    "name": str, "status": str, "score": numbers.Real, "message": str, "test_code": str,
    "filename": str, "line_no": int, "duration": int,
}
CLASSROOM_STATUSES = {"pass", "fail", "error"}


def assert_gradescope_results(data: dict) -> None:
    """Fail unless ``data`` is a results.json Gradescope documents, with gradcheck's fields on every test."""
    assert set(data) <= set(GRADESCOPE_FIELDS), set(data) - set(GRADESCOPE_FIELDS)
    for key, value in data.items():
        assert isinstance(value, GRADESCOPE_FIELDS[key]) and not isinstance(value, bool), (key, value)
    assert "score" in data and data["tests"]
    for key in ("visibility", "stdout_visibility"):
        assert data.get(key, "visible") in GRADESCOPE_VISIBILITIES
    assert data.get("output_format", "text") in GRADESCOPE_TEXT_FORMATS
    for test in data["tests"]:
        assert set(test) <= set(GRADESCOPE_TEST_FIELDS), set(test) - set(GRADESCOPE_TEST_FIELDS)
        assert GRADESCOPE_TEST_WRITTEN <= set(test)
        for key, value in test.items():
            assert isinstance(value, GRADESCOPE_TEST_FIELDS[key]) and not isinstance(value, bool), (key, value)
        assert test["status"] in GRADESCOPE_STATUSES and test["visibility"] in GRADESCOPE_VISIBILITIES
        assert 0 <= test["score"] <= test["max_score"]
        # Gradescope shows a test passed when it has its max_score: the status agrees.
        assert (test["status"] == "passed") == (test["score"] == test["max_score"]) or test["max_score"] == 0
    assert data["score"] == pytest.approx(sum(test["score"] for test in data["tests"]))


def assert_classroom_result(data: dict) -> None:
    """Fail unless ``data`` is a runner result the Classroom reporter reads, its totals consistent."""
    assert set(data) == set(CLASSROOM_FIELDS)
    for key, kind in CLASSROOM_FIELDS.items():
        assert isinstance(data[key], kind), key
    assert data["version"] == 1 and data["status"] in CLASSROOM_STATUSES
    for test in data["tests"]:
        assert set(test) == set(CLASSROOM_TEST_FIELDS)
        for key, kind in CLASSROOM_TEST_FIELDS.items():
            assert isinstance(test[key], kind) and not isinstance(test[key], bool), key
        assert test["status"] in CLASSROOM_STATUSES
    # The reporter fails the job on "fail" or "error"; "pass" only when every test passed.
    assert (data["status"] == "pass") == all(test["status"] == "pass" for test in data["tests"])
    assert sum(test["score"] for test in data["tests"]) <= data["max_score"]


WEIGHTS = Weights(by_check={"matmul": 3, "programs": 2}, default=1)


def graded_sample(**grading) -> GradedReport:
    return GradedReport.of(sample_report(), Grading(weights=WEIGHTS, **grading))


# --- Gradescope -------------------------------------------------------------------------


def test_results_json_follows_gradescopes_specification():
    assert_gradescope_results(gradescope_results(graded_sample()))
    assert_gradescope_results(gradescope_results(GradedReport.of(passing_report(), Grading())))


@pytest.mark.parametrize("fmt", ["gradescope", "classroom"])
def test_lms_output_matches_gold(fmt):
    # Weighted, one check hidden: what a student reads, line by line, reviewed once.
    render = {"gradescope": gradescope_results, "classroom": classroom_result}[fmt]
    text = json.dumps(render(graded_sample(hidden=frozenset({"sum"}))), indent=2, ensure_ascii=False) + "\n"
    assert_gold(f"report_failures.{fmt}.json", text)


def test_points_are_the_gradebook_weights_of_the_passed_checks():
    data = gradescope_results(graded_sample())
    tests = {test["name"]: test for test in data["tests"]}
    # add passed (1), negative unsupported (1), matmul failed (3), sum failed (1), programs failed (2).
    assert {name: (test["score"], test["max_score"], test["status"]) for name, test in tests.items()} == {
        "add": (1, 1, "passed"), "negative": (0, 1, "failed"), "matmul": (0, 3, "failed"),
        "sum": (0, 1, "failed"), "programs": (0, 2, "failed"),
    }
    statuses = {result.check: result.status for result in sample_report().results}
    assert data["score"] == WEIGHTS.points(statuses)[0] == 1
    assert data["output"].startswith("Score: 1 / 8 points.")


def test_a_failed_checks_output_is_its_panel_with_points():
    output = {test["name"]: test["output"] for test in gradescope_results(graded_sample())["tests"]}
    matmul = output["matmul"]
    assert matmul.startswith("matmul: failed: mismatch, exception, 0 / 3 points.")
    assert "all axes of b reversed" in matmul  # the diagnosis
    assert "gradcheck check engine.py --ops matmul" in matmul  # the replay, by the file's name
    assert "repro_matmul.py" in matmul and "reports/repro_matmul.py" not in matmul
    assert output["negative"] == "negative: unsupported, 0 / 1 points. the engine defines no 'negative' (nor 'neg')"
    assert output["add"] == "add: passed, 1 / 1 points (800 cases checked)."


def test_the_summary_replays_only_the_failed_ops():
    summary = gradescope_results(graded_sample())["output"]
    assert "Replay the failed checks: gradcheck check engine.py --ops matmul,sum --no-programs --seed 7" in summary


@pytest.mark.parametrize("hidden", [frozenset({"matmul"}), frozenset({"matmul", "programs"})], ids=len)
def test_hidden_checks_are_shown_once_grades_are_published(hidden):
    data = gradescope_results(graded_sample(hidden=hidden))
    visibility = {test["name"]: test["visibility"] for test in data["tests"]}
    assert visibility == {check: "after_published" if check in hidden else "visible" for check in visibility}
    # The summary, always visible, neither replays a hidden check nor repeats its notes.
    assert "--ops sum --no-programs" in data["output"] and "matmul" not in data["output"]
    # Classroom shows every message to the student: a hidden check says nothing of its case.
    tests = {test["name"]: test for test in classroom_result(graded_sample(hidden=hidden))["tests"]}
    for check in hidden:
        assert "hidden until the grades are published" in tests[check]["message"]
        assert tests[check]["test_code"] == "" and "all axes" not in tests[check]["message"]
        assert tests[check]["score"] == 0 and tests[check]["status"] == "fail"  # the points still count
    assert "all axes of b reversed" in tests["matmul"]["message"] or "matmul" in hidden


def test_students_see_no_absolute_path_of_the_graders_machine():
    submission, grades = "/home/ta/course/subs/alice", "/home/ta/course/grades"
    report = sample_report()
    results = list(report.results)
    matmul = results[2]
    failures = (matmul.failures[0], type(matmul.failures[1])(**{
        **matmul.failures[1].__dict__,
        "detail": f'ValueError: rank 1\n  File "{submission}/engine.py", line 42, in matmul',
    }))
    results[2] = CheckResult(**{**matmul.__dict__, "failures": failures})
    report = Report(**{**report.__dict__, "target": f"{submission}/engine.py", "results": tuple(results)})
    report = report.with_reproducers({"matmul": f"{grades}/alice/repro_matmul.py"})
    grading = Grading(weights=WEIGHTS, private_paths=(submission, grades))
    for data in (gradescope_results(GradedReport.of(report, grading)), classroom_result(GradedReport.of(report, grading))):
        text = json.dumps(data)
        assert "/home/ta" not in text
    output = gradescope_results(GradedReport.of(report, grading))["tests"][2]["output"]
    assert 'File "engine.py", line 42' in output and "repro_matmul.py" in output


def test_a_submission_that_could_not_be_checked_scores_zero_and_says_why():
    reason = "subs/empty is a folder with no Python file in it"
    graded_error = GradedReport(None, Grading(weights=WEIGHTS), ("matmul", "sum", "programs"), reason)
    data = gradescope_results(graded_error)
    assert_gradescope_results(data)
    assert data["score"] == 0 and reason in data["output"]
    assert [test["max_score"] for test in data["tests"]] == [3, 1, 2]
    assert all(test["status"] == "failed" for test in data["tests"])
    result = classroom_result(graded_error)
    assert_classroom_result(result)
    assert result["status"] == "error" and {test["status"] for test in result["tests"]} == {"error"}


def test_a_stored_report_renders_as_results_json(tmp_path):
    stored = tmp_path / "gradcheck.json"
    with open(stored, "w", encoding="utf-8") as stream:
        write_json(sample_report(), stream)
    assert main(["report", str(stored), "--format", "gradescope,classroom", "--report-dir", str(tmp_path / "out")]) == 1
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert_gradescope_results(data)
    assert data == gradescope_results(GradedReport.of(Report.from_dict(json.loads(stored.read_text())), Grading()))
    assert_classroom_result(json.loads((tmp_path / "out" / "classroom.json").read_text()))
    # The TA's weights and hidden checks apply to a stored run too.
    (tmp_path / "weights.toml").write_text("[weights]\nmatmul = 3\nprograms = 2\n")
    assert main(["report", str(stored), "--format", "gradescope", "--weights", str(tmp_path / "weights.toml"),
                 "--hidden", "sum", "--report-dir", str(tmp_path / "weighted")]) == 1
    weighted = json.loads((tmp_path / "weighted" / "results.json").read_text())
    assert weighted["tests"] == gradescope_results(graded_sample(hidden=frozenset({"sum"})))["tests"]


# --- GitHub Classroom -----------------------------------------------------------------------


def test_classroom_result_is_what_the_reporter_reads():
    result = classroom_result(graded_sample())
    assert_classroom_result(result)
    assert result["status"] == "fail" and result["max_score"] == 8
    # The points Classroom records: the sum of the tests' scores, out of max_score.
    assert sum(test["score"] for test in result["tests"]) == 1
    tests = {test["name"]: test for test in result["tests"]}
    assert tests["matmul"]["test_code"] == "gradcheck check engine.py --ops matmul --no-programs --seed 7 --max-examples 100"
    assert tests["add"]["status"] == "pass" and tests["negative"]["status"] == "fail"
    passing = classroom_result(GradedReport.of(
        Report(target="e.py", seed=0, results=[CheckResult("add", "op", "passed", cases=8)]), Grading()))
    assert passing["status"] == "pass" and passing["tests"][0]["score"] == passing["max_score"] == 1


# --- Canvas ---------------------------------------------------------------------------------


def test_canvas_csv_has_the_import_columns_and_one_line_per_student():
    rows = [
        Row("alice", "subs/alice", "engine.py", "graded", {"matmul": "passed"}, 3, 4,
            student_id="s1", student_name="Liddell, Alice"),
        Row("bob", "subs/bob.py", None, "error", {"matmul": "error"}, 0, 4, student_id="s2"),
    ]
    book = Gradebook(options=None, weights=Weights(), workers=1, rows=rows)  # type: ignore[arg-type]
    stream = io.StringIO()
    write_canvas(CanvasExport(book, "Autodiff (1234)"), stream)
    lines = list(csv.reader(io.StringIO(stream.getvalue())))
    assert lines[0] == [*CANVAS_COLUMNS, "Autodiff (1234)"] == [
        "Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Autodiff (1234)"]
    assert lines[1:] == [["Liddell, Alice", "", "s1", "", "", "3"], ["", "", "s2", "", "", "0"]]


# --- The roster -----------------------------------------------------------------------------


@pytest.fixture
def submissions(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for folder in ("subs/alice", "subs/carol"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "engine.py").write_text("def grad(y, xs, g): ...\n")
    (tmp_path / "subs" / "bob.py").write_text("def grad(y, xs, g): ...\n")
    return find_submissions(["subs/alice", "subs/bob.py", "subs/carol"])


def test_roster_maps_each_submission_to_its_student(tmp_path, submissions):
    (tmp_path / "roster.csv").write_text(
        '\ufefffolder,student_id,name\nalice,s1,"Liddell, Alice"\n\nbob,s2\nsubs/carol/,s3,Carol\n')
    assert load_roster(tmp_path / "roster.csv", submissions) == {
        "alice": Student("s1", "Liddell, Alice"), "bob": Student("s2"), "carol": Student("s3", "Carol"),
    }


@pytest.mark.parametrize(("roster", "words"), [
    pytest.param("alice,s1\nbob.py,s2\ncarol,s3\nzed,s4\n", "the folder 'zed' is none of the submissions",
                 id="names-a-folder-that-does-not-exist"),
    pytest.param("alice,s1\ncarol,s3\n", "has no line for bob", id="misses-a-submission"),
    pytest.param("alice,s1\nbob.py,s2\nalice,s3\n", "lists the folder 'alice' twice", id="folder-twice"),
    pytest.param("alice,s1\nbob.py,s1\ncarol,s3\n", "lists the student id 's1' twice", id="id-twice"),
    pytest.param("alice,s1\nbob.py\ncarol,s3\n", "line 2: 'bob.py' is not folder,student_id[,name]", id="no-id"),
    pytest.param("alice,s1\nbob,s2\nsubs/bob.py,s3\ncarol,s4\n", "is the submission 'bob' again", id="same-twice"),
])
def test_a_roster_that_does_not_fit_the_submissions_is_refused(tmp_path, submissions, roster, words):
    (tmp_path / "roster.csv").write_text(roster)
    with pytest.raises(UsageError, match="--roster=") as error:
        load_roster(tmp_path / "roster.csv", submissions)
    assert words in str(error.value)


def test_a_bad_roster_exits_2_before_grading(tmp_path, submissions, capsys):
    (tmp_path / "roster.csv").write_text("alice,s1\nbob.py,s2\ncarol,s3\nzed,s4\n")
    status = main(["grade", "subs/alice", "subs/bob.py", "subs/carol", "--roster", "roster.csv",
                   "--report-dir", "grades", *NO_SANDBOX])
    error = capsys.readouterr().err
    assert status == 2 and "'zed' is none of the submissions" in error and "Traceback" not in error
    assert "\n" not in error.strip()  # one paragraph
    assert not (tmp_path / "grades").exists()


def test_a_roster_that_cannot_be_read(tmp_path, submissions):
    with pytest.raises(UsageError, match="cannot be read"):
        load_roster(tmp_path / "missing.csv", submissions)


# --- Arguments --------------------------------------------------------------------------------


@pytest.mark.parametrize(("argv", "words"), [
    pytest.param(["check", "e.py", "--hidden", "matmull"], "Did you mean 'matmul'?", id="check-hidden-unknown"),
    pytest.param(["check", "e.py", "--ops", "exp", "--hidden", "tanh"], "which this run does not check",
                 id="check-hidden-not-run"),
    pytest.param(["check", "e.py", "--format", "canvas"], "gradcheck grade", id="check-canvas"),
    pytest.param(["check", "e.py", "--hidden", ","], "names no check", id="check-hidden-empty"),
    pytest.param(["grade", ".", "--format", "canvas"], "--roster", id="grade-canvas-without-roster"),
    pytest.param(["grade", ".", "--format", "junit"], "not a format of gradcheck grade", id="grade-format"),
    pytest.param(["grade", ".", "--assignment", "HW1"], "goes with --format canvas", id="grade-assignment"),
    pytest.param(["grade", ".", "--no-programs", "--hidden", "programs"], "does not check", id="grade-hidden"),
])
def test_bad_lms_arguments_exit_2(tmp_path, monkeypatch, capsys, argv, words):
    monkeypatch.chdir(tmp_path)
    assert main([*argv, *(NO_SANDBOX if argv[0] == "grade" else [])]) == 2
    error = capsys.readouterr().err
    assert words in error and "Traceback" not in error


# --- One check, end to end ----------------------------------------------------------------------

NEGATIVE_BUG = """\
import numpy as np

from gradcheck.examples.numpy_engine import make_engine, unary_op

# negative's backward passes g through unchanged instead of -g.
engine = make_engine(overrides={"negative": unary_op("negative", np.negative, lambda x, out: np.ones_like(x))})
"""


def test_check_writes_results_json_in_the_report_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "student").mkdir()
    (tmp_path / "student" / "engine.py").write_text(NEGATIVE_BUG)
    (tmp_path / "weights.toml").write_text("[weights]\nneg = 2\n")
    status = main(["check", str(tmp_path / "student" / "engine.py"), "--in-process", "--ops", "negative,exp",
                   "--no-programs", "--max-examples", "3", "--format", "gradescope,classroom",
                   "--weights", "weights.toml", "--hidden", "exp", "--report-dir", "results"])
    assert status == 1
    data = json.loads((tmp_path / "results" / "results.json").read_text())
    assert_gradescope_results(data)
    tests = {test["name"]: test for test in data["tests"]}
    assert (tests["negative"]["score"], tests["negative"]["max_score"], tests["negative"]["visibility"]) == (0, 2, "visible")
    assert (tests["exp"]["score"], tests["exp"]["visibility"]) == (1, "after_published")
    assert data["score"] == 1 and "wrong sign" in tests["negative"]["output"]
    assert str(tmp_path) not in json.dumps(data)
    assert_classroom_result(json.loads((tmp_path / "results" / "classroom.json").read_text()))


# --- The sample grading run's LMS files -------------------------------------------------------------


def _lms_file(graded, name: str, fmt: str) -> dict:
    return json.loads((graded["dir"] / graded["rows"][name]["reports"][fmt]).read_text())


@pytest.mark.parametrize("name", list(EXPECTED), ids=str)
def test_each_submission_has_results_json_with_the_gradebooks_points(graded, name):
    row = graded["rows"][name]
    data = _lms_file(graded, name, "gradescope")
    assert row["reports"]["gradescope"] == f"{name}/results.json"
    assert_gradescope_results(data)
    assert [test["name"] for test in data["tests"]] == list(CHECKS)
    assert data["score"] == pytest.approx(row["points"])
    assert sum(test["max_score"] for test in data["tests"]) == row["max_points"]
    for test in data["tests"]:
        assert (test["status"] == "passed") == (row["checks"][test["name"]] == "passed")
        assert test["visibility"] == ("after_published" if test["name"] == HIDDEN else "visible")
    if row["status"] == "error":
        # The TA's reason, without the folder the submissions are in.
        assert row["reason"].replace(f"{graded['dir'].parent / 'submissions'}{os.sep}", "") in data["output"]
    # Nothing of the grader's machine: its folders are absolute, the students' view is not.
    assert str(graded["dir"].parent) not in json.dumps(data)


@pytest.mark.parametrize("name", list(EXPECTED), ids=str)
def test_each_submission_has_a_classroom_result_with_the_gradebooks_points(graded, name):
    row = graded["rows"][name]
    result = _lms_file(graded, name, "classroom")
    assert_classroom_result(result)
    assert result["max_score"] == row["max_points"]
    assert sum(test["score"] for test in result["tests"]) == pytest.approx(row["points"])
    assert result["status"] == ("error" if row["status"] == "error" else
                                "pass" if set(row["checks"].values()) == {"passed"} else "fail")


def test_canvas_csv_and_gradebook_name_every_student(graded):
    with open(graded["dir"] / "canvas.csv", newline="", encoding="utf-8") as stream:
        lines = list(csv.DictReader(stream))
    points = {row["student_id"]: row["points"] for row in graded["rows"].values()}
    assert {line["SIS User ID"]: float(line["gradcheck"]) for line in lines} == pytest.approx(points)
    assert {row["name"]: row["student_id"] for row in graded["rows"].values()} == STUDENT_IDS
    assert graded["rows"]["correct"]["student_name"] == "Lovelace, Ada"
    with open(graded["dir"] / "gradebook.csv", newline="", encoding="utf-8") as stream:
        assert {line["submission"]: line["student_id"] for line in csv.DictReader(stream)} == STUDENT_IDS
    assert os.path.getsize(graded["dir"] / "canvas.csv") > 0 and "Wrote gradebook canvas to" in graded["stdout"]


def test_the_panel_of_a_failed_check_reaches_the_student(graded):
    tests = {test["name"]: test for test in _lms_file(graded, "negbug", "gradescope")["tests"]}
    negative = tests["negative"]["output"]
    assert negative.startswith("negative: failed: mismatch, 0 / 2 points.")
    assert "gradcheck check autodiff.py --ops negative --no-programs --seed 0" in negative
    assert "reproducer         repro_negative.py" in negative


def test_an_engine_that_cannot_be_loaded_still_gets_results_json(tmp_path, monkeypatch, capsys):
    # Inside a Gradescope autograder: the student reads why, instead of "the autograder failed".
    monkeypatch.chdir(tmp_path)
    (tmp_path / "engine.py").write_text("def grad(y, xs:\n    return xs\n")
    status = main(["check", str(tmp_path / "engine.py"), "--in-process", "--ops", "negative,exp",
                   "--format", "gradescope,classroom", "--report-dir", "results"])
    assert status == 2 and "has a syntax error" in capsys.readouterr().err
    data = json.loads((tmp_path / "results" / "results.json").read_text())
    assert_gradescope_results(data)
    assert data["score"] == 0 and [test["name"] for test in data["tests"]] == ["negative", "exp", "programs"]
    assert "engine.py:1 has a syntax error" in data["output"] and str(tmp_path) not in json.dumps(data)
    assert json.loads((tmp_path / "results" / "classroom.json").read_text())["status"] == "error"
