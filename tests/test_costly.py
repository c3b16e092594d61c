"""Hangs and crashes cost little and lose nothing (issue 15, points 7 and 8).

A hanging op is shrunk on a budget (``gradcheck._budget``): about three time
limits in all, reported ``timeout`` on its minimal case, never
``nondeterministic``. An engine that ends its process is a ``crash`` with its
case, and the other checks still run: ``gradcheck check`` runs the engine in
a worker by default; ``--in-process`` and engines handed over as Python
objects run in the caller's process, where such an engine ends the run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gradcheck._budget import MAX_LATER
from gradcheck.cli import main
from gradcheck.engine import load_engine
from gradcheck.runner import check_op, run_checks
from tests.engines import exp_exits_on_three, tanh_hangs_on_three, tanh_slow_on_three

REPO = Path(__file__).resolve().parent.parent
EXITS = "tests/engines/exp_exits_on_three.py:engine"
TIMEOUT = 0.5


def test_a_hanging_op_waits_about_three_time_limits_and_shows_its_minimal_case():
    tanh_hangs_on_three.HUNG.clear()
    report = run_checks(
        load_engine(tanh_hangs_on_three.engine), ops=["tanh", "sin"], max_examples=60, programs=10,
        timeout=TIMEOUT,
    )
    results = {result.check: result for result in report.results}
    (failure,) = results["tanh"].failures
    assert failure.category == "timeout"  # a real one, not "nondeterministic"
    assert failure.message == f"tanh() did not return within {TIMEOUT:g} s"
    assert [x.shape for x in failure.inputs] == [(3,)]
    # The first timeout, at most one more limit while shrinking, one confirmation;
    # a stopped call overruns its limit by a sleep slice and the signal's latency.
    hung = tanh_hangs_on_three.HUNG
    assert 2 <= len(hung) <= MAX_LATER + 2
    assert sum(hung) <= 3 * TIMEOUT + 0.03 * len(hung)
    # The other op is checked, and programs leave out the op that hung.
    assert results["sin"].status == "passed"
    assert results["programs"].status == "passed"


def test_a_timeout_seen_only_under_the_shortened_limit_is_confirmed_at_the_full_one():
    # Axes of 3 are slow (0.2 s, within the limit), axes of 4 hang: the shrinking's
    # shortened limit stops both, but only a hang stands as the reported timeout.
    result = check_op(load_engine(tanh_slow_on_three.engine), "tanh", max_examples=60, timeout=TIMEOUT)
    (failure,) = result.failures
    assert failure.category == "timeout"
    assert failure.message == f"tanh() did not return within {TIMEOUT:g} s"
    assert 4 in failure.inputs[0].shape


def test_an_engine_that_ends_its_process_is_a_crash_and_the_run_goes_on(tmp_path, capsys):
    status = main([
        "check", EXITS, "--ops", "exp,sin", "--max-examples", "20", "--no-programs",
        "--timeout", str(TIMEOUT), "--format", "json", "--report-dir", str(tmp_path),
    ])
    assert status == 1  # a check failed (docs/contract.md, section 2)
    results = {r["check"]: r for r in json.loads((tmp_path / "gradcheck.json").read_text())["results"]}
    failure = results["exp"]["failure"]
    assert failure["category"] == "crash"
    assert failure["message"] == "the engine's process exited with status 3"
    assert 3 in failure["inputs"][0]["shape"]
    assert results["sin"]["status"] == "passed"


def test_in_process_an_engine_that_ends_its_process_ends_the_run(tmp_path):
    # What --in-process (and any engine handed over as an object) is documented to do.
    run = subprocess.run(
        [sys.executable, "-m", "gradcheck", "check", EXITS, "--in-process", "--ops", "exp",
         "--max-examples", "20", "--no-programs", "--format", "json", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )
    assert run.returncode == 3
    assert not (tmp_path / "gradcheck.json").exists()


def test_an_engine_object_runs_in_the_callers_process():
    code = (
        "import gradcheck\n"
        "from tests.engines import exp_exits_on_three\n"
        "gradcheck.assert_gradients(exp_exits_on_three.engine, ['exp'], max_examples=20, programs=0)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert run.returncode == 3


def test_in_process_does_not_go_with_worker_options(capsys):
    assert main(["check", EXITS, "--in-process", "--isolate"]) == 2
    assert "--in-process runs the engine in gradcheck's own process" in capsys.readouterr().err


def test_the_planted_engines_are_right_elsewhere():
    # Only the planted shapes misbehave: on others each is the reference engine.
    assert exp_exits_on_three.CATEGORY == "crash"
    result = check_op(load_engine(exp_exits_on_three.engine), "exp", max_examples=10, shapes=[(2, 2)])
    assert result.status == "passed"
    result = check_op(load_engine(tanh_hangs_on_three.engine), "tanh", max_examples=10, shapes=[(2, 4)])
    assert result.status == "passed"
