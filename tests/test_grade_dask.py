"""``gradcheck grade --executor dask://HOST:PORT``: the same gradebook, checked on a Dask cluster.

One ``LocalCluster`` (worker processes, as a real cluster has) serves the
module; two submissions, a correct engine and a planted bug in a package
folder, are graded once through it and once on this machine, and every row
and report must agree. The grader's own waits (a lost worker, a stop) are
tested with a stand-in client, the refusals (bad URL, no Dask, no scheduler,
another gradcheck on the workers) without grading anything.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

import gradcheck
from gradcheck import executors
from gradcheck.cli import main
from gradcheck.errors import UsageError
from gradcheck.executors import DaskChecks, open_executor, pack_submission, scheduler_address, unpack_submission
from gradcheck.grade import GradeOptions, find_submissions
from tests.test_grade import NO_SANDBOX

distributed = pytest.importorskip("distributed", reason="Dask distributed is not installed (pip install 'gradcheck[dask]')")

REPO = Path(__file__).resolve().parent.parent
OPS = "negative,exp"
# The planted bug is a package (engine.py beside __init__.py), imported by name on the worker too.
SUBMISSIONS = {
    "correct.py": "from gradcheck.examples.numpy_engine import make_engine\n\nengine = make_engine()\n",
    "negbug/__init__.py": "",
    "negbug/engine.py": (REPO / "tests/engines/negative_sign.py").read_text(encoding="utf-8"),
}
GRADE = ["--ops", OPS, "--max-examples", "5", "--programs", "3", "--timeout", "5", "--format", "gradescope", *NO_SANDBOX]


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True,
                                  dashboard_address=":0", host="127.0.0.1") as local:
        yield local


def _grade(folder: Path, report_dir: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gradcheck", "grade", "subs/correct.py", "subs/negbug", *GRADE,
         "--report-dir", report_dir, *extra],
        cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


@pytest.fixture(scope="module")
def both(cluster, tmp_path_factory):
    """The same two submissions graded through the cluster and on this machine."""
    folder = tmp_path_factory.mktemp("dask-grade")
    for name, text in SUBMISSIONS.items():
        (folder / "subs" / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / "subs" / name).write_text(text, encoding="utf-8")
    address = cluster.scheduler_address.replace("tcp://", "dask://")
    # Side by side: the cluster's worker does the remote run's checks, this machine's children the local one's.
    runs = [_grade(folder, "remote", "--executor", address), _grade(folder, "local", "--workers", "2")]
    (_, remote_errors), (_, local_errors) = (run.communicate(timeout=300) for run in runs)
    assert runs[0].returncode == 0, remote_errors
    assert runs[1].returncode == 0, local_errors
    return folder, remote_errors


def _without_times(data):
    """Return ``data`` without what differs between two runs of the same checks: times and the report folder."""
    if isinstance(data, dict):
        return {key: _without_times(value) for key, value in data.items()
                if key not in ("seconds", "execution_time", "duration", "workers")}
    if isinstance(data, list):
        return [_without_times(item) for item in data]
    if isinstance(data, str):
        return re.sub(r"/(local|remote)/", "/DIR/", data)
    return data


def _read(folder: Path, path: str):
    return _without_times(json.loads((folder / path).read_text(encoding="utf-8")))


def test_the_cluster_grades_the_rows_a_local_grading_does(both):
    folder, remote_errors = both
    local_book, remote_book = _read(folder, "local/gradebook.json"), _read(folder, "remote/gradebook.json")
    assert remote_book == local_book
    rows = {row["name"]: row for row in remote_book["submissions"]}
    # Not two runs that agree by failing alike: the bug is found, the correct engine passes.
    assert rows["correct"]["status"] == rows["negbug"]["status"] == "graded"
    assert set(rows["correct"]["checks"].values()) == {"passed"}
    assert rows["negbug"]["checks"] == {"negative": "failed", "exp": "passed", "programs": "passed"}
    assert "2 at a time on the workers of dask://127.0.0.1:" in remote_errors  # the cluster's two threads


@pytest.mark.parametrize("report", ["correct/gradcheck.json", "negbug/gradcheck.json", "negbug/results.json"])
def test_each_submissions_reports_are_those_of_a_local_grading(both, report):
    folder, _ = both
    assert _read(folder, f"remote/{report}") == _read(folder, f"local/{report}")
    # The worker's own folders never show: its paths are named as the submission's here.
    assert "gradcheck-remote-" not in (folder / "remote" / report).read_text(encoding="utf-8")


def test_workers_with_another_gradcheck_are_refused(cluster, monkeypatch):
    theirs = re.escape(gradcheck.__version__)
    monkeypatch.setattr(gradcheck, "__version__", "0.0.0-grader")
    address = cluster.scheduler_address.replace("tcp://", "dask://")
    with pytest.raises(UsageError, match=rf"must run the grader's gradcheck 0\.0\.0-grader.* has {theirs}\.") as caught:
        with open_executor(address, GradeOptions(sandbox=False)):
            pass
    assert "\n" not in str(caught.value)


def test_workers_without_the_python_asked_for_are_refused(cluster):
    address = cluster.scheduler_address.replace("tcp://", "dask://")
    with pytest.raises(UsageError, match=r"1 of the 1 workers cannot check submissions as asked; tcp://.* says: "
                                         r"--python='/no/such/python' is not an interpreter on this worker"):
        with open_executor(address, GradeOptions(sandbox=False, python="/no/such/python")):
            pass


@pytest.mark.parametrize("url", ["dask://", "dask://host", "dask://host:0", "dask://host:99999",
                                 "tcp://host:8786", "dask://host:8786/path", "local"])
def test_a_bad_executor_url_exits_2_before_grading(url, tmp_path, capsys):
    (tmp_path / "engine.py").write_text("def grad(y, xs, g): ...\n")
    assert main(["grade", str(tmp_path / "engine.py"), "--executor", url, "--report-dir", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "is not an executor gradcheck knows; give dask://HOST:PORT" in error
    assert not (tmp_path / "out" / "gradebook.json").exists()


def test_scheduler_addresses():
    assert scheduler_address("dask://10.0.0.5:8786") == "tcp://10.0.0.5:8786"
    assert scheduler_address("dask://grader-1.example.edu:8786/") == "tcp://grader-1.example.edu:8786"
    assert scheduler_address("dask://[::1]:8786") == "tcp://[::1]:8786"


def test_without_dask_the_message_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed raises ImportError
    (tmp_path / "engine.py").write_text("def grad(y, xs, g): ...\n")
    assert main(["grade", str(tmp_path / "engine.py"), "--executor", "dask://127.0.0.1:8786", *NO_SANDBOX]) == 2
    assert "pip install 'gradcheck[dask]'" in capsys.readouterr().err


def test_an_unreachable_scheduler_exits_2_within_the_connect_timeout(tmp_path, monkeypatch, capsys):
    import socket

    with socket.socket() as unused:  # a port nothing listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    monkeypatch.setattr(executors, "CONNECT_TIMEOUT", 1.0)
    (tmp_path / "engine.py").write_text("def grad(y, xs, g): ...\n")
    assert main(["grade", str(tmp_path / "engine.py"), "--executor", f"dask://127.0.0.1:{port}", *NO_SANDBOX]) == 2
    error = capsys.readouterr().err
    assert f"no Dask scheduler answered at tcp://127.0.0.1:{port} within 1 seconds" in error
    assert f"dask worker tcp://127.0.0.1:{port}" in error


# --- the grader's side of a task, with a stand-in client -------------------------


class _Future:
    def __init__(self, done=False, error=None, result=None):
        self._done, self._error, self._result = done, error, result
        self.cancelled = False

    def done(self):
        return self._done

    def result(self):
        if self._error is not None:
            raise self._error
        return self._result

    def cancel(self):
        self.cancelled = True


class _Client:
    def __init__(self, future):
        self.future = future
        self.sent = None

    def submit(self, function, *arguments, **options):
        self.sent = arguments
        return self.future


@pytest.fixture
def engine_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "engine.py").write_text("def grad(y, xs, g): ...\n")
    return find_submissions([tmp_path / "sub"])[0]


def test_a_task_that_never_answers_is_an_error_row_at_the_deadline(engine_file, monkeypatch):
    monkeypatch.setattr(executors, "_MARGIN", 0.0)
    client = _Client(_Future())
    reason = DaskChecks(client, "dask://h:1", "tcp://h:1")(engine_file, GradeOptions(submission_timeout=0.3), threading.Event())
    assert isinstance(reason, str) and "no answer came from the Dask workers (dask://h:1) within --submission-timeout=0.3" in reason
    assert client.future.cancelled


def test_a_lost_worker_is_an_error_row():
    future = _Future(done=True, error=RuntimeError("KilledWorker: worker tcp://h:2 died"))
    submission = find_submissions([REPO / "tests/engines/negative_sign.py"])[0]
    reason = DaskChecks(_Client(future), "dask://h:1", "tcp://h:1")(submission, GradeOptions(), threading.Event())
    assert isinstance(reason, str) and "failed before sending a report (RuntimeError: KilledWorker" in reason


def test_a_stopped_grading_stops_waiting(engine_file):
    stopping = threading.Event()
    stopping.set()
    client = _Client(_Future())
    assert DaskChecks(client, "dask://h:1", "tcp://h:1")(engine_file, GradeOptions(), stopping) is None
    assert client.future.cancelled


def test_a_reason_from_the_worker_names_the_graders_folder(engine_file):
    remote = "/tmp/gradcheck-remote-x"
    future = _Future(done=True, result=("reason", f"{remote}/sub/engine.py, line 1: boom", remote))
    reason = DaskChecks(_Client(future), "dask://h:1", "tcp://h:1")(engine_file, GradeOptions(), threading.Event())
    assert reason == f"{engine_file.path}/engine.py, line 1: boom"


# --- what is sent -----------------------------------------------------------------


def test_a_submission_travels_without_caches_or_symlinks(tmp_path):
    sub = tmp_path / "alice"
    (sub / "pkg" / "__pycache__").mkdir(parents=True)
    (sub / "engine.py").write_text("engine = 1\n")
    (sub / "pkg" / "rules.py").write_text("rule = 2\n")
    (sub / "pkg" / "__pycache__" / "rules.cpython-311.pyc").write_bytes(b"\0" * 10)
    (sub / "secrets").symlink_to("/etc/hostname")
    out = tmp_path / "out"
    out.mkdir()
    unpacked = unpack_submission(pack_submission(sub), out, "alice")
    assert unpacked == out / "alice"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == ["alice/engine.py", "alice/pkg/rules.py"]
    assert (unpacked / "pkg" / "rules.py").read_text() == "rule = 2\n"


def test_a_submission_over_the_size_limit_is_refused_saying_so(tmp_path):
    (tmp_path / "big.py").write_bytes(b"#" * 2048)
    with pytest.raises(ValueError, match=r"more than 1024 bytes, the most gradcheck sends to a Dask worker \(big.py is 2048 bytes\)"):
        pack_submission(tmp_path / "big.py", limit=1024)


def test_an_entry_outside_the_submission_is_not_unpacked(tmp_path):
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("alice/../../escaped.py", "x = 1\n")
    with pytest.raises(ValueError, match="outside its folder"):
        unpack_submission(buffer.getvalue(), tmp_path, "alice")
    assert not (tmp_path.parent / "escaped.py").exists()
