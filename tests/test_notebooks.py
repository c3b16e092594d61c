"""Notebook submissions: a ``.ipynb`` target runs its code cells, in order, as one module.

The notebooks are written by the tests (``write_notebook``). Extracting the
code (magics and shell escapes out, every line mapped back to its cell) and
every way a notebook cannot be loaded are tested without running a check;
one in-process check of a notebook with two planted bugs shows the failures
and where they are ("cell 4, line 3"), and one small grading run (sandboxed
workers, as ``grade`` always runs them) grades a folder holding a notebook, a
notebook given directly and a folder whose notebook holds no engine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gradcheck._notebooks import read_notebook
from gradcheck.cli import main
from gradcheck.engine import load_engine
from gradcheck.errors import TargetError
from gradcheck.grade import find_submissions
from gradcheck.runner import run_checks
from tests.test_grade import NO_SANDBOX

REPO = Path(__file__).resolve().parent.parent


def write_notebook(path: Path, cells: list, nbformat: int = 4, language: str = "python") -> Path:
    """Write a notebook of ``cells`` (code as a string, other cells as ``(type, text)``) as Jupyter saves it."""
    cells = [("code", cell) if isinstance(cell, str) else cell for cell in cells]
    if nbformat == 3:
        notebook = {"nbformat": 3, "nbformat_minor": 0, "metadata": {"language": language},
                    "worksheets": [{"cells": [{"cell_type": kind, "input" if kind == "code" else "source":
                                               text.splitlines(keepends=True), "metadata": {}}
                                              for kind, text in cells]}]}
    else:
        notebook = {"nbformat": 4, "nbformat_minor": 5,
                    "metadata": {"kernelspec": {"name": "python3", "language": language}},
                    "cells": [{"cell_type": kind, "source": text.splitlines(keepends=True), "metadata": {},
                               **({"outputs": [], "execution_count": None} if kind == "code" else {})}
                              for kind, text in cells]}
    path.write_text(json.dumps(notebook, indent=1), encoding="utf-8")
    return path


# A correct engine among what notebooks hold besides Python: magics, shell
# escapes, a shell cell, help requests, get_ipython() calls.
CORRECT = [
    ("markdown", "# Homework 3: reverse-mode autodiff"),
    "%matplotlib inline\nimport numpy as np\n!pip install --quiet numpy",
    "%%bash\necho this cell is for the shell; it has no Python in it\n",
    "from gradcheck.examples.numpy_engine import make_engine\nnp.exp?",
    "%%time\nengine = make_engine(name='notebook engine')",
    "get_ipython().run_line_magic('load_ext', 'autoreload')\nif engine:\n    !echo defined\n    print('ready')",
]

# cos's backward uses +sin(x) instead of -sin(x) (cell 3); exp's backward
# raises (cell 4, line 3); sin is right.
BUGGY = [
    ("markdown", "# Planted bugs"),
    "import numpy as np\nfrom gradcheck.examples.numpy_engine import make_engine, unary_op",
    "# cos's backward uses +sin(x) instead of -sin(x)\ncos = unary_op('cos', np.cos, lambda x, out: np.sin(x))",
    ("def exp_rule(x, out):\n    # exp's backward fails\n    raise ZeroDivisionError('planted')\n\n"
     "exp = unary_op('exp', np.exp, exp_rule)"),
    "%time engine = make_engine(overrides={'cos': cos, 'exp': exp})",
]
BUGGY_RAISE = "cell 4, line 3: raise ZeroDivisionError('planted')"

OPS = ("cos", "exp", "sin")
BUGGY_STATUSES = {"cos": "failed", "exp": "failed", "sin": "passed"}


# --- The code a notebook runs ---------------------------------------------------------


@pytest.mark.parametrize(("cell", "code"), [
    ("%matplotlib inline\nx = 1", ["", "x = 1"]),
    ("!pip install numpy\nfiles = !ls\nx = 1", ["", "", "x = 1"]),
    ("np.sum?\n??np\nx = 1", ["", "", "x = 1"]),
    ("get_ipython().system('ls')\nx = 1", ["", "x = 1"]),
    ("ip = get_ipython()\nif get_ipython():\n    x = 1", ["", "if get_ipython():", "    x = 1"]),
    ("%time x = f()", ["x = f()"]),
    # An escape inside a block is a statement too: it becomes pass, so the block stays a block.
    ("if x:\n    %time y = 1\n    !ls", ["if x:", "    y = 1", "    pass"]),
    # Not statements: a bracketed line or a string line starting with % or ! stays.
    ("s = ('%d'\n     % 3)", ["s = ('%d'", "     % 3)"]),
    ('t = """\n%not a magic\n!nor a shell\n"""', ['t = """', "%not a magic", "!nor a shell", '"""']),
    ("%%bash\necho hi", ["", ""]),
    ("%%writefile helper.py\ndef f():\n    pass", ["", "", ""]),
    ("# timed\n%%time\nx = 1", ["# timed", "", "x = 1"]),
    ("%%capture out\nx = 1", ["", "x = 1"]),
    # A cell tokenize cannot finish is kept as it is: Python says what is wrong.
    ("x = (1,\n", ["x = (1,"]),
], ids=["line-magic", "shell", "help", "get_ipython", "get_ipython-block", "time-statement", "in-a-block", "bracketed-modulo",
        "in-a-string", "bash-cell", "writefile-cell", "time-cell", "capture-cell", "unfinished"])
def test_code_cell_becomes_python(tmp_path, cell, code):
    source = read_notebook(write_notebook(tmp_path / "nb.ipynb", ["first = 0", cell]))
    assert source.text.splitlines() == ["first = 0", *code]


@pytest.mark.parametrize("nbformat", [4, 3])
def test_every_line_maps_to_its_cell_counting_markdown(tmp_path, nbformat):
    path = write_notebook(tmp_path / "nb.ipynb", [("markdown", "# title"), "a = 1\nb = 2", ("markdown", "x"), "c = 3"],
                          nbformat=nbformat)
    source = read_notebook(path)
    assert source.text == "a = 1\nb = 2\nc = 3\n"
    assert [source.position(line) for line in (1, 2, 3)] == [(2, 1), (2, 2), (4, 1)]
    assert source.position(4) is None


# --- Notebooks that cannot be loaded: one paragraph naming the notebook -------------------

NOT_LOADABLE = {
    "broken-json": ('{"cells": [', ["broken.ipynb", "not valid JSON", "line 1, column 12"]),
    "json-not-a-notebook": ("[1, 2]", ["broken.ipynb", "not a Jupyter notebook", '"cells"', "a JSON array"]),
    "not-utf8": (b"\xff\xfe{}", ["broken.ipynb", "not UTF-8"]),
    "no-code-cells": ([("markdown", "# only words"), ("raw", "x")],
                      ["broken.ipynb", "no code cells (1 markdown cell, 1 raw cell)", "variable, value and grad"]),
    "magics-only": (["%matplotlib inline", "!pip install numpy\n", ""],
                    ["broken.ipynb", "only IPython magics, shell commands or nothing (3 code cells)"]),
    "r-kernel": ((["x <- 1"], "R"), ["broken.ipynb", "is a notebook for R", "Python code cells only"]),
    "no-engine": (["import numpy as np", "x = np.ones(3)"],
                  ["broken.ipynb", "does not define variable, value, grad", "ran the notebook's code cells in order"]),
    "syntax-error": (["import numpy as np", "def grad(y, xs:\n    return xs"],
                     ["broken.ipynb, cell 2, line 1 has a syntax error", "def grad(y, xs:"]),
    "raises": (["import numpy as np", "x = 1\nraise RuntimeError('no data')"],
               ["RuntimeError: no data (at broken.ipynb, cell 2, line 2: raise RuntimeError('no data'))"]),
}


def _write_not_loadable(folder: Path, content) -> Path:
    path = folder / "broken.ipynb"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    elif isinstance(content, tuple):
        write_notebook(path, content[0], language=content[1])
    else:
        write_notebook(path, content)
    return path


@pytest.mark.parametrize(("content", "words"), NOT_LOADABLE.values(), ids=list(NOT_LOADABLE))
def test_notebook_that_cannot_be_loaded_says_why(tmp_path, monkeypatch, content, words):
    _write_not_loadable(tmp_path, content)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TargetError) as raised:
        load_engine("broken.ipynb", quiet_tensorflow=False)
    message = str(raised.value)
    assert message.startswith("Cannot load engine target 'broken.ipynb': ")
    assert "\n" not in message.split("\n    ")[0]  # one paragraph (a syntax error adds its line and caret)
    for word in words:
        assert word in message


def test_check_exits_2_on_a_notebook_without_an_engine(tmp_path, monkeypatch, capsys):
    _write_not_loadable(tmp_path, NOT_LOADABLE["no-engine"][0])
    monkeypatch.chdir(tmp_path)
    assert main(["check", "broken.ipynb", "--ops", "exp", "--in-process"]) == 2
    assert "does not define variable, value, grad" in capsys.readouterr().err


# --- Finding a notebook in a submission folder ------------------------------------------


def test_submission_folders_find_their_notebook(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for folder in ("named", "single", "package", "two", "none"):
        (tmp_path / folder).mkdir()
    write_notebook(tmp_path / "named/engine.ipynb", ["x = 1"])  # the name says it, whatever it holds
    write_notebook(tmp_path / "named/scratch.ipynb", ["engine = 1"])
    write_notebook(tmp_path / "single/hw3.ipynb", ["from mylib import make_engine", "engine = make_engine()"])
    (tmp_path / "single/mylib.py").write_text("def make_engine():\n    return None\n")
    write_notebook(tmp_path / "package/hw3.ipynb", ["def grad(y, xs, g):\n    return []"])
    (tmp_path / "package/__init__.py").write_text("")
    for name in ("a", "b"):
        write_notebook(tmp_path / f"two/{name}.ipynb", ["def grad(y, xs, g):\n    return []"])
    write_notebook(tmp_path / "none/notes.ipynb", [("markdown", "no code"), "print(1)"])
    found = {s.name: s for s in find_submissions(["named", "single", "package", "two", "none", "named/scratch.ipynb"])}
    assert found["named"].target == os.path.join("named", "engine.ipynb")
    assert found["single"].target == os.path.join("single", "hw3.ipynb")
    # A notebook is a file target even in a package folder: it cannot be imported by module name.
    assert (found["package"].target, found["package"].import_path) == (os.path.join("package", "hw3.ipynb"), None)
    assert found["two"].target is None and "several Python files or notebooks that may define the engine (a.ipynb, b.ipynb)" in found["two"].problem
    assert found["none"].target is None and "(notes.ipynb) but none of them defines an engine" in found["none"].problem
    assert found["scratch"].target == os.path.join("named", "scratch.ipynb")


# --- Checks of a notebook --------------------------------------------------------------


def test_notebook_check_in_process_reports_the_cell_of_the_bug(tmp_path, monkeypatch):
    write_notebook(tmp_path / "bugs.ipynb", BUGGY)
    monkeypatch.chdir(tmp_path)
    report = run_checks(load_engine("bugs.ipynb", quiet_tensorflow=False), ops=list(OPS), max_examples=5, programs=0)
    assert {result.check: result.status for result in report.results} == BUGGY_STATUSES
    failures = {result.check: result.failures[0] for result in report.results if result.failures}
    assert failures["cos"].category == "mismatch"
    assert failures["exp"].category == "exception"
    assert f"ZeroDivisionError: planted (at bugs.ipynb, {BUGGY_RAISE})" in failures["exp"].detail


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """One grading run: a folder holding a correct notebook, a buggy notebook given directly, a folder
    whose notebook has no engine (found so before any check runs)."""
    folder = tmp_path_factory.mktemp("notebooks")
    (folder / "alice").mkdir()
    write_notebook(folder / "alice/hw3.ipynb", CORRECT)
    (folder / "alice/README.md").write_text("my homework\n")
    write_notebook(folder / "bob.ipynb", BUGGY)
    (folder / "carol").mkdir()
    write_notebook(folder / "carol/scratch.ipynb", ["import numpy as np", "x = np.ones(3)"])
    done = subprocess.run(
        [sys.executable, "-m", "gradcheck", "grade", "alice", "bob.ipynb", "carol", "--workers", "2",
         "--ops", ",".join(OPS), "--max-examples", "5", "--no-programs", "--timeout", "10",
         "--memory-mb", "1024", "--report-dir", "grades", *NO_SANDBOX],
        cwd=folder, capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stderr
    book = json.loads((folder / "grades/gradebook.json").read_text())
    return {"dir": folder / "grades", "rows": {row["name"]: row for row in book["submissions"]}}


def test_grade_grades_a_notebook_in_a_folder_with_every_check_passed(graded):
    row = graded["rows"]["alice"]
    assert (row["status"], row["checks"]) == ("graded", dict.fromkeys(OPS, "passed"))


def test_grade_grades_a_notebook_given_directly_in_its_sandbox(graded):
    row = graded["rows"]["bob"]
    assert (row["status"], row["checks"]) == ("graded", BUGGY_STATUSES)
    report = json.loads((graded["dir"] / row["reports"]["json"]).read_text())
    exp = next(result for result in report["results"] if result["check"] == "exp")
    assert exp["failures"][0]["category"] == "exception"
    # The sandboxed worker runs in a folder of its own: the notebook is named by its full path there.
    assert f"bob.ipynb, {BUGGY_RAISE})" in exp["failures"][0]["detail"]


def test_grade_row_of_a_notebook_without_an_engine_says_why(graded):
    row = graded["rows"]["carol"]
    assert row["status"] == "error" and set(row["checks"].values()) == {"error"}
    assert "has Python files or notebooks (scratch.ipynb) but none of them defines an engine" in row["reason"]
