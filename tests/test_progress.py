"""Progress on stderr (gradcheck._progress; docs/contract.md, section 2): plain lines off a terminal, a bar of examples on one.

The callbacks are driven by hand here; one subprocess runs ``gradcheck check``
with stderr a pipe, as a CI job does, and reads its lines.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from gradcheck._progress import Callbacks, plain_line, progress_callbacks
from gradcheck.results import CheckResult
from tests.report_samples import sample_report

REPO = Path(__file__).resolve().parent.parent
TINY = str(REPO / "tests" / "targets" / "few_ops.py")  # add, negative and exp only

PASSED = CheckResult("add", "op", "passed", examples=30, seconds=1.26)
UNSUPPORTED = CheckResult("mean", "op", "unsupported", reason="the engine defines no 'mean'")


def plain_console() -> Console:
    return Console(file=io.StringIO(), force_terminal=False, width=60)


def test_off_a_terminal_each_check_that_ran_prints_one_line_with_its_time_and_count():
    console = plain_console()
    failed = sample_report().results[2]
    with progress_callbacks({"add": 30, "mean": 0, failed.check: 30}, console) as progress:
        assert progress.on_start is None and progress.on_example is None  # nothing to redraw
        assert progress.on_finish is not None
        for result in (PASSED, UNSUPPORTED, failed):
            progress.on_finish(result)
    lines = console.file.getvalue().splitlines()
    assert lines == [
        "gradcheck: add passed (30 examples, 1.3 s) [1/2]",
        plain_line(failed, 2, 2),
    ]
    assert lines[1].startswith(f"gradcheck: {failed.check} failed: mismatch, exception (")


def test_an_op_whose_form_the_engine_refuses_still_prints_its_line():
    # pow_tensor is planned (the engine has pow) and comes back unsupported: that is news.
    console = plain_console()
    refused = CheckResult("pow_tensor", "op", "unsupported", reason="pow raised TypeError")
    with progress_callbacks({"pow": 10, "pow_tensor": 10}, console) as progress:
        progress.on_finish(refused)
    assert console.file.getvalue() == "gradcheck: pow_tensor unsupported [1/2]\n"


def test_quiet_shows_nothing():
    with progress_callbacks({"add": 30}, plain_console(), quiet=True) as progress:
        assert progress == Callbacks(None, None, None)


def test_on_a_terminal_the_bar_counts_examples_not_checks():
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    with progress_callbacks({"add": 30, "exp": 10}, console) as progress:
        progress.on_start("add")
        for _ in range(35):  # shrinking draws past the budget: the bar stops at it
            progress.on_example()
        progress.on_finish(PASSED)
        progress.on_start("exp")
        for _ in range(4):
            progress.on_example()
    out = console.file.getvalue()
    assert "add" in out and "30 examples" in out  # the line of the finished check
    # The last frame drawn (when the bar stops) holds the examples so far, of all checks', and an estimate.
    assert "34/40 examples" in out
    assert "eta" in out


def test_a_check_in_ci_prints_plain_lines_on_stderr_and_only_the_report_on_stdout(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    done = subprocess.run(
        [sys.executable, "-m", "gradcheck", "check", TINY, "--max-examples", "3", "--programs", "3",
         "--in-process"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    pattern = re.compile(r"gradcheck: (\w+) passed \(\d+ examples, \d+\.\d s\) \[(\d)/4\]")
    matches = [pattern.fullmatch(line) for line in lines]
    assert all(matches), lines
    # The ops the engine defines, then programs; the other ops print nothing (the report lists them).
    assert [(m.group(1), m.group(2)) for m in matches if m] == [
        ("add", "1"), ("negative", "2"), ("exp", "3"), ("programs", "4"),
    ]
    assert "gradcheck: " not in done.stdout
    assert "4 passed, 0 failed" in done.stdout.splitlines()[-1]


@pytest.mark.parametrize("quiet", ["--quiet", "-q"])
def test_quiet_check_writes_nothing_on_stderr(quiet, tmp_path, capsys):
    pytest.importorskip("gradcheck.engine")
    from gradcheck.cli import main

    status = main(["check", TINY, "--ops", "add", "--max-examples", "2", "--no-programs", "--in-process",
                   "--report-dir", str(tmp_path), quiet])
    captured = capsys.readouterr()
    assert status == 0
    assert captured.err == ""
    assert "1 passed" in captured.out
