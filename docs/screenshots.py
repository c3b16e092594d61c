"""Grade three small submissions and take the README's screenshots with headless Chromium.

Writes ``docs/gradebook.png`` (the gradebook page, ``index.html``) and
``docs/student-report.png`` (one student's report, the one with a planted
matmul bug) from a real ``gradcheck grade`` run of:

* ``ada/engine.py``: the bundled NumPy engine, correct;
* ``grace/engine.py``: ``tests/engines/matmul_transpose_all_axes.py``, the
  backward of matmul reversing every axis;
* ``alan/homework3.ipynb``: ``tests/engines/cos_derivative_sign.py`` as a
  notebook (a markdown cell, then one code cell per block), cos's derivative
  without its minus sign.

Re-run it whenever the gradebook page or the student report changes; the
run is the same every time (seed 0, the same folder), so only what changed
on the pages changes in the pictures. Takes about a minute.

Usage (from the repository root)::

    python docs/screenshots.py [--out docs] [--work DIR] [--window 1400x900] [-- GRADE OPTIONS...]

Options after ``--`` go to ``gradcheck grade`` after the script's own. Needs
Chromium (``apt-get install chromium``); grading runs in the sandbox when
bubblewrap is there, else with ``--no-sandbox`` (the submissions are ours).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gradcheck import sandbox  # noqa: E402  (needs the repository on sys.path)

OPS = ("matmul", "sum", "softmax", "exp", "tanh", "cos")
WEIGHTS = "[weights]\nmatmul = 3\nprograms = 2\ndefault = 1\n"
ROSTER = 'folder,student_id,name\nada,s1001,"Lovelace, Ada"\ngrace,s1002,"Hopper, Grace"\nalan,s1003,"Turing, Alan"\n'
# The student whose report is pictured.
STUDENT = "grace"

# As tests/test_browser.py runs it: no network, no first-run or background work.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars",
)


def notebook_from_module(text: str, title: str) -> str:
    """Return a notebook (nbformat 4 JSON) of a module: a markdown cell with its docstring, a code cell per block."""
    docstring = re.match(r'\s*"""(.*?)"""\s*', text, re.DOTALL)
    body = text[docstring.end():] if docstring else text
    blocks = [block.strip("\n") for block in re.split(r"\n\s*\n\s*\n", body) if block.strip()]
    cells = [{"cell_type": "markdown", "metadata": {},
              "source": f"# {title}\n\n{docstring.group(1).strip() if docstring else ''}"}]
    cells += [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": block}
              for block in ["%matplotlib inline", *blocks]]
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "cells": cells,
                       "metadata": {"kernelspec": {"name": "python3", "language": "python"}}}, indent=1)


def write_course(folder: Path) -> None:
    """Write the submissions, the weights and the roster into ``folder`` (emptied first)."""
    shutil.rmtree(folder, ignore_errors=True)
    for student in ("ada", "grace", "alan"):
        (folder / "submissions" / student).mkdir(parents=True)
    (folder / "submissions/ada/engine.py").write_text(
        "from gradcheck.examples.numpy_engine import make_engine\n\nengine = make_engine(name='ada')\n")
    shutil.copyfile(REPO / "tests/engines/matmul_transpose_all_axes.py", folder / "submissions/grace/engine.py")
    cos_bug = (REPO / "tests/engines/cos_derivative_sign.py").read_text(encoding="utf-8")
    (folder / "submissions/alan/homework3.ipynb").write_text(
        notebook_from_module(cos_bug, "Homework 3: reverse-mode autodiff"), encoding="utf-8")
    (folder / "weights.toml").write_text(WEIGHTS, encoding="utf-8")
    (folder / "roster.csv").write_text(ROSTER, encoding="utf-8")


def grade(folder: Path, extra: list[str]) -> Path:
    """Run ``gradcheck grade`` on the course in ``folder``; return the gradebook's folder."""
    no_sandbox = [] if sandbox.available() is None else ["--no-sandbox"]
    command = [
        sys.executable, "-m", "gradcheck", "grade", "submissions/ada", "submissions/grace", "submissions/alan",
        "--ops", ",".join(OPS), "--max-examples", "20", "--programs", "20", "--workers", "2",
        "--weights", "weights.toml", "--roster", "roster.csv", "--hidden", "programs",
        "--report-dir", "grades", *no_sandbox, *extra,
    ]
    print("$", " ".join(command[1:]), flush=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(command, cwd=folder, env=env, check=False)
    if done.returncode != 0:
        sys.exit(f"gradcheck grade exited {done.returncode}; no screenshots taken.")
    return folder / "grades"


def student_page(grades: Path, name: str) -> Path:
    """Return the HTML report of submission ``name``, as the gradebook lists it."""
    book = json.loads((grades / "gradebook.json").read_text(encoding="utf-8"))
    row = next((row for row in book["submissions"] if row["name"] == name), None)
    if row is None or "html" not in (row.get("reports") or {}):
        sys.exit(f"The gradebook has no HTML report for {name!r}: {json.dumps(row)[:500]}")
    return grades / row["reports"]["html"]


def screenshot(chromium: str, page: Path, out: Path, window: tuple[int, int], profile: Path) -> None:
    """Draw ``page`` in a ``window``-sized headless Chromium into the PNG ``out``."""
    out.unlink(missing_ok=True)
    done = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={window[0]},{window[1]}",
         f"--screenshot={out}", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )
    if done.returncode != 0 or not out.is_file():
        sys.exit(f"Chromium could not draw {page} (exit {done.returncode}):\n{done.stderr[-2000:]}")
    print(f"Wrote {out.relative_to(REPO) if out.is_relative_to(REPO) else out} ({page.name})")


def window_size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)x(\d+)", text)
    if not match:
        raise argparse.ArgumentTypeError(f"--window={text!r} is not WIDTHxHEIGHT, e.g. 1400x900")
    return int(match.group(1)), int(match.group(2))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs", help="where the PNGs go (default: docs/)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "gradcheck-screenshots",
                        help="the course folder, emptied first (default: %(default)s)")
    parser.add_argument("--window", type=window_size, default=(1400, 900), help="WIDTHxHEIGHT (default: 1400x900)")
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("Chromium is not on PATH (apt-get install chromium); it draws the screenshots.")
    work = args.work.resolve()
    write_course(work)
    grades = grade(work, extra)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gradcheck-chromium-") as profile:
        screenshot(chromium, grades / "index.html", args.out.resolve() / "gradebook.png", args.window, Path(profile))
        screenshot(chromium, student_page(grades, STUDENT), args.out.resolve() / "student-report.png",
                   args.window, Path(profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
