"""The sandbox around engine workers: each attack a student engine can make is blocked, its honest ops still check.

The hostile engine is written into ``tmp_path`` next to another student's
folder. Each op attacks once per worker and stays correct when the attack is
blocked; when the attack succeeds it answers off by one, so its check fails.
Without the sandbox the same attacks succeed (the control below), so a pass
here means the sandbox stopped them.
"""

from __future__ import annotations

import json
import os
import socket
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from gradcheck import cli, sandbox
from gradcheck.errors import TargetError
from gradcheck.isolation import IsolatedEngine
from gradcheck.runner import run_checks

needs_sandbox = pytest.mark.skipif(sandbox.available() is not None, reason=str(sandbox.available()))

SECRET_VARIABLE = "GRADCHECK_TEST_SECRET"
SECRET = "hunter2-grader-only"
DAEMON_SECONDS = "3600.424242"  # a sleep nobody else runs: the daemon's mark in the host's process table
MEMORY_MB = 512

# op -> the attack it makes
ATTACKS = {
    "exp": "read another student's file",
    "log": "read the grader's /proc/PID/environ",
    "sin": "read a secret from the grader's environment",
    "cos": "write into another student's folder and its own",
    "tanh": "connect to a server on 127.0.0.1",
    "sigmoid": "fork 300 processes",
    "relu": "leave a setsid daemon running",
    "abs": "write a 1 GiB file",
    "sqrt": "allocate twice the memory limit",
    "negative": "see the grader's command line",
    "log1p": "open gradcheck's own verdict.py for writing",
    "matrix_transpose": "hold the memory limit twice over in three children",
}
HONEST = ["add", "multiply", "matmul"]

ENGINE = '''
import os, signal, socket, time
import numpy as np
from gradcheck.examples.numpy_engine import make_engine

_base = make_engine()
variable, value, grad = _base.variable, _base.value, _base.grad
dtype, name = "float64", "attacker"
add, multiply, matmul = _base.add, _base.multiply, _base.matmul
_outcomes = {{}}


def _read(path):
    with open(path, "rb") as file:
        return file.read()


def read_other():
    return {secret_text!r}.encode() in _read({other_secret!r})


def read_environ():
    return b"PATH=" in _read("/proc/{grader_pid}/environ")


def read_env_secret():
    return os.environ.get({variable!r}) == {secret!r}


def write_folders():
    written = 0
    for folder in ({other!r}, os.path.dirname(__file__)):
        try:
            with open(os.path.join(folder, "pwned.txt"), "w") as file:
                file.write("pwned")
            written += 1
        except OSError:
            pass
    return written > 0


def connect():
    with socket.create_connection(("127.0.0.1", {port}), timeout=2):
        return True


def fork_many():
    children = []
    try:
        for _ in range(300):
            pid = os.fork()
            if pid == 0:
                time.sleep(60)
                os._exit(0)
            children.append(pid)
    except OSError:
        pass
    finally:
        for pid in children:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    return len(children) >= 300


def daemon():
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv("/bin/sleep", ["sleep", {daemon_seconds!r}])
        os._exit(0)
    os.waitpid(pid, 0)
    return False  # whether it outlives the worker is for the grader to see


def write_gigabyte():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
    chunk, written = b"x" * (16 << 20), 0
    try:
        with open("/tmp/big", "wb") as file:
            while written < 1 << 30:
                written += file.write(chunk)
    except OSError:
        pass
    finally:
        if os.path.exists("/tmp/big"):
            os.unlink("/tmp/big")
    return written >= 1 << 30


def allocate():
    hoard = np.ones({memory_bytes} // 4)  # float64: twice the limit
    hoard[::4096] = 2.0
    return True


def open_gradcheck():
    import gradcheck.verdict
    # Opened for appending, nothing written: outside the sandbox this must not harm the checkout.
    os.close(os.open(gradcheck.verdict.__file__, os.O_WRONLY | os.O_APPEND))
    return True


def children_hoard():
    # Each child holds 0.6 of the limit: under it alone (RLIMIT_DATA is per
    # process), twice over together. Each says so once its memory is touched.
    readable, writable = os.pipe()
    children = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            os.close(readable)
            hoard = np.ones(({memory_bytes} // 2) * 6 // 10 // 8)
            hoard[::512] = 2.0
            os.write(writable, b"1")
            time.sleep(5)
            os._exit(0)
        children.append(pid)
    os.close(writable)
    held, deadline = b"", time.monotonic() + 20
    with os.fdopen(readable, "rb") as answers:
        while len(held) < 3 and time.monotonic() < deadline:
            part = answers.read(1)
            if not part:
                break  # every child is gone
            held += part
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
        os.waitpid(pid, 0)
    return len(held) >= 3


def see_argv():
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if _read(f"/proc/{{entry}}/cmdline") == {grader_cmdline!r}:
                    return True
            except OSError:
                pass
    return False


def _attacked(name, x, attack):
    if name not in _outcomes:
        try:
            _outcomes[name] = bool(attack())
        except (OSError, MemoryError):
            _outcomes[name] = False
        print(name, "succeeded" if _outcomes[name] else "blocked")
    result = getattr(_base, name)(x)
    return add(result, variable(np.array(1.0))) if _outcomes[name] else result


exp = lambda x: _attacked("exp", x, read_other)
log = lambda x: _attacked("log", x, read_environ)
sin = lambda x: _attacked("sin", x, read_env_secret)
cos = lambda x: _attacked("cos", x, write_folders)
tanh = lambda x: _attacked("tanh", x, connect)
sigmoid = lambda x: _attacked("sigmoid", x, fork_many)
relu = lambda x: _attacked("relu", x, daemon)
abs = lambda x: _attacked("abs", x, write_gigabyte)
sqrt = lambda x: _attacked("sqrt", x, allocate)
negative = lambda x: _attacked("negative", x, see_argv)
log1p = lambda x: _attacked("log1p", x, open_gradcheck)
matrix_transpose = lambda x: _attacked("matrix_transpose", x, children_hoard)
'''


def _processes_running(argument: str) -> list[int]:
    """Return the host pids whose command line has ``argument``."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and argument.encode() in Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0"):
                found.append(int(entry))
        except OSError:
            pass
    return found


@pytest.fixture(scope="module")
def attack(tmp_path_factory):
    """Write the submissions, run the attacker in its worker; return what each side saw."""
    root = tmp_path_factory.mktemp("submissions")
    other, student = root / "other_student", root / "student"
    other.mkdir()
    student.mkdir()
    (other / "engine.py").write_text("SECRET_ANSWERS = 'theirs'\n")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    (student / "engine.py").write_text(textwrap.dedent(ENGINE).format(
        secret_text="theirs", other_secret=str(other / "engine.py"), other=str(other), secret=SECRET,
        grader_pid=os.getpid(), variable=SECRET_VARIABLE, port=listener.getsockname()[1],
        daemon_seconds=DAEMON_SECONDS, memory_bytes=2 * MEMORY_MB << 20,
        grader_cmdline=Path("/proc/self/cmdline").read_bytes(),
    ))
    os.environ[SECRET_VARIABLE] = SECRET
    try:
        yield SimpleNamespace(root=root, other=other, student=student, listener=listener,
                              target=str(student / "engine.py"))
    finally:
        del os.environ[SECRET_VARIABLE]
        listener.close()


def _run(target: str, ops: list[str], use_sandbox: bool) -> dict:
    with IsolatedEngine(target, memory_mb=MEMORY_MB, sandbox=use_sandbox) as engine:
        report = run_checks(engine, ops=ops, max_examples=2, timeout=30, programs=0, seed=1)
    return {result.check: result for result in report.results}


@pytest.fixture(scope="module")
def sandboxed(attack):
    with IsolatedEngine(attack.target, memory_mb=MEMORY_MB) as engine:
        report = run_checks(engine, ops=[*ATTACKS, *HONEST], max_examples=2, timeout=30, programs=0, seed=1)
        daemons_running = _processes_running(DAEMON_SECONDS)
    deadline = time.monotonic() + 5
    while _processes_running(DAEMON_SECONDS) and time.monotonic() < deadline:
        time.sleep(0.05)
    return SimpleNamespace(
        results={result.check: result for result in report.results},
        daemons_running=daemons_running, daemons_left=_processes_running(DAEMON_SECONDS),
    )


@needs_sandbox
@pytest.mark.parametrize("op", list(ATTACKS), ids=[f"{op}: {words}" for op, words in ATTACKS.items()])
def test_each_attack_is_blocked(sandboxed, op):
    result = sandboxed.results[op]
    assert result.status == "passed", result.failure and result.failure.message


@needs_sandbox
@pytest.mark.parametrize("op", HONEST)
def test_honest_ops_of_the_attacker_still_pass(sandboxed, op):
    assert sandboxed.results[op].status == "passed"


@needs_sandbox
def test_nothing_was_written_and_no_one_connected(attack, sandboxed):
    assert not (attack.other / "pwned.txt").exists()
    assert not (attack.student / "pwned.txt").exists()
    with pytest.raises(BlockingIOError):
        attack.listener.accept()


@needs_sandbox
def test_a_setsid_daemon_dies_with_the_worker(sandboxed):
    assert sandboxed.daemons_running, "the daemon never started: the test proves nothing"
    assert sandboxed.daemons_left == []


@needs_sandbox
def test_without_the_sandbox_the_attacks_succeed(attack):
    """The control: the same engine, unsandboxed, reads, writes and connects (so blocking above is the sandbox's)."""
    ops = ["exp", "log", "sin", "cos", "tanh", "negative", "log1p", "matrix_transpose"]
    try:
        results = _run(attack.target, ops, use_sandbox=False)
    finally:
        for folder in (attack.other, attack.student):
            (folder / "pwned.txt").unlink(missing_ok=True)
        try:
            attack.listener.accept()[0].close()
        except BlockingIOError:
            pass
    assert {op: results[op].status for op in ops} == dict.fromkeys(ops, "failed")


@needs_sandbox
def test_an_honest_engine_checks_the_same_in_and_out_of_the_sandbox():
    target, ops = "tests/engines/cos_derivative_sign.py", ["cos", "sin", "exp", "matmul", "sum"]

    def statuses(use_sandbox: bool) -> list[tuple]:
        with IsolatedEngine(target, sandbox=use_sandbox) as engine:
            report = run_checks(engine, ops=ops, max_examples=10, programs=5, seed=3)
        return [(r.check, r.status, r.failure and r.failure.category) for r in report.results]

    inside = statuses(True)
    assert inside == statuses(False)
    assert ("cos", "failed", "mismatch") in inside


@needs_sandbox
def test_the_worker_sees_only_its_own_capture_file(attack):
    # The capture path on the worker's command line is the sandbox's, not the host's.
    with IsolatedEngine(attack.target) as engine:
        assert engine._process is not None
        cmdline = Path(f"/proc/{engine._process.pid}/cmdline").read_bytes().split(b"\0")
    assert cmdline[cmdline.index(b"--capture") + 1] == sandbox.CAPTURE.encode()


def test_no_bubblewrap_is_one_paragraph_naming_the_fix(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on it
    sandbox.available.cache_clear()
    try:
        assert "bubblewrap" in (sandbox.available() or "")
        with pytest.raises(TargetError, match="install bubblewrap|Install bubblewrap") as raised:
            IsolatedEngine("tests/hostile/engine.py")
        assert "--no-sandbox" in str(raised.value) and "\n" not in str(raised.value)
        assert cli.main(["check", "tests/hostile/engine.py", "--isolate", "--ops", "tanh"]) != 0
        assert "--no-sandbox" in capsys.readouterr().err
    finally:
        sandbox.available.cache_clear()


def test_grade_without_bubblewrap_refuses_before_any_submission_runs(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on it
    sandbox.available.cache_clear()
    try:
        status = cli.main(["grade", "tests/hostile/engine.py", "--report-dir", str(tmp_path / "grades")])
        error = capsys.readouterr().err
        assert status == 2 and "Cannot grade in a sandbox" in error and "--no-sandbox" in error
        assert not (tmp_path / "grades" / "gradebook.json").exists()
    finally:
        sandbox.available.cache_clear()


def test_grade_passes_no_sandbox_to_each_check():
    from gradcheck.grade import GradeOptions

    assert "--no-sandbox" not in GradeOptions().check_arguments()
    assert "--no-sandbox" in GradeOptions(sandbox=False).check_arguments()
    assert GradeOptions(sandbox=False).to_dict()["sandbox"] is False


@needs_sandbox
def test_a_module_target_sees_its_package_only(tmp_path, monkeypatch):
    package = tmp_path / "student_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (tmp_path / "grades.csv").write_text("someone,100\n")
    (package / "engine.py").write_text(textwrap.dedent('''
        import os
        from gradcheck.examples.numpy_engine import make_engine
        engine = make_engine(name="sees " + ",".join(sorted(os.listdir(os.path.dirname(os.path.dirname(__file__))))))
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    with IsolatedEngine("student_pkg.engine:engine") as engine:
        assert engine.name == "sees student_pkg"  # not grades.csv beside it


@pytest.mark.parametrize("layout", ["venv", "plain"])
def test_interpreter_prefixes_come_from_pyvenv_cfg(tmp_path, layout):
    base = tmp_path / "base"
    (base / "bin").mkdir(parents=True)
    (base / "bin" / "python3").touch()
    python = base / "bin" / "python3"
    if layout == "venv":
        venv = tmp_path / "venv"
        (venv / "bin").mkdir(parents=True)
        (venv / "bin" / "python").symlink_to(python)
        (venv / "pyvenv.cfg").write_text(f"home = {base / 'bin'}\ninclude-system-site-packages = false\n")
        assert sandbox.interpreter_prefixes(str(venv / "bin" / "python")) == [venv, base]
    else:
        assert sandbox.interpreter_prefixes(str(python)) == [base]


@pytest.mark.parametrize("code, status", [(0, 0), (7, 7), (139, -11), (137, -9), (-9, -9)])
def test_bwrap_exit_statuses_read_as_popen_does(code, status):
    assert sandbox.exit_status(code) == status


NON_ROOT_OPS = ["exp", "cos", "sigmoid", "sqrt", "matrix_transpose", "add"]
_AS_GRADER = """
import json, sys
from gradcheck.isolation import IsolatedEngine
from gradcheck.runner import run_checks

with IsolatedEngine(sys.argv[1], memory_mb=int(sys.argv[2])) as engine:
    report = run_checks(engine, ops=sys.argv[3].split(","), max_examples=2, timeout=30, programs=0, seed=1)
print(json.dumps({result.check: [result.status, result.failure and result.failure.message,
                                  result.failure and result.failure.detail] for result in report.results}))
"""


def _reachable_by_others(path: Path) -> bool:
    """Whether a user who is neither owner nor in the group can reach ``path`` (o+x on every folder above)."""
    return all(folder.stat().st_mode & 0o001 for folder in Path(path).resolve().parents)


@needs_sandbox
@pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/bin/setpriv").exists(),
                    reason="needs root, to become another user with setpriv")
@pytest.mark.skipif(not all(_reachable_by_others(prefix / "bin") for prefix in sandbox.interpreter_prefixes(
    __import__("sys").executable)), reason="this Python lives where another user cannot reach it")
def test_a_non_root_grader_gets_the_same_sandbox(tmp_path_factory):
    """As uid 65534: no cgroups can be made, so RLIMIT_NPROC bounds forks and RLIMIT_DATA each process."""
    import subprocess
    import sys
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="gradcheck-nonroot-"))  # not under pytest's 0700 folder
    try:
        other, student = root / "other_student", root / "student"
        other.mkdir()
        student.mkdir()
        (other / "engine.py").write_text("SECRET_ANSWERS = 'theirs'\n")
        (student / "engine.py").write_text(textwrap.dedent(ENGINE).format(
            secret_text="theirs", other_secret=str(other / "engine.py"), other=str(other), secret=SECRET,
            grader_pid=1, variable=SECRET_VARIABLE, port=9, daemon_seconds=DAEMON_SECONDS,
            memory_bytes=2 * MEMORY_MB << 20, grader_cmdline=b"",
        ))
        for path in (root, other, student):
            path.chmod(0o777)  # the other student's folder writable: only the sandbox stops the write
        done = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", _AS_GRADER,
             str(student / "engine.py"), str(MEMORY_MB), ",".join(NON_ROOT_OPS)],
            cwd=root, capture_output=True, text=True, timeout=300,
            env={**os.environ, "HOME": str(root), "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        )
        assert done.returncode == 0, done.stderr[-3000:]
        statuses = json.loads(done.stdout.strip().splitlines()[-1])
        written = (other / "pwned.txt").exists()
    finally:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    assert not written
    assert {op: status for op, (status, *_) in statuses.items()} == dict.fromkeys(NON_ROOT_OPS, "passed"), statuses


_HOARDERS = """
import os, sys, time
for _ in range(3):
    if os.fork() == 0:
        hoard = bytearray(int(sys.argv[1]) << 20)  # zero-filled: every page touched
        os.write(1, b"held\\n")
        time.sleep(60)
        os._exit(0)
time.sleep(60)
"""


@pytest.mark.parametrize("each_mb, limit_mb, killed", [(40, 100, True), (10, 100, False)])
def test_the_memory_watch_bounds_a_tree_where_no_cgroup_can(each_mb, limit_mb, killed):
    """Grading as non-root: three children of 40 MiB under a 100 MiB limit lose their largest; 3 x 10 MiB live."""
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", _HOARDERS, str(each_mb)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        for _ in range(3):
            assert process.stdout.readline() == "held\n"
        tree = sandbox._process_tree(process.pid)
        assert len(tree) == 4 and tree[0] == process.pid
        watch = sandbox.TreeMemoryWatch(process.pid, limit_mb, interval=0.05)
        try:
            deadline = time.monotonic() + (10 if killed else 1)
            while _dead(tree) < killed and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.3)  # one more look would kill a second child if the first were not enough
        finally:
            watch.stop()
        assert watch.killed is killed
        assert _dead(tree) == killed  # the largest child alone, then the tree is under the limit
        assert process.poll() is None
    finally:
        process.kill()
        process.wait()


def _dead(pids: list[int]) -> int:
    """How many of ``pids`` are gone or zombies (killed, not yet waited for)."""
    dead = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/stat").read_bytes()
            dead += text[text.rindex(b")") + 2:].split()[0] == b"Z"
        except OSError:
            dead += 1
    return dead
