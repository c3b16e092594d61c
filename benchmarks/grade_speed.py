"""Time ``gradcheck grade`` of N submissions against ``gradcheck check`` of one, side by side, and print a table.

The issue's target (issue 18, "Fast"): on a 2-core machine, grading N
submissions with ``--workers 2`` takes at most 0.4 x N x the wall time of
one ``gradcheck check`` of one submission. The submissions are
``benchmarks/grade_50.py``'s (a copy of one planted-bug engine of
``tests/engines`` each); one ``gradcheck check --isolate`` (sandboxed, as
``grade`` runs each engine) is timed on several of them, half before the
grading run and half after, so that a change in the machine's load shows;
the median is the reference. Every row of the gradebook must be right (the
planted bug's column failed, every other passed). Not a unit test.

Usage (from the repository root)::

    python benchmarks/grade_speed.py [--count 6] [--workers 2] [--checks 4] [-- CHECK OPTIONS...]

Options after ``--`` go to both ``gradcheck check`` and ``gradcheck grade``
(e.g. ``-- --max-examples 20 --programs 20``); the default is gradcheck's own
defaults.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.grade_50 import build_submissions, print_table  # noqa: E402  (needs the repository on sys.path)

TARGET = 0.4


def _timed(command: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True)
    return time.perf_counter() - started, done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=6, help="how many submissions to grade (default: 6)")
    parser.add_argument("--workers", type=int, default=2, help="gradcheck grade --workers (default: 2)")
    parser.add_argument("--checks", type=int, default=4,
                        help="how many single checks to time, half before and half after grading (default: 4)")
    parser.add_argument("options", nargs="*", help="options for both commands, after --")
    args = parser.parse_args()

    import json

    with tempfile.TemporaryDirectory(prefix="gradcheck-grade-speed-") as temporary:
        folder = Path(temporary)
        submissions = folder / "submissions"
        expected = build_submissions(submissions, args.count)
        paths = sorted(submissions.iterdir())
        python = [sys.executable, "-m", "gradcheck"]

        def check(index: int) -> float:
            path = paths[index % len(paths)]
            seconds, done = _timed([*python, "check", str(path / "engine.py"), "--isolate",
                                    "--report-dir", str(folder / f"check-{index}"), *args.options], folder)
            if done.returncode not in (0, 1):
                raise SystemExit(f"gradcheck check {path.name} exited with {done.returncode}:\n{done.stderr[-2000:]}")
            print(f"  gradcheck check {path.name}/engine.py: {seconds:.1f} s", flush=True)
            return seconds

        before = (args.checks + 1) // 2
        print(f"{len(paths)} submissions; options: {' '.join(args.options) or '(the defaults)'}", flush=True)
        singles = [check(index) for index in range(before)]
        seconds, done = _timed([*python, "grade", *map(str, paths), "--workers", str(args.workers),
                                "--report-dir", str(folder / "grades"), *args.options], folder)
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            return 1
        print(f"  gradcheck grade ({len(paths)} submissions, --workers {args.workers}): {seconds:.1f} s", flush=True)
        singles += [check(index) for index in range(before, args.checks)]
        book = json.loads((folder / "grades" / "gradebook.json").read_text())

    print()
    right = print_table(book, expected)
    one = statistics.median(singles)
    ratio = seconds / (len(paths) * one)
    print()
    print("| submissions | workers | one check, s (median of %d) | grade, s | per submission, s | grade / (N x check) | target | rows right |"
          % len(singles))
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {len(paths)} | {args.workers} | {one:.1f} ({min(singles):.1f}-{max(singles):.1f}) | {seconds:.1f} | "
          f"{seconds / len(paths):.1f} | **{ratio:.2f}** | <= {TARGET} {'met' if ratio <= TARGET else 'NOT met'} | "
          f"{right}/{len(paths)} |")
    return 0 if right == len(paths) else 1


if __name__ == "__main__":
    raise SystemExit(main())
