"""SIGINT and SIGTERM during ``gradcheck check`` (docs/contract.md, section 2): partial reports, exit 130 / 143.

The signal tests run ``gradcheck check`` in a subprocess on an engine whose
second op is slow (tests/targets/slow_engine.py), wait for the progress
line of the first finished check on its stderr (a pipe: plain lines), then
send the signal. The two runs go side by side to keep the time they cost
down. The rest is fast: the runner's partial report, the renderers' mark,
and ``--ops`` naming an op the engine lacks.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from rich.console import Console

from gradcheck.cli import main
from gradcheck.reports import render_report
from gradcheck.reports.json import load_report
from gradcheck.reports.markdown import markdown_text
from gradcheck.reports.text import render_text
from tests.report_samples import sample_report

REPO = Path(__file__).resolve().parent.parent
TARGETS = REPO / "tests" / "targets"
SLOW = str(TARGETS / "slow_engine.py")  # negative at once, exp a quarter second per call
TINY = str(TARGETS / "few_ops.py")  # add, negative and exp only
FORMATS = ("text", "json", "junit", "md", "html")


@dataclasses.dataclass
class Run:
    """One ``gradcheck check`` of the slow engine in a subprocess, its files in ``folder``."""

    folder: Path
    process: subprocess.Popen[str]
    first_line: str = ""

    @classmethod
    def start(cls, folder: Path, *options: str) -> "Run":
        env = dict(os.environ, GRADCHECK_TEST_PID_FILE=str(folder / "worker.pid"),
                   PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        process = subprocess.Popen(
            [sys.executable, "-m", "gradcheck", "check", SLOW, "--ops", "negative,exp", "--max-examples", "3",
             "--no-programs", "--format", ",".join(FORMATS), "--report-dir", str(folder / "reports"), *options],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=folder, env=env,
        )
        return cls(folder, process)

    def wait_for_first_check(self) -> None:
        assert self.process.stderr is not None
        self.first_line = self.process.stderr.readline()  # blocks until negative's line is flushed

    def stop(self, number: int) -> tuple[int, str, str]:
        self.process.send_signal(number)
        out, err = self.process.communicate(timeout=120)
        return self.process.returncode, out, self.first_line + err


@pytest.fixture(scope="module")
def stopped_runs(tmp_path_factory):
    """Return the (status, stdout, stderr, folder) of a run stopped by SIGINT (worker) and one by SIGTERM (in process)."""
    runs = {}
    for number, options in ((signal.SIGINT, ()), (signal.SIGTERM, ("--in-process",))):
        folder = tmp_path_factory.mktemp(number.name)
        runs[number] = Run.start(folder, *options)
    try:
        for run in runs.values():
            run.wait_for_first_check()
        return {number: (*run.stop(number), run.folder) for number, run in runs.items()}
    finally:
        for run in runs.values():
            if run.process.poll() is None:
                run.process.kill()
                run.process.wait()


@pytest.mark.parametrize("number, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_a_signal_writes_the_finished_checks_marked_partial_and_exits_128_plus_it(stopped_runs, number, status):
    code, out, err, folder = stopped_runs[number]
    assert err.startswith("gradcheck: negative passed ("), err
    assert code == status, err
    assert f"stopped by {number.name}" in err and "Traceback" not in err
    reports = folder / "reports"
    data = json.loads((reports / "gradcheck.json").read_text())
    assert data["partial"] is True and data["interrupted_by"] == number.name
    assert [(r["check"], r["status"]) for r in data["results"]] == [("negative", "passed")]
    assert data["not_run"] == ["exp"]
    # Every format says so first.
    assert out.startswith(f"Partial report: the run was stopped by {number.name}")
    assert (reports / "gradcheck.md").read_text().startswith(f"> **Partial report: the run was stopped by {number.name}")
    html = (reports / "gradcheck.html").read_text()
    assert html.index('class="partial"') < html.index("<h1>")
    suite = ET.parse(reports / "gradcheck.xml").getroot().find("testsuite")
    assert suite is not None
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["partial"] == "true" and properties["interrupted_by"] == number.name
    assert [case.get("name") for case in suite.iter("testcase") if case.find("skipped") is not None] == ["exp"]


def test_the_engine_worker_is_stopped_with_the_run(stopped_runs):
    *_, folder = stopped_runs[signal.SIGINT]
    worker = int((folder / "worker.pid").read_text())
    assert worker != 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    pytest.fail(f"the engine worker {worker} still runs after gradcheck exited")


# --- the partial report, without processes ------------------------------------------


def test_run_checks_interrupted_raises_the_report_of_the_finished_checks():
    pytest.importorskip("gradcheck.engine")
    from gradcheck.runner import ChecksInterrupted, run_checks

    def stop_after_first(result):
        raise KeyboardInterrupt

    with pytest.raises(ChecksInterrupted) as raised:
        run_checks(TINY, ops=["add", "mean", "negative"], max_examples=2, programs=5, on_finish=stop_after_first)
    assert isinstance(raised.value, KeyboardInterrupt)  # callers that do not look for the report stop as before
    report = raised.value.report
    assert report.partial and report.interrupted_by == "SIGINT"
    # mean needs no engine call to be unsupported; negative and programs would have run.
    assert [(r.check, r.status) for r in report.results] == [("add", "passed"), ("mean", "unsupported")]
    assert report.not_run == ("negative", "programs")


def partial_sample():
    report = sample_report()
    return dataclasses.replace(report, results=report.results[:2], interrupted_by="SIGTERM", not_run=("exp", "programs"))


def test_the_partial_mark_survives_the_json_report(tmp_path):
    report = partial_sample()
    render_report(report, ["json"], tmp_path, console=Console(file=io.StringIO()))
    loaded = load_report(tmp_path / "gradcheck.json")
    assert (loaded.partial, loaded.interrupted_by, loaded.not_run) == (True, "SIGTERM", ("exp", "programs"))
    # A whole report has none of the fields.
    render_report(sample_report(), ["json"], tmp_path, console=Console(file=io.StringIO()))
    data = json.loads((tmp_path / "gradcheck.json").read_text())
    assert not {"partial", "interrupted_by", "not_run"} & set(data)
    assert not load_report(tmp_path / "gradcheck.json").partial


def test_text_and_markdown_open_with_the_partial_mark_and_count_what_did_not_run():
    console = Console(file=io.StringIO(), width=200, color_system=None)
    render_text(partial_sample(), console)
    text = console.file.getvalue()
    first = ("Partial report: the run was stopped by SIGTERM (the process was asked to stop) after 2 checks; "
             "not run: exp, programs. Run the same command again for a full report.")
    assert text.splitlines()[0] == first
    assert "2 not run (partial)" in text.splitlines()[-1]
    assert markdown_text(partial_sample()).startswith(f"> **{first}**")
    assert "Partial report" not in markdown_text(sample_report())


# --- --ops naming an op the engine lacks ---------------------------------------------


@pytest.mark.parametrize("where", [["--in-process"], []], ids=["in-process", "worker"])
def test_ops_naming_an_op_the_engine_lacks_exits_2_before_any_check(where, tmp_path, capsys):
    pytest.importorskip("gradcheck.engine")
    status = main(["check", TINY, "--ops", "add,mean,sum", "--report-dir", str(tmp_path), *where])
    err = capsys.readouterr().err
    assert status == 2
    assert "\n" not in err.strip() and "Traceback" not in err
    # Worded as assert_gradients words an unsupported op, then what the engine has.
    assert "mean is unsupported: the engine defines no 'mean'" in err
    assert "sum is unsupported: the engine defines no 'sum'" in err
    assert "it defines add, negative, exp" in err
    assert "docs/contract.md, section 2" in err
    assert not list(tmp_path.iterdir())  # no check ran, no report


def test_a_grade_check_counts_a_missing_op_instead_of_refusing_it(tmp_path, monkeypatch):
    # `grade` runs `gradcheck check --isolate --ops <its ops> ... --report-fd FD` per submission, the same
    # ops for every one: a submission without mean has mean unsupported (no points), not an error.
    pytest.importorskip("gradcheck.engine")
    from gradcheck.grade import GradeOptions

    arguments = GradeOptions(ops=("add", "mean"), programs=0, max_examples=2, memory_mb=None,
                             sandbox=False).check_arguments()
    monkeypatch.setattr(sys, "stdin", io.StringIO("nonce\n"))
    sent = tmp_path / "sent"
    status = main(["check", TINY, *arguments, "--report-fd", str(os.open(sent, os.O_WRONLY | os.O_CREAT))])
    assert status == 0
    framed = sent.read_text()
    assert framed.startswith("gradcheck-report nonce ")
    data = json.loads(framed.partition("\n")[2])
    assert [(r["check"], r["status"]) for r in data["results"]] == [("add", "passed"), ("mean", "unsupported")]
