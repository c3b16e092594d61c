"""``gradcheck grade``: many submissions, one gradebook; no submission can stop the others.

One real grading run (``graded``) checks six submissions written to a
temporary folder: a correct engine, two with a planted bug, the hostile
engine, a file with a syntax error and an empty folder. Every test of the
gradebook reads that one run; it is shared by the xdist workers of a session
(see ``_shared_folder``), because it takes tens of seconds. Finding engines in
folders, naming submissions and reading weights are tested on their own,
without running any check.
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gradcheck import sandbox
from gradcheck.cli import main
from gradcheck.errors import UsageError
from gradcheck.grade import Weights, find_submissions, load_weights
from gradcheck.reports import FORMATS

# Machines without bubblewrap grade in plain workers: these tests are not about the sandbox.
NO_SANDBOX = [] if sandbox.available() is None else ["--no-sandbox"]

REPO = Path(__file__).resolve().parent.parent

OPS = ("negative", "matmul", "exp", "tanh", "sum")
CHECKS = (*OPS, "programs")

# `neg` is negative's alias; multiply is not graded here, and its weight is unused.
WEIGHTS_TOML = """\
[weights]
neg = 2
matmul = 3
programs = 2
multiply = 7
default = 1
"""

_NEGATIVE_BUG = """\
import numpy as np

from gradcheck.examples.numpy_engine import make_engine, unary_op

# negative's backward passes g through unchanged instead of -g.
engine = make_engine(overrides={"negative": unary_op("negative", np.negative, lambda x, out: np.ones_like(x))})
"""

_TANH_RULE = """\
import numpy as np

from gradcheck.examples.numpy_engine import unary_op

# tanh's backward uses 1 - x**2 instead of 1 - tanh(x)**2.
tanh = unary_op("tanh", np.tanh, lambda x, out: 1 - x * x)
"""

_TANH_ENGINE = """\
from gradcheck.examples.numpy_engine import make_engine

from .rules import tanh

engine = make_engine(overrides={"tanh": tanh})
"""

# name -> files to write (path inside the submission folder -> text), or a
# single file's text. None as a file's text: copy that file of the repository.
SUBMISSIONS = {
    "correct.py": "from gradcheck.examples.numpy_engine import make_engine\n\nengine = make_engine()\n",
    # A folder whose one Python file is not called engine.py.
    "negbug": {"autodiff.py": _NEGATIVE_BUG, "README.md": "my engine\n"},
    # A package whose engine.py imports its bug relatively.
    "tanhbug": {"__init__.py": "", "engine.py": _TANH_ENGINE, "rules.py": _TANH_RULE},
    "hostile.py": REPO / "tests/hostile/engine.py",
    "broken.py": "def grad(y, xs:\n    return xs\n",
    "empty": {},
}

# name -> (checks that must fail, checks that must be unsupported); None: an error row.
EXPECTED = {
    "correct": (set(), set()),
    "negbug": ({"negative"}, set()),
    "tanhbug": ({"tanh"}, set()),
    # exp calls os._exit, negative raises SystemExit; tanh floods stdout and passes.
    "hostile": ({"negative", "exp"}, {"matmul", "sum"}),
    "broken": None,
    "empty": None,
}

# Weights above: negative 2, matmul 3, exp 1, tanh 1, sum 1, programs 2 -> 10.
EXPECTED_SCORES = {
    "correct": 1.0,
    "negbug": 0.8,  # loses negative's 2
    "tanhbug": 0.9,  # loses tanh's 1
    "hostile": 0.3,  # earns tanh's 1 and programs' 2; unsupported earns nothing
    "broken": 0.0,
    "empty": 0.0,
}


def write_submissions(folder: Path, submissions: dict) -> list[Path]:
    """Create ``submissions`` in ``folder``; return their paths."""
    paths = []
    for name, content in submissions.items():
        path = folder / name
        if isinstance(content, dict):
            path.mkdir(parents=True)
            for inner, text in content.items():
                write_file(path / inner, text)
        else:
            write_file(path, content)
        paths.append(path)
    return paths


def write_file(path: Path, content: str | Path) -> None:
    if isinstance(content, Path):
        shutil.copyfile(content, path)
    else:
        path.write_text(content, encoding="utf-8")


def _shared_folder(tmp_path_factory: pytest.TempPathFactory, name: str, build) -> Path:
    """Return ``name``'s folder, built by ``build(folder)`` once per test session.

    Under xdist the workers share the parent of their temporary folders: the
    first worker to take the lock builds, the others wait and reuse it.
    """
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    folder = root / name
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / ".done").exists():
            shutil.rmtree(folder, ignore_errors=True)  # a build that failed half way
            folder.mkdir()
            build(folder)
            (folder / ".done").touch()
    return folder


# The sample run's roster (folder,student_id[,name]): by file name, folder name, and path as given.
ROSTER_CSV = """\
folder,student_id,name
correct.py,s01,"Lovelace, Ada"
negbug,s02,Grace
submissions/tanhbug,s03,
hostile,s04,Mallory
broken,s05,Bob
empty/,s06,Eve
"""
STUDENT_IDS = {"correct": "s01", "negbug": "s02", "tanhbug": "s03", "hostile": "s04", "broken": "s05", "empty": "s06"}
# Hidden from students until grades are published (Gradescope after_published).
HIDDEN = "matmul"


def _grade_sample(folder: Path) -> None:
    (folder / "submissions").mkdir()
    paths = write_submissions(folder / "submissions", SUBMISSIONS)
    (folder / "weights.toml").write_text(WEIGHTS_TOML, encoding="utf-8")
    (folder / "roster.csv").write_text(ROSTER_CSV, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "gradcheck", "grade", *(str(p.relative_to(folder)) for p in paths),
         "--workers", "2", "--weights", "weights.toml", "--ops", ",".join(OPS),
         "--max-examples", "5", "--programs", "10", "--timeout", "5", "--memory-mb", "1024",
         "--format", "gradescope,classroom,canvas", "--roster", "roster.csv", "--hidden", HIDDEN,
         "--report-dir", "grades", *NO_SANDBOX],
        cwd=folder, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    (folder / "run.json").write_text(json.dumps(
        {"returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr}
    ))


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    """The sample grading run: its folder, exit status, output and gradebook."""
    folder = _shared_folder(tmp_path_factory, "grade-sample", _grade_sample)
    run = json.loads((folder / "run.json").read_text())
    grades = folder / "grades"
    assert run["returncode"] == 0, run["stderr"]
    book = json.loads((grades / "gradebook.json").read_text())
    return {**run, "dir": grades, "book": book, "rows": {row["name"]: row for row in book["submissions"]}}


# --- the sample run -------------------------------------------------------------


def test_every_submission_is_a_row_with_every_check(graded):
    assert list(graded["rows"]) == list(EXPECTED)
    assert graded["book"]["checks"] == list(CHECKS)
    assert all(list(row["checks"]) == list(CHECKS) for row in graded["rows"].values())


@pytest.mark.parametrize("name", [name for name, expected in EXPECTED.items() if expected], ids=str)
def test_graded_row_fails_exactly_the_planted_checks(graded, name):
    failing, unsupported = EXPECTED[name]
    row = graded["rows"][name]
    assert row["status"] == "graded"
    expected = {check: "failed" if check in failing else "unsupported" if check in unsupported else "passed"
                for check in CHECKS}
    assert row["checks"] == expected


@pytest.mark.parametrize(("name", "words"), [
    ("broken", "has a syntax error"),
    ("empty", "no Python file"),
])
def test_error_row_says_why_and_scores_zero(graded, name, words):
    row = graded["rows"][name]
    assert row["status"] == "error"
    assert set(row["checks"].values()) == {"error"}
    assert words in row["reason"]
    assert words in (graded["dir"] / row["reports"]["text"]).read_text()


@pytest.mark.parametrize("name", list(EXPECTED_SCORES), ids=str)
def test_score_is_the_weight_of_the_passed_checks_over_all(graded, name):
    row = graded["rows"][name]
    assert row["score"] == pytest.approx(EXPECTED_SCORES[name])
    assert row["max_points"] == 10
    assert row["points"] == pytest.approx(10 * EXPECTED_SCORES[name])


def test_weights_are_recorded_by_canonical_name(graded):
    assert graded["book"]["weights"] == {"negative": 2, "matmul": 3, "exp": 1, "tanh": 1, "sum": 1, "programs": 2}


def test_csv_and_json_agree(graded):
    with open(graded["dir"] / "gradebook.csv", newline="", encoding="utf-8") as stream:
        lines = list(csv.DictReader(stream))
    assert [line["submission"] for line in lines] == list(graded["rows"])
    for line in lines:
        row = graded["rows"][line["submission"]]
        assert line["status"] == row["status"]
        assert float(line["score"]) == row["score"]
        assert float(line["points"]) == row["points"]
        assert {check: line[check] for check in CHECKS} == row["checks"]
        assert line["reason"] == (row["reason"] or "")


def test_index_links_every_report_and_colours_every_status(graded):
    index = (graded["dir"] / "index.html").read_text()
    # A failed cell links to its panel: the file, then #failure-CHECK-1.
    links = [link.partition("#")[0] for link in re.findall(r'href="([^"]+)"', index)]
    assert links and all((graded["dir"] / link).is_file() for link in links)
    for name, row in graded["rows"].items():
        main_report = row["reports"].get("html") or row["reports"]["text"]
        assert f'<a href="{main_report}">{name}</a>' in index
    for status in ("passed", "failed", "unsupported", "error"):
        assert f'class="cell {status}"' in index


def test_each_checked_submission_has_its_reports(graded):
    expected = {"json", "text", "gradescope", "classroom", "html", "full"}
    for name, row in graded["rows"].items():
        if row["status"] == "graded":
            assert set(row["reports"]) == expected
            # The student's files in their folder, the TA's full record apart from them.
            assert row["reports"].pop("full") == f"_ta/{name}/gradcheck.html"
            assert all(path.startswith(f"{name}/") for path in row["reports"].values())
            report = json.loads((graded["dir"] / row["reports"]["json"]).read_text())
            record = json.loads((graded["dir"] / "_ta" / name / "gradcheck.json").read_text())
            assert report["seed"] == record["seed"] == graded["book"]["seed"] == 0
            assert [r["status"] for r in report["results"]] == [r["status"] for r in record["results"]]
            assert record["target"].endswith(report["target"])  # the student's: relative names only
            assert str(graded["dir"]) not in json.dumps(report)


@pytest.mark.parametrize("name", [name for name, expected in EXPECTED.items() if expected and expected[0]], ids=str)
def test_each_failed_check_has_a_reproducer_written_by_the_grader(graded, name):
    # The child check sends its report (with the engine's facts) back; grade writes the reproducers.
    failing, _ = EXPECTED[name]
    written = sorted(path.name for path in (graded["dir"] / name).glob("repro_*.py"))
    assert written == sorted(f"repro_{check}.py" for check in failing)
    report = json.loads((graded["dir"] / graded["rows"][name]["reports"]["json"]).read_text())
    assert all(result["failure"]["reproducer"] for result in report["results"] if result["status"] == "failed")


def test_workers_seed_and_one_progress_line_per_submission(graded):
    assert graded["book"]["workers"] == 2
    assert "seed 0, 2 at a time" in graded["stderr"]
    progress = [line for line in graded["stderr"].splitlines() if re.match(r"\[\d/6\] ", line)]
    assert sorted(line.split()[1].rstrip(":") for line in progress) == sorted(EXPECTED)
    assert "Wrote gradebook csv to" in graded["stdout"]
    assert "seed 0" in graded["stdout"]


# --- one submission that never finishes ----------------------------------------------


def test_a_submission_that_hangs_is_stopped_and_is_its_own_row(tmp_path):
    # Its import outlasts the limit; the worker exits on its own afterwards.
    (tmp_path / "sleeper.py").write_text("import time\ntime.sleep(10)\n")
    status = main(["grade", str(tmp_path / "sleeper.py"), "--submission-timeout", "3",
                   "--ops", "negative", "--no-programs", "--report-dir", str(tmp_path / "grades"), *NO_SANDBOX])
    assert status == 0
    (row,) = json.loads((tmp_path / "grades" / "gradebook.json").read_text())["submissions"]
    assert row["status"] == "error"
    assert "--submission-timeout=3" in row["reason"]


# --- finding the engine in a submission -----------------------------------------------

ENGINE = "from gradcheck.examples.numpy_engine import make_engine\nengine = make_engine()\n"
GRAD = "def variable(a): ...\ndef value(x): ...\ndef grad(y, xs, g): ...\n"


@pytest.mark.parametrize(("files", "target", "problem"), [
    pytest.param({"engine.py": ENGINE, "other.py": GRAD}, "engine.py", None, id="engine.py-first"),
    pytest.param({"mine.py": ENGINE, "notes.py": "x = 1\n", "test_mine.py": GRAD, "_util.py": GRAD}, "mine.py", None,
                 id="the-one-file-with-an-engine"),
    pytest.param({"broken.py": "def grad(:\n"}, "broken.py", None, id="unparsable-is-graded"),
    pytest.param({"__init__.py": "from .a import *\n", "a.py": GRAD, "b.py": GRAD}, "student", None,
                 id="package"),
    pytest.param({"__init__.py": "", "engine.py": ENGINE, "rules.py": "x = 1\n"}, "student.engine", None,
                 id="module-of-a-package"),
    pytest.param({"a.py": GRAD, "b.py": ENGINE}, None, "several Python files", id="ambiguous"),
    pytest.param({"helpers.py": "x = 1\n"}, None, "none of them defines an engine", id="no-engine"),
    pytest.param({}, None, "no Python file", id="empty"),
])
def test_engine_in_a_folder(tmp_path, files, target, problem):
    folder = tmp_path / "student"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    (submission,) = find_submissions([folder])
    if target and target.startswith("student"):
        assert (submission.target, submission.import_path) == (target, tmp_path)
    elif target:
        assert Path(submission.target).resolve() == folder / target
    else:
        assert submission.target is None and problem in submission.problem


@pytest.mark.parametrize(("paths", "names"), [
    pytest.param(["a.py", "b/"], ["a", "b"], id="distinct"),
    pytest.param(["alice/engine.py", "bob/engine.py"], ["alice-engine", "bob-engine"], id="same-file-name"),
    pytest.param(["x/alice/", "y/alice/"], ["x-alice", "y-alice"], id="same-folder-name"),
    pytest.param(["a.py", "a.py"], ["a"], id="given-twice"),
    pytest.param(["my engine.py"], ["my_engine"], id="unsafe-characters"),
])
def test_submission_names_are_unique_folder_names(tmp_path, paths, names):
    for path in paths:
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.mkdir(exist_ok=True) if path.endswith("/") else target.write_text(ENGINE)
    assert [s.name for s in find_submissions([tmp_path / p for p in paths])] == names


# --- weights and arguments ----------------------------------------------------------


@pytest.mark.parametrize(("toml", "words"), [
    pytest.param("[weights\nmatmul = 1\n", "is not valid TOML", id="bad-toml"),
    pytest.param("matmul = 1\n", "has matmul", id="no-table"),
    pytest.param("[weight]\nmatmul = 1\n", "has weight", id="misspelt-table"),
    pytest.param("[weights]\nmatmull = 1\n", "Did you mean 'matmul'?", id="unknown-check"),
    pytest.param("[weights]\nmatmul = -1\n", "matmul = -1 is not a weight", id="negative"),
    pytest.param("[weights]\nmatmul = true\n", "is not a weight", id="bool"),
    pytest.param("[weights]\nmatmul = 'x'\n", "is not a weight", id="string"),
    pytest.param("[weights]\nmul = 1\nmultiply = 2\n", "two weights", id="alias-twice"),
    pytest.param("[weights]\ndefault = 0\n", "weight 0 to every check", id="all-zero"),
])
def test_bad_weights_exit_2_with_one_paragraph(tmp_path, capsys, toml, words):
    (tmp_path / "weights.toml").write_text(toml)
    status = main(["grade", str(tmp_path), "--weights", str(tmp_path / "weights.toml"),
                   "--report-dir", str(tmp_path / "grades"), *NO_SANDBOX])
    error = capsys.readouterr().err
    assert status == 2
    assert words in error and "Traceback" not in error
    assert not (tmp_path / "grades").exists()  # nothing was graded


def test_weights_file_that_does_not_exist(tmp_path):
    with pytest.raises(UsageError, match="cannot be read"):
        load_weights(tmp_path / "missing.toml")


def test_weights_need_a_toml_reader(tmp_path, monkeypatch):
    (tmp_path / "weights.toml").write_text(WEIGHTS_TOML)
    # As on Python 3.10 without tomli: neither module can be imported.
    monkeypatch.setitem(sys.modules, "tomllib", None)
    monkeypatch.setitem(sys.modules, "tomli", None)
    with pytest.raises(UsageError, match="tomllib came in 3.11"):
        load_weights(tmp_path / "weights.toml")


def test_weights_default_and_aliases(tmp_path):
    (tmp_path / "weights.toml").write_text(WEIGHTS_TOML)
    weights = load_weights(tmp_path / "weights.toml", CHECKS)
    assert [weights.of(check) for check in CHECKS] == [2, 3, 1, 1, 1, 2]
    assert Weights().of("matmul") == 1


@pytest.mark.parametrize(("statuses", "points"), [
    pytest.param({"matmul": "passed", "sum": "passed", "programs": "passed"}, (9, 9), id="all-passed"),
    pytest.param({"matmul": "failed", "sum": "passed", "programs": "passed"}, (6, 9), id="weighted-failure"),
    pytest.param({"matmul": "unsupported", "sum": "passed", "programs": "passed"}, (6, 9),
                 id="unsupported-is-not-passed"),
    pytest.param({"matmul": "error", "sum": "error", "programs": "error"}, (0, 9), id="error-row"),
])
def test_points_are_the_weights_of_the_passed_checks(statuses, points):
    weights = Weights(by_check={"matmul": 3, "programs": 5}, default=1)
    assert weights.points(statuses) == points


@pytest.mark.parametrize(("argv", "words"), [
    pytest.param(["missing/"], "does not exist", id="missing-submission"),
    pytest.param([".", "--workers", "0"], "--workers=0 must be at least 1", id="workers"),
    pytest.param([".", "--ops", "matmull"], "Did you mean 'matmul'?", id="ops"),
    pytest.param([".", "--submission-timeout", "0"], "--submission-timeout=0", id="submission-timeout"),
    pytest.param([".", "--python", "/no/such/python"], "--python='/no/such/python'", id="python"),
])
def test_bad_arguments_exit_2(tmp_path, monkeypatch, capsys, argv, words):
    monkeypatch.chdir(tmp_path)
    assert main(["grade", *argv]) == 2
    assert words in capsys.readouterr().err
