"""``gradcheck grade``'s grading workers: long-lived, one per ``--workers``, each checking submission after submission.

One grading run on ``--workers 1`` (``graded``, in this process so that the
workers it starts can be counted) checks, in this order: a correct engine
that refuses to load beside TensorFlow, the cos sign bug twice, a submission
whose import hangs past ``--submission-timeout``, and the correct engine
again. One worker checks the first three; the hanging one costs its own row
and that worker, and a fresh worker checks the last.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import gradcheck.grade
from gradcheck.cli import main
from tests.test_grade import NO_SANDBOX, REPO, write_submissions

OPS = ("negative", "cos")
SUBMISSION_TIMEOUT = 5

# If any student code ran in the grading worker (which holds TensorFlow), this one would not load.
_CORRECT_AWAY_FROM_TENSORFLOW = """\
import sys

assert "tensorflow" not in sys.modules, "the engine was loaded in a process that holds TensorFlow"

from gradcheck.examples.numpy_engine import make_engine

engine = make_engine()
"""
_COS_BUG = REPO / "tests" / "engines" / "cos_derivative_sign.py"

SUBMISSIONS = {
    "a_correct.py": _CORRECT_AWAY_FROM_TENSORFLOW,
    "b_cosbug.py": _COS_BUG.read_text(),
    "c_cosbug.py": _COS_BUG.read_text(),
    # Its import outlasts --submission-timeout by far.
    "d_sleeper.py": "import time\ntime.sleep(120)\n",
    "e_correct.py": _CORRECT_AWAY_FROM_TENSORFLOW,
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The run: its rows by name, each submission's JSON report, and the pids of the grading workers started."""
    folder = tmp_path_factory.mktemp("grade-workers")
    paths = write_submissions(folder, SUBMISSIONS)
    started: list[int] = []
    start = gradcheck.grade._Children._start

    def counted(children):
        worker = start(children)
        if worker is not None:
            started.append(worker.process.pid)
        return worker

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gradcheck.grade._Children, "_start", counted)
        status = main(["grade", *map(str, paths), "--workers", "1", "--ops", ",".join(OPS), "--no-programs",
                       "--max-examples", "3", "--timeout", "5", "--submission-timeout", str(SUBMISSION_TIMEOUT),
                       "--report-dir", str(folder / "grades"), *NO_SANDBOX])
    assert status == 0
    book = json.loads((folder / "grades" / "gradebook.json").read_text())
    rows = {row["name"]: row for row in book["submissions"]}
    reports = {name: json.loads((folder / "grades" / name / "gradcheck.json").read_text())
               for name, row in rows.items() if row["status"] == "graded"}
    return {"rows": rows, "reports": reports, "workers": started, "order": [row["name"] for row in book["submissions"]]}


def test_one_worker_checks_submission_after_submission_each_right(graded):
    rows = graded["rows"]
    assert graded["order"] == ["a_correct", "b_cosbug", "c_cosbug", "d_sleeper", "e_correct"]
    assert rows["a_correct"]["status"] == "graded", rows["a_correct"].get("reason")
    assert rows["a_correct"]["checks"] == {"negative": "passed", "cos": "passed"}
    for name in ("b_cosbug", "c_cosbug"):
        assert rows[name]["checks"] == {"negative": "passed", "cos": "failed"}, name
    # Twins checked one after the other by the same worker: the same cases, to the example.
    twins = [[(result["check"], result["examples"], result["cases"], result.get("failure", {}).get("inputs"))
              for result in graded["reports"][name]["results"]] for name in ("b_cosbug", "c_cosbug")]
    assert twins[0] == twins[1]


def test_a_hanging_submission_costs_its_row_and_its_worker_only(graded):
    rows = graded["rows"]
    sleeper = rows["d_sleeper"]
    assert sleeper["status"] == "error"
    assert f"--submission-timeout={SUBMISSION_TIMEOUT}" in sleeper["reason"]
    assert sleeper["seconds"] < SUBMISSION_TIMEOUT + 15
    # The next submission, on a fresh worker, is graded as the first was.
    assert rows["e_correct"]["status"] == "graded", rows["e_correct"].get("reason")
    assert rows["e_correct"]["checks"] == rows["a_correct"]["checks"]
    assert len(graded["workers"]) == 2, graded["workers"]
    for pid in graded["workers"]:  # none is left running
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_the_grading_worker_refuses_a_check_that_would_load_the_engine_beside_it(tmp_path):
    from gradcheck._grading_worker import check_one

    read, write = os.pipe()
    try:
        assert check_one(["check", str(Path(tmp_path) / "engine.py"), "--in-process"], "nonce", write) == 2
        assert os.read(read, 100) == b""  # its report pipe is closed, with nothing sent
    finally:
        os.close(read)
