"""Confine an engine worker: what it can read, write, reach and spawn.

``IsolatedEngine`` starts every worker inside a bubblewrap (``bwrap``)
sandbox unless told not to (``--no-sandbox``, for trusted code):

* namespaces: user, pid, network, IPC, UTS, mount and cgroup
  (``--unshare-all``); uid and gid 65534 inside; a session of its own;
  the whole process tree dies with the worker (``--die-with-parent``, and the
  pid namespace ends when its first process does);
* a file system of read-only binds only: the system directories
  (``/usr`` and the ``/lib``, ``/bin`` links), the dynamic loader's files
  from ``/etc``, the interpreter's environment (the venv and the Python it
  was made from), gradcheck's package folder and the submission's folder;
  a private size-limited ``/tmp``, a fresh ``/proc`` and a minimal ``/dev``.
  The capture file (what the engine prints) is the only host file it can
  write, bound at ``/tmp/gradcheck-capture.out``;
* a clean environment: ``PATH``, ``PYTHONPATH``, ``HOME=/tmp`` and one
  thread per numerical library;
* limits (``Limits``): processes, CPU time, file size, open files, the size
  of ``/tmp``. Processes are bounded by a pids cgroup when the grader may
  make one (root), else by ``RLIMIT_NPROC``, which the kernel does not
  apply to root's processes even under another uid in a user namespace.
  The memory limit (``--memory-mb``) is the worker's own ``RLIMIT_DATA``
  and, for the whole process tree, a memory cgroup (root) or else a
  ``TreeMemoryWatch`` that sums the tree's resident memory a few times a
  second and kills the tree past the limit.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

__all__ = ["CAPTURE", "Limits", "Sandbox", "available", "exit_status", "interpreter_prefixes", "sandbox_command"]

#: Where the worker's capture file appears inside the sandbox.
CAPTURE = "/tmp/gradcheck-capture.out"
#: The unprivileged user and group the engine runs as (``nobody``).
UID = GID = 65534

_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# The dynamic loader's cache and configuration: nothing else of /etc is needed to start Python and NumPy.
_ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d")
# One thread per numerical library: fewer processes to count, and no machine-sized thread pools.
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
_PIDS_CGROUPS = (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup"))
# Memory cgroups and their limit file: cgroup v1's controller, then v2's unified tree.
_MEMORY_CGROUPS = (
    (Path("/sys/fs/cgroup/memory"), "memory.limit_in_bytes"),
    (Path("/sys/fs/cgroup"), "memory.max"),
)
_INSTALL_HINT = (
    "Install bubblewrap (Debian and Ubuntu: `apt-get install bubblewrap`; Fedora: `dnf install bubblewrap`), "
    "or pass --no-sandbox to run engines you trust without one."
)


@dataclass(frozen=True)
class Limits:
    """Per-worker limits; every process in the sandbox shares ``processes`` (threads count)."""

    processes: int = 128
    cpu_seconds: int = 3600  # a backstop: each call has its own time limit
    file_mb: int = 64  # no file written, the capture file included, grows past this
    open_files: int = 256
    tmp_mb: int = 64
    # Memory of the whole process tree (a memory cgroup, where one can be made):
    # RLIMIT_DATA bounds each process, and a submission may start several.
    memory_mb: int | None = None


@functools.lru_cache(maxsize=None)
def available() -> str | None:
    """Return why this machine cannot sandbox a worker, or ``None`` when it can.

    >>> available() is None or "bubblewrap" in available()
    True
    """
    bwrap, prlimit = shutil.which("bwrap"), shutil.which("prlimit")
    if bwrap is None:
        return f"the sandbox needs bubblewrap (`bwrap`), which is not on PATH. {_INSTALL_HINT}"
    if prlimit is None:
        return f"the sandbox needs `prlimit` (util-linux), which is not on PATH. {_INSTALL_HINT}"
    try:
        probe = subprocess.run(
            [bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"],
            capture_output=True, text=True, timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap could not be run ({exc}). {_INSTALL_HINT}"
    if probe.returncode != 0:
        return (
            f"bubblewrap cannot make namespaces here ({probe.stderr.strip() or f'status {probe.returncode}'}); "
            "unprivileged user namespaces may be disabled (sysctl kernel.unprivileged_userns_clone or "
            f"user.max_user_namespaces). {_INSTALL_HINT}"
        )
    return None


@functools.lru_cache(maxsize=None)
def _bwrap_version() -> tuple[int, ...]:
    output = subprocess.run(["bwrap", "--version"], capture_output=True, text=True).stdout
    found = re.search(r"(\d+)\.(\d+)", output)
    return (int(found[1]), int(found[2])) if found else (0, 0)


def exit_status(code: int) -> int:
    """Return a sandboxed command's exit status as ``Popen`` gives an unsandboxed one's.

    bubblewrap exits with ``128 + N`` when its command is killed by signal
    ``N``; ``Popen`` says ``-N``.
    """
    return -(code - 128) if 128 < code < 128 + signal.NSIG else code


def interpreter_prefixes(python: str) -> list[Path]:
    """Return the folders interpreter ``python`` needs: its environment and the Python it was made from.

    Read from the file system (``pyvenv.cfg``), never by running it.
    """
    invoked = Path(python).absolute()
    resolved = invoked.resolve()
    prefixes = [invoked.parent.parent, resolved.parent.parent]
    config = invoked.parent.parent / "pyvenv.cfg"
    try:
        home = re.search(r"^home\s*=\s*(.+)$", config.read_text(), re.MULTILINE)
    except OSError:
        home = None
    if home:
        base = Path(home[1].strip())
        prefixes += [base.parent, base.resolve().parent]
    return list(dict.fromkeys(prefixes))


def sandbox_command(
    argv: Sequence[str],
    *,
    readable: Sequence[Path],
    capture: Path,
    python_path: Sequence[Path] = (),
    limits: Limits = Limits(),
    pids_cgroup: Path | None = None,
    memory_cgroup: Path | None = None,
) -> list[str]:
    """Return the command that runs ``argv`` in a sandbox seeing only ``readable`` (read-only) and the system.

    ``capture`` (a host file) is bound at ``CAPTURE``, the one file the
    sandbox can write that outlives it. With ``pids_cgroup`` and
    ``memory_cgroup`` the command first moves itself into those cgroups (whose
    limits the caller set), so every process it starts is counted.
    """
    tmp_bytes = limits.tmp_mb * 1024 * 1024
    bwrap = [
        "bwrap", "--unshare-all", "--die-with-parent", "--new-session",
        "--uid", str(UID), "--gid", str(GID), "--hostname", "sandbox",
        "--clearenv",
        "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin",
        "--setenv", "HOME", "/tmp",
        "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
    ]
    if python_path:
        bwrap += ["--setenv", "PYTHONPATH", os.pathsep.join(map(str, python_path))]
    for variable in _THREAD_VARIABLES:
        bwrap += ["--setenv", variable, "1"]
    for directory in _SYSTEM_DIRS:
        if os.path.islink(directory):
            bwrap += ["--symlink", os.readlink(directory), directory]
        else:
            bwrap += ["--ro-bind-try", directory, directory]
    for file in _ETC_FILES:
        bwrap += ["--ro-bind-try", file, file]
    bwrap += ["--proc", "/proc", "--dev", "/dev"]
    # /tmp first: what is bound below it (a submission in a temporary folder) must stay visible.
    if _bwrap_version() >= (0, 8):  # --size arrived in 0.8; before it, RLIMIT_FSIZE bounds each file
        bwrap += ["--size", str(tmp_bytes)]
    bwrap += ["--tmpfs", "/tmp", "--bind", str(capture), CAPTURE]
    # The current folder exists (empty unless bound below), so relative paths resolve as outside.
    bwrap += ["--dir", os.getcwd()]
    for path in dict.fromkeys(Path(p).absolute() for p in readable):
        bwrap += ["--ro-bind-try", str(path), str(path)]  # a missing target is the worker's to explain
    bwrap += ["--chdir", os.getcwd()]  # relative targets and paths in messages read as outside
    limited = [
        "prlimit",
        f"--cpu={limits.cpu_seconds}",
        f"--fsize={limits.file_mb * 1024 * 1024}",
        f"--nofile={limits.open_files}",
        f"--nproc={limits.processes}",
        "--core=0",
        "--",
        *bwrap, "--", *argv,
    ]
    cgroups = [cgroup for cgroup in (pids_cgroup, memory_cgroup) if cgroup is not None]
    if not cgroups:
        return limited
    # The shell joins the cgroups before anything else starts, so no process escapes them.
    joins = " && ".join(f"echo $$ > {shlex.quote(str(cgroup / 'cgroup.procs'))}" for cgroup in cgroups)
    return ["/bin/sh", "-c", f'{joins} && exec "$@"', "sh", *limited]


class Sandbox:
    """One worker's sandbox: the command that starts it, and the pids cgroup that bounds its processes.

    Check ``available()`` first. ``close`` kills what is left and removes the cgroup.

    >>> with Sandbox([Path("engines")]) as sandbox:  # doctest: +SKIP
    ...     subprocess.run(sandbox.command(["python3", "-c", "print(1)"]))
    """

    def __init__(
        self, readable: Sequence[Path], *, capture: Path, python_path: Sequence[Path] = (),
        limits: Limits = Limits(),
    ) -> None:
        self.readable = list(readable)
        self.capture = capture
        self.python_path = list(python_path)
        self.limits = limits
        self.pids_cgroup = _make_pids_cgroup(limits.processes)
        self.memory_cgroup = None if limits.memory_mb is None else _make_memory_cgroup(limits.memory_mb)
        self.memory_watch: TreeMemoryWatch | None = None

    def watch(self, pid: int) -> None:
        """Bound the memory of ``pid``'s process tree by polling, when no memory cgroup does it."""
        if self.limits.memory_mb is not None and self.memory_cgroup is None and self.memory_watch is None:
            self.memory_watch = TreeMemoryWatch(pid, self.limits.memory_mb)

    def command(self, argv: Sequence[str]) -> list[str]:
        """Return the command that runs ``argv`` in this sandbox."""
        return sandbox_command(
            argv, readable=self.readable, capture=self.capture, python_path=self.python_path,
            limits=self.limits, pids_cgroup=self.pids_cgroup, memory_cgroup=self.memory_cgroup,
        )

    def close(self) -> None:
        """Kill whatever is left in the sandbox's cgroups and remove them."""
        if self.memory_watch is not None:
            self.memory_watch.stop()
            self.memory_watch = None
        cgroups = [self.pids_cgroup, self.memory_cgroup]
        self.pids_cgroup = self.memory_cgroup = None
        for cgroup in cgroups:
            if cgroup is not None:
                _remove_cgroup(cgroup)

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class TreeMemoryWatch:
    """Kill a process tree once its processes together hold more than ``limit_mb`` of resident memory.

    The stand-in for a memory cgroup where the grader cannot make one (not
    root): ``RLIMIT_DATA`` bounds each process alone, and a submission may
    start several. Every ``interval`` seconds the tree is read from ``/proc``
    (processes in the sandbox's pid namespace are the host's too); while the
    tree is over the limit its largest process is killed, as the cgroup's
    out-of-memory killer would. Between two looks a tree can pass the limit, by at most
    what its processes allocate in that time, each still under ``RLIMIT_DATA``.
    """

    def __init__(self, root: int, limit_mb: int, interval: float = 0.2) -> None:
        self.root, self.limit = root, limit_mb * 1024 * 1024
        self.interval = interval
        self.killed = False
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"gradcheck-memory-{root}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def _run(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stopped.wait(self.interval):
            tree = _process_tree(self.root)
            if not tree:
                return  # the worker is gone
            # Resident sizes first (cheap); they count pages forked children share
            # once per child, so past the limit the proportional sizes decide.
            if sum(_resident_pages(pid) for pid in tree) * page <= self.limit:
                continue
            held = {pid: _proportional_bytes(pid) for pid in tree}
            if sum(held.values()) > self.limit:
                self.killed = True
                try:
                    os.kill(max(held, key=held.__getitem__), signal.SIGKILL)
                except OSError:
                    pass


def _process_tree(root: int) -> list[int]:
    """Return ``root`` and every process descended from it, read from ``/proc`` (empty when ``root`` is gone)."""
    children: dict[int, list[int]] = {}
    alive = False
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                text = stat.read()
        except OSError:
            continue
        # The name in parentheses may hold spaces and parentheses: the parent follows the last ")".
        parent = int(text[text.rindex(b")") + 2:].split()[1])
        children.setdefault(parent, []).append(int(entry))
        alive = alive or int(entry) == root
    if not alive:
        return []
    tree, index = [root], 0
    while index < len(tree):
        tree.extend(children.get(tree[index], ()))
        index += 1
    return tree


def _resident_pages(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _proportional_bytes(pid: int) -> int:
    """Return ``pid``'s proportional set size (shared pages split among their sharers), in bytes."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as rollup:
            for line in rollup:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return _resident_pages(pid) * os.sysconf("SC_PAGE_SIZE")


def _make_pids_cgroup(processes: int) -> Path | None:
    """Return a new pids cgroup holding at most ``processes`` tasks, or ``None`` when none can be made."""
    return _make_cgroup([(root, "pids.max") for root in _PIDS_CGROUPS], str(processes))


def _make_memory_cgroup(memory_mb: int) -> Path | None:
    """Return a new memory cgroup holding its processes to ``memory_mb`` together, or ``None`` when none can be made."""
    return _make_cgroup(_MEMORY_CGROUPS, str(memory_mb * 1024 * 1024))


def _make_cgroup(places: Sequence[tuple[Path, str]], limit: str) -> Path | None:
    """Return a new cgroup under the first of ``places`` (root, limit file) that takes one, its limit set."""
    for root, limit_file in places:
        if not (root / "cgroup.procs").exists() or not os.access(root, os.W_OK):
            continue
        cgroup = root / f"gradcheck-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            cgroup.mkdir()
        except OSError:
            continue
        try:
            (cgroup / limit_file).write_text(limit)
            return cgroup
        except OSError:
            _remove_cgroup(cgroup)
    return None


def _remove_cgroup(cgroup: Path) -> None:
    for _ in range(50):
        try:
            pids = [int(pid) for pid in (cgroup / "cgroup.procs").read_text().split()]
        except OSError:
            pids = []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            cgroup.rmdir()
            return
        except OSError:
            if not pids:
                break
            time.sleep(0.01)
