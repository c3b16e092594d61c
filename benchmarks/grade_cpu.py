"""Processor time of one submission in a grading worker: the grading process and the engine worker, apart.

A grading worker (``gradcheck grade``) checks one submission after another in
one process; from the third submission on, its checks replay kept plans and
references (``gradcheck._plans``), and what is left is the work of the two
processes: the grading process (sending cases, reading and judging answers)
and the sandboxed engine worker (running the student's engine). This runs
that loop in one process, as the grading worker does, on planted-bug
submissions from ``tests/engines``, and prints for each submission its wall
time, the grading process's CPU and the engine worker's CPU (a child of this
process, counted when it ends). The engine workers run unsandboxed here
(``--no-sandbox``): a sandboxed worker's time is not counted to the process
that started the sandbox. Not a unit test: about 2 minutes.

Usage (from the repository root)::

    python benchmarks/grade_cpu.py [--count 4]

The first submission is cold (nothing kept yet); the mean is over the others.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.grade_50 import build_submissions  # noqa: E402  (needs the repository on sys.path)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=4, help="how many submissions (default: 4, the first cold)")
    args = parser.parse_args()

    from gradcheck._grading_worker import _warm_up
    from gradcheck.cli import main as gradcheck

    _warm_up()
    warm: list[tuple[float, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="gradcheck-grade-cpu-") as temporary:
        folder = Path(temporary)
        expected = build_submissions(folder / "submissions", args.count)
        print(f"{'submission':12}  {'planted bug':28}  {'wall, s':>8}  {'grading CPU, s':>14}  {'engine worker CPU, s':>20}")
        for number, (name, (bug, _)) in enumerate(expected.items()):
            wall, own, children = time.perf_counter(), time.process_time(), _children_cpu()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                gradcheck(["check", str(folder / "submissions" / name / "engine.py"), "--isolate", "--no-sandbox",
                           "--report-dir", str(folder / "reports" / name)])
            row = (time.perf_counter() - wall, time.process_time() - own, _children_cpu() - children)
            if number:
                warm.append(row)
            label = "cold" if number == 0 else "warm"
            print(f"{name:12}  {bug:28}  {row[0]:8.1f}  {row[1]:14.1f}  {row[2]:20.1f}  ({label})", flush=True)
    if warm:
        means = [statistics.mean(column) for column in zip(*warm)]
        print(f"warm mean: {means[0]:.1f} s wall, {means[1]:.1f} s grading CPU + {means[2]:.1f} s engine worker CPU "
              f"= {means[1] + means[2]:.1f} s CPU per submission")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
