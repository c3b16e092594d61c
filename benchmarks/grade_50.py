"""Time ``gradcheck grade`` on 50 planted-bug submissions and say whether every row is right.

Each submission is a folder ``student_NN/engine.py`` holding a copy of one
module of ``tests/engines`` (they import nothing but gradcheck, like a
student's file would), cycling through every planted bug until there are
50. A row is right when the planted bug's column failed and every other
column passed: the op's own column for an op bug, ``programs`` for a bug in
the backward traversal. Not a unit test: it takes minutes.

Usage (from the repository root)::

    python benchmarks/grade_50.py [--count 50] [--workers N] [--keep DIR] [-- GRADE OPTIONS...]

Options after ``--`` go to ``gradcheck grade`` as they are (e.g.
``-- --max-examples 20 --programs 50``); the default is gradcheck's own
defaults, the run a teacher would do.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.engines import PLANTED, PLANTED_TRAVERSALS  # noqa: E402  (needs the repository on sys.path)

# The column a bug with no op of its own (a traversal bug) shows in.
PROGRAMS = "programs"


def build_submissions(folder: Path, count: int) -> dict[str, tuple[str, str]]:
    """Write ``count`` submissions to ``folder``; return name -> (planted bug, column that must fail)."""
    bugs = itertools.cycle(PLANTED + PLANTED_TRAVERSALS)
    expected = {}
    for number, bug in zip(range(1, count + 1), bugs):
        name = f"student_{number:02d}"
        (folder / name).mkdir(parents=True)
        shutil.copyfile(REPO / "tests" / "engines" / f"{bug.id}.py", folder / name / "engine.py")
        expected[name] = (bug.id, bug.op or PROGRAMS)
    return expected


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50, help="how many submissions (default: 50)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="gradcheck grade --workers (default: the number of CPUs)")
    parser.add_argument("--keep", metavar="DIR", help="build and grade in DIR and keep it (default: a temporary folder)")
    parser.add_argument("grade_options", nargs="*", help="more options for gradcheck grade, after --")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="gradcheck-grade50-") as temporary:
        folder = Path(args.keep or temporary)
        submissions, grades = folder / "submissions", folder / "grades"
        expected = build_submissions(submissions, args.count)
        command = [sys.executable, "-m", "gradcheck", "grade", *sorted(map(str, submissions.iterdir())),
                   "--workers", str(args.workers), "--report-dir", str(grades), *args.grade_options]
        print(f"$ gradcheck grade {submissions}/* --workers {args.workers} --report-dir {grades} "
              + " ".join(args.grade_options), flush=True)
        started = time.perf_counter()
        done = subprocess.run(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            print(f"gradcheck grade exited with status {done.returncode}", file=sys.stderr)
            return 1
        book = json.loads((grades / "gradebook.json").read_text())

    right = print_table(book, expected)
    print()
    print(f"{len(expected)} submissions, {book['workers']} workers, seed {book['seed']}: "
          f"{seconds:.1f} s wall ({seconds / len(expected):.1f} s per submission), "
          f"{right}/{len(expected)} rows right")
    return 0 if right == len(expected) else 1


def print_table(book: dict, expected: dict[str, tuple[str, str]]) -> int:
    """Print one line per submission: the bug, the column that must fail, what failed; return how many are right."""
    widths = (12, 28, 18, 34, 8, 6)
    header = ("submission", "planted bug", "must fail", "failed", "seconds", "right")
    print("  ".join(title.ljust(width) for title, width in zip(header, widths)))
    right = 0
    for row in book["submissions"]:
        bug, column = expected[row["name"]]
        failed = [check for check, status in row["checks"].items() if status == "failed"]
        ok = row["status"] == "graded" and failed == [column] and all(
            status == "passed" for check, status in row["checks"].items() if check != column
        )
        right += ok
        shown = ", ".join(failed) if row["status"] == "graded" else f"error: {row['reason'][:26]}"
        cells = (row["name"], bug, column, shown or "-", f"{row['seconds']:.1f}", "yes" if ok else "NO")
        print("  ".join(str(cell).ljust(width) for cell, width in zip(cells, widths)))
    return right


if __name__ == "__main__":
    raise SystemExit(main())
