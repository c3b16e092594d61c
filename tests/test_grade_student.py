"""What a student and a TA read of a grading: scored student reports, the gradebook page, the weights, regrade.

The student reports are read from the sample grading run of
``tests/test_grade.py`` (``graded``, shared by the session); the regrade
copies that run's submissions and gradebook to a folder of its own, fixes
one submission and regrades it (one grading of one submission, ``regraded``).
The gradebook page, the student view and the README's weights are tested on
hand-made data, without running any check.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gradcheck.cli import main
from gradcheck.grade import Gradebook, GradeOptions, Row, Weights, load_weights
from gradcheck.reports.gradebook import IndexPage, index_view, render_index
from gradcheck.reports.html import check_anchor, failure_anchor, report_view
from gradcheck.reports.lms import Grading
from gradcheck.reports.student import failed_replay, scrub, student_report
from gradcheck.reports.text import render_text
from tests.report_samples import sample_report
from tests.test_grade import CHECKS, NO_SANDBOX, OPS, REPO, graded  # noqa: F401 - the fixture
from tests.test_reports import plain_console

# The options of the sample grading run (tests/test_grade.py, _grade_sample), as a regrade repeats them.
SAMPLE_OPTIONS = ["--weights", "weights.toml", "--ops", ",".join(OPS), "--max-examples", "5", "--programs", "10",
                  "--timeout", "5", "--memory-mb", "1024", "--format", "gradescope,classroom,canvas",
                  "--hidden", "matmul", *NO_SANDBOX]
# The sample's planted bugs: (name, the one failed check, its reproducer).
PLANTED = [("negbug", "negative"), ("tanhbug", "tanh")]


def _student_files(graded, name):  # noqa: F811 - the fixture
    folder = graded["dir"] / name
    return {file: (folder / file).read_text(encoding="utf-8") for file in ("gradcheck.html", "gradcheck.txt")}


# --- Student reports of the sample run --------------------------------------------------


@pytest.mark.parametrize("name", ["correct", "negbug", "tanhbug", "hostile", "broken", "empty"])
def test_student_report_shows_nothing_of_the_grading_machine(graded, name):  # noqa: F811
    grades = Path(graded["dir"]).resolve()
    private = {"report folder": str(grades), "submission folder": str(grades.parent / "submissions"),
               "home": os.path.expanduser("~"), "python": sys.prefix}
    folder = graded["dir"] / name
    for file in ("gradcheck.html", "gradcheck.txt", "gradcheck.json", *(path.name for path in folder.glob("repro_*.py"))):
        if not (folder / file).exists():
            assert file in ("gradcheck.html", "gradcheck.json") and graded["rows"][name]["status"] == "error"
            continue
        text = (folder / file).read_text(encoding="utf-8")
        for what, path in private.items():
            assert path not in text, f"{name}/{file} shows the {what} {path}"


@pytest.mark.parametrize(("name", "failed"), PLANTED, ids=[name for name, _ in PLANTED])
def test_student_report_has_score_points_and_short_replay(graded, name, failed):  # noqa: F811
    row = graded["rows"][name]
    files = _student_files(graded, name)
    score = f"Score {row['points']:g} / {row['max_points']:g} ({row['score']:.0%})"
    # negbug is a folder whose engine is autodiff.py; tanhbug a package, checked as a module.
    target = "tanhbug.engine" if name == "tanhbug" else "autodiff.py"
    replay = f"gradcheck check {target} --ops {failed} --no-programs --seed 0 --max-examples 5"
    for file, text in files.items():
        assert score in text, file
        assert replay in text, file
        assert f"repro_{failed}.py" in text, file
        assert "--ops " + ",".join(OPS) not in text, f"{file} replays every op"
    # What each check was worth and earned: the weights of tests/test_grade.py (negative 2, matmul 3, ...).
    html = files["gradcheck.html"]
    for check, worth in graded["book"]["weights"].items():
        earned = 0 if row["checks"][check] != "passed" else worth
        cells = rf'id="{check_anchor(check)}">(?:(?!</tr>).)*<td class="number">{earned} / {worth}</td>'
        assert re.search(cells, html, re.S), check
    text_row = next(line for line in files["gradcheck.txt"].splitlines() if line.startswith(failed + " "))
    assert text_row.rstrip().endswith(f"0 / {graded['book']['weights'][failed]}")


def test_reproducer_runs_beside_the_students_engine(graded):  # noqa: F811
    source = (graded["dir"] / "negbug" / "repro_negative.py").read_text(encoding="utf-8")
    assert 'TARGET = "autodiff.py"' in source and "pytest repro_negative.py" in source
    assert 'TARGET = "tanhbug.engine"' in (graded["dir"] / "tanhbug" / "repro_tanh.py").read_text(encoding="utf-8")


def test_student_report_of_a_package_names_the_module(graded):  # noqa: F811
    # A package's target is a module name, relative already: it stays as the check was given it.
    assert "gradcheck tanhbug.engine" in _student_files(graded, "tanhbug")["gradcheck.txt"]


def test_gradebook_cells_name_the_category_and_link_to_the_panel(graded):  # noqa: F811
    index = (graded["dir"] / "index.html").read_text(encoding="utf-8")
    for name, check in PLANTED:
        # The TA's full page: a hidden check's panel is only there.
        href = f"_ta/{name}/gradcheck.html#{failure_anchor(check)}"
        assert f'<a href="{href}"><span>{graded["rows"][name]["failures"][check][0]}</span></a>' in index
        for page in (graded["dir"] / "_ta" / name / "gradcheck.html", graded["dir"] / name / "gradcheck.html"):
            assert f'id="{failure_anchor(check)}"' in page.read_text(encoding="utf-8")
    assert graded["rows"]["negbug"]["failures"] == {"negative": ["mismatch"]}
    # The hostile engine's exp ends its worker (os._exit): a crash, told apart from a mismatch.
    assert graded["rows"]["hostile"]["failures"]["exp"] == ["crash"]


# --- The student view, on a hand-made report ---------------------------------------------


def test_student_view_cuts_the_graders_folders_and_keeps_the_rest():
    report = sample_report()
    failure = dataclasses.replace(report.results[2].failures[0],
                                  detail="Traceback: /srv/grading/subs/ann/engine.py:12 in /home/ta/x.py")
    results = (*report.results[:2], dataclasses.replace(report.results[2], failures=(failure,)), *report.results[3:])
    report = dataclasses.replace(report, target="/srv/grading/subs/ann/engine.py", results=results)
    student = student_report(report, ("/srv/grading/subs/ann",))
    assert student.target == "engine.py"
    assert student.results[2].failures[0].detail.startswith("Traceback: engine.py:12")
    assert student.results[2].failures[0].reproducer == "repro_matmul.py"
    assert "/srv/grading" not in json.dumps(student.to_dict())
    # Numbers and cases are untouched.
    assert [record.to_dict() for record in student.results[2].failures[0].inputs] == [
        record.to_dict() for record in report.results[2].failures[0].inputs]


def test_scrub_shows_the_home_folder_as_tilde():
    home = os.path.expanduser("~")
    assert scrub(f"see {home}{os.sep}notes.txt", ()) == f"see ~{os.sep}notes.txt"


def test_failed_replay_lists_the_failed_ops_only():
    report = sample_report()  # matmul and sum failed, programs too; add passed; negative unsupported
    command = failed_replay(report)
    assert command is not None and "--ops matmul,sum --no-programs" in command
    assert failed_replay(report, hidden={"matmul", "sum"}) == failed_replay(
        dataclasses.replace(report, results=tuple(r for r in report.results if r.check not in {"matmul", "sum"})))
    assert failed_replay(dataclasses.replace(report, results=report.results[:2])) is None


def test_hidden_checks_keep_their_points_but_not_their_cases(tmp_path):
    from gradcheck.reports.gradebook import write_student_reports
    from gradcheck.reports.student import HIDDEN_MESSAGE

    report = sample_report()  # matmul failed with two failures ("all axes of b reversed", a crash)
    matmul = next(result for result in report.results if result.check == "matmul")
    assert matmul.failures and "all axes" in json.dumps(matmul.to_dict())
    grading = Grading(weights=Weights({"matmul": 3}, default=1), hidden=frozenset({"matmul"}),
                      checks=tuple(r.check for r in report.results))
    written = write_student_reports(report, tmp_path / "ann", grading, ["gradescope"], record_folder=tmp_path / "ta")
    for name in ("html", "text", "json"):
        text = written[name].read_text(encoding="utf-8")
        assert HIDDEN_MESSAGE in text, name
        assert "all axes" not in text and "repro_matmul" not in text, f"{name} shows the hidden check's case"
        assert "grad() raised IndexError" in text, f"{name} lost a visible check's case"
    stored = json.loads(written["json"].read_text(encoding="utf-8"))
    hidden = next(result for result in stored["results"] if result["check"] == "matmul")
    assert hidden["status"] == "failed" and "failures" not in hidden  # it still costs its points
    assert "Score 1 / 7 (14%)" in written["text"].read_text(encoding="utf-8")
    assert "--ops sum " in written["text"].read_text(encoding="utf-8")  # the replay leaves matmul out
    # Gradescope shows the hidden check's panel once the grades are published, as before.
    tests = {test["name"]: test for test in json.loads(written["gradescope"].read_text(encoding="utf-8"))["tests"]}
    assert tests["matmul"]["visibility"] == "after_published" and "all axes" in tests["matmul"]["output"]
    # The TA's record keeps everything: the same report as the check sent it, and its page.
    record = json.loads((tmp_path / "ta" / "gradcheck.json").read_text(encoding="utf-8"))
    assert "all axes" in json.dumps(record) and record["target"] == report.target
    assert "all axes" in written["full"].read_text(encoding="utf-8")


def test_failed_replay_of_programs_names_the_supported_ops_only():
    # Programs are drawn from the supported ops only, in order: the same programs, a short command.
    report = sample_report()
    by_check = {result.check: result for result in report.results}
    only_programs = dataclasses.replace(report, ops=["add", "negative"],
                                        results=(by_check["add"], by_check["negative"], by_check["programs"]))
    command = failed_replay(only_programs)
    assert command is not None and " --ops add " in command and "negative" not in command


def test_scored_views_add_up_to_the_weights():
    report = sample_report()
    grading = Grading(weights=Weights({"matmul": 3}, default=1), checks=tuple(r.check for r in report.results))
    view = report_view(report, grading)
    assert view.score == "Score 1 / 7 (14%)"  # only add (1) passed of add 1, negative 1, matmul 3, sum 1, programs 1
    assert [row.points for row in view.rows] == ["1 / 1", "0 / 1", "0 / 3", "0 / 1", "0 / 1"]
    console = plain_console()
    render_text(report, console, grading)
    assert "Score 1 / 7 (14%)" in console.file.getvalue()
    assert report_view(report).score is None  # a plain check's page has no score


# --- The gradebook page -------------------------------------------------------------------

_BOOK_CHECKS = ("add", "negative", "matmul", "programs")


def _gradebook(weights: Weights) -> Gradebook:
    options = GradeOptions(ops=_BOOK_CHECKS[:-1])
    statuses = {"add": "passed", "negative": "unsupported", "matmul": "failed", "programs": "passed"}
    points, max_points = weights.points(statuses)
    row = Row(name="ann", path="subs/ann", target="subs/ann/engine.py", status="graded", checks=statuses,
              points=points, max_points=max_points, reports={"html": "ann/gradcheck.html", "text": "ann/gradcheck.txt"},
              failures={"matmul": ["mismatch", "shape"]})
    return Gradebook(options=options, weights=weights, workers=1, rows=[row])


def test_index_leaves_zero_weight_checks_out_and_says_so():
    weights = Weights({"negative": 0, "programs": 0}, default=2, source="weights.toml")
    view = index_view(_gradebook(weights))
    assert [check for check, _ in view.columns] == ["add", "matmul"]
    assert view.left_out is not None and "negative, programs" in view.left_out and "--show-unweighted" in view.left_out
    assert "weighs 2" in view.scoring and "unsupported" in view.scoring
    shown = index_view(_gradebook(weights), show_unweighted=True)
    assert [check for check, _ in shown.columns] == list(_BOOK_CHECKS) and shown.left_out is None


def test_index_failed_cell_shows_categories_and_links_to_the_panel():
    stream = io.StringIO()
    render_index(IndexPage(_gradebook(Weights())), stream)
    page = stream.getvalue()
    assert f'<a href="ann/gradcheck.html#{failure_anchor("matmul")}"><span>mismatch, shape</span></a>' in page
    assert "A check not listed in the weights weighs 1" in page
    # An unsupported op costs its weight: 2 of 4 points.
    assert "2 / 4" in page


def test_row_round_trips_through_json():
    row = _gradebook(Weights()).rows[0]
    assert Row.from_dict(json.loads(json.dumps(row.to_dict()))) == row


# --- The README's weights -----------------------------------------------------------------


def test_readme_weights_example_loads(tmp_path):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Grading for an LMS"):]
    blocks = re.findall(r"```toml\n(.*?)```", section, re.S)
    assert blocks, "the README's LMS section has no TOML example"
    path = tmp_path / "weights.toml"
    path.write_text(blocks[0], encoding="utf-8")
    weights = load_weights(path, CHECKS)
    assert weights.default == 0
    assert weights.of("matmul") == 3 and weights.of("negative") == 2 and weights.of("programs") == 2
    assert weights.of("exp") == 1 and weights.of("tanh") == 0  # tanh is not listed: the default
    assert weights.of("exp (order 2)") == 1 and weights.of("tanh (order 2)") == 0  # a derived check, quoted


# --- Regrade -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def regrade_copy(graded, tmp_path_factory):  # noqa: F811
    """A copy of the sample run (submissions, weights, gradebook) that a regrade may change."""
    folder = tmp_path_factory.mktemp("regrade")
    sample = Path(graded["dir"]).parent
    for name in ("submissions", "grades"):
        shutil.copytree(sample / name, folder / name)
    shutil.copyfile(sample / "weights.toml", folder / "weights.toml")
    return folder


@pytest.fixture(scope="module")
def regraded(regrade_copy):
    """Fix negbug in the copy, then regrade it alone: the run, and the gradebook before and after."""
    before = json.loads((regrade_copy / "grades" / "gradebook.json").read_text())
    (regrade_copy / "submissions" / "negbug" / "autodiff.py").write_text(
        "from gradcheck.examples.numpy_engine import make_engine\n\nengine = make_engine()\n", encoding="utf-8")
    (regrade_copy / "grades" / "negbug" / "gradcheck.html").unlink()
    done = subprocess.run(
        [sys.executable, "-m", "gradcheck", "grade", "--regrade", "negbug", "--report-dir", "grades", *SAMPLE_OPTIONS],
        cwd=regrade_copy, capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    after = json.loads((regrade_copy / "grades" / "gradebook.json").read_text())
    return done, before, after


def test_regrade_updates_only_that_row(regraded, regrade_copy):
    done, before, after = regraded
    assert done.returncode == 0, done.stderr
    rows_before = {row["name"]: row for row in before["submissions"]}
    rows_after = {row["name"]: row for row in after["submissions"]}
    assert list(rows_after) == list(rows_before)
    for name, row in rows_before.items():
        if name != "negbug":
            assert rows_after[name] == row, name
    fixed = rows_after["negbug"]
    assert set(fixed["checks"].values()) == {"passed"} and fixed["score"] == 1 and fixed["failures"] == {}
    assert fixed["student_id"] == rows_before["negbug"]["student_id"]
    assert "Regraded negbug: score 100%" in done.stdout
    grades = regrade_copy / "grades"
    assert "Score 10 / 10 (100%)" in (grades / "negbug" / "gradcheck.html").read_text(encoding="utf-8")
    lines = (grades / "gradebook.csv").read_text(encoding="utf-8").splitlines()
    assert next(line for line in lines if line.startswith("negbug,")).split(",")[5] == "1.0"
    assert "negbug/gradcheck.html#failure" not in (grades / "index.html").read_text(encoding="utf-8")


def _without(options, *names):
    """Return ``options`` without the given options and their values."""
    kept, skip = [], False
    for option in options:
        if skip:
            skip = False
        elif option in names:
            skip = True
        else:
            kept.append(option)
    return kept


@pytest.mark.parametrize(("arguments", "words"), [
    (["--regrade", "nobody"], "no submission 'nobody'"),
    (["--regrade", "negbug", "--seed", "3"], "seed: 0 -> 3"),
    (["--regrade", "negbug", "--ops", "exp", "--force"], "every row has the same checks, even with --force"),
    (["--regrade", "negbug", "--roster", "roster.csv"], "takes no --roster"),
    (["--regrade", "negbug", "submissions/tanhbug"], "'negbug' is not among the SUBMISSION paths given"),
    (["--force", "submissions/negbug"], "goes with --regrade"),
], ids=["unknown", "other-seed", "other-ops-forced", "roster", "not-given", "force-alone"])
def test_regrade_refuses_what_would_break_the_gradebook(regrade_copy, monkeypatch, capsys, arguments, words):
    monkeypatch.chdir(regrade_copy)
    # Other ops: without the sample's --hidden matmul too, which would be refused first.
    options = _without(SAMPLE_OPTIONS, *(("--ops", "--hidden") if "--ops" in arguments else ()))
    assert main(["grade", "--report-dir", "grades", *options, *arguments]) == 2
    assert words in capsys.readouterr().err


def test_regrade_without_a_gradebook_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["grade", "--regrade", "ann", "--report-dir", "grades", *NO_SANDBOX]) == 2
    assert "there is none" in capsys.readouterr().err


def test_regrade_without_weights_differs_from_the_gradebook(regrade_copy, monkeypatch, capsys):
    # Forgetting --weights would re-score every row with weight 1: refused, naming the weights file.
    monkeypatch.chdir(regrade_copy)
    options = _without(SAMPLE_OPTIONS, "--weights")
    assert main(["grade", "--regrade", "negbug", "--report-dir", "grades", *options]) == 2
    message = capsys.readouterr().err
    assert "weight of negative: 2 -> 1" in message and "weights.toml" in message
