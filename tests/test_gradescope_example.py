"""docs/examples/gradescope: the autograder's ``run_autograder`` run as Gradescope runs it.

The ``/autograder`` root is a temporary folder (``AUTOGRADER_ROOT``), laid
out as Gradescope lays it out: ``source/`` holds the example's files,
``submission/`` the student's, and ``results/results.json`` must be there
afterwards, valid by Gradescope's specification and scored by the example's
weights.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_grade_lms import GRADESCOPE_FIELDS, assert_gradescope_results

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "docs/examples/gradescope"
CORRECT = "from gradcheck.examples.numpy_engine import make_engine\n\nengine = make_engine()\n"


def run_autograder(root: Path, submission: dict[str, str], **settings: str) -> tuple[dict, subprocess.CompletedProcess[str]]:
    """Run the example's run_autograder on ``submission`` (file name -> text) under ``root``; return results.json."""
    shutil.copytree(EXAMPLE, root / "source")
    (root / "submission").mkdir()
    for name, text in submission.items():
        (root / "submission" / name).write_text(text, encoding="utf-8")
    environment = {
        **os.environ, "AUTOGRADER_ROOT": str(root), "PYTHONPATH": str(REPO),
        # The test's gradcheck stands for the venv setup.sh makes.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        **settings,
    }
    done = subprocess.run([str(root / "source" / "run_autograder")], cwd=root, env=environment,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads((root / "results" / "results.json").read_text(encoding="utf-8")), done


FAST = {"GRADCHECK_OPS": "negative,matmul", "GRADCHECK_MAX_EXAMPLES": "5", "GRADCHECK_PROGRAMS": "3"}


def test_run_autograder_writes_results_json_where_gradescope_reads_it(tmp_path):
    results, _ = run_autograder(tmp_path, {"engine.py": CORRECT}, **FAST)
    assert_gradescope_results(results)
    tests = {test["name"]: test for test in results["tests"]}
    assert list(tests) == ["negative", "matmul", "programs"]
    # The example's weights.toml: matmul 3, programs 4, default 1; matmul hidden until published.
    assert {name: test["max_score"] for name, test in tests.items()} == {"negative": 1, "matmul": 3, "programs": 4}
    assert all(test["status"] == "passed" and test["score"] == test["max_score"] for test in tests.values())
    assert results["score"] == 8
    assert tests["matmul"]["visibility"] == "after_published"
    assert tests["negative"]["visibility"] == tests["programs"]["visibility"] == "visible"
    assert all(test["output"].startswith(f"{name}: passed") for name, test in tests.items())
    assert str(tmp_path) not in json.dumps(results)  # no path of the autograder's machine


def test_a_submission_without_the_engine_file_scores_zero_saying_why(tmp_path):
    # gradcheck writes this results.json itself (docs/contract.md, section 4, "Exit status").
    results, done = run_autograder(tmp_path, {"autodiff.py": CORRECT}, **FAST)
    assert_gradescope_results(results)
    assert results["score"] == 0
    assert "there is no file engine.py" in results["output"]
    assert str(tmp_path) not in json.dumps(results)
    assert "Cannot load engine target" in done.stderr  # and the TA sees it too, with the paths


@pytest.mark.parametrize("script", ["setup.sh", "run_autograder"])
def test_the_example_scripts_are_executable_bash(script):
    path = EXAMPLE / script
    assert os.access(path, os.X_OK)
    assert path.read_text().startswith("#!/usr/bin/env bash\n")
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0


def test_without_gradcheck_results_json_still_says_the_autograder_failed(tmp_path):
    # A --hidden check the run does not make: gradcheck refuses its arguments and writes nothing.
    results, done = run_autograder(tmp_path, {"engine.py": CORRECT}, **{**FAST, "GRADCHECK_HIDDEN": "exp"})
    # Gradescope's fields, and no test: the score alone is the grade.
    assert all(isinstance(value, GRADESCOPE_FIELDS[key]) for key, value in results.items())
    assert results["score"] == 0 and results["tests"] == [] and results["stdout_visibility"] == "hidden"
    assert "could not run gradcheck (exit status 2)" in results["output"]
    assert "--hidden names exp" in done.stderr
