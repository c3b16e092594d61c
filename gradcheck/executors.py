"""Grade past one machine: ``gradcheck grade --executor dask://HOST:PORT``.

``open_executor`` connects to a Dask distributed scheduler and returns a
``DaskChecks``: the ``check`` that ``gradcheck.grade.grade`` calls for each
submission instead of starting a child check on this machine. Everything
else of a grading run stays here: finding the engines, the weights, the
roster, validating each report and writing every file (``grade`` does it
exactly as for a local check), so the gradebook is the one a local run
writes.

What travels, and why: the grader reads the submission's files (regular
files only, symlinks, ``.git`` and ``__pycache__`` left out, at most
``MAX_SUBMISSION_BYTES``) into a zip held in memory and sends its bytes with
the task, so the workers need no shared file system. On the worker,
``_remote_check`` unpacks them into a fresh folder, finds the engine as
``find_submissions`` does here and calls ``gradcheck.grade.check_submission``,
the very check a local grading runs (child process, sandbox, ``--timeout``,
``--submission-timeout``); it sends back the report as JSON text, or the
reason there is none. The worker's folder is then named as the submission's
folder here, so that reports show the paths a local grading shows.

Bounds: the worker stops a check at ``--submission-timeout`` itself, and the
grader gives up on a task ``_MARGIN`` seconds later (a lost worker, a
scheduler gone, a task stuck in a queue): that submission is an ``error``
row, never a hang. The grader runs at most as many tasks at once as the
cluster has worker threads, so a task starts as soon as it is sent.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import re
import shutil
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import gradcheck
from gradcheck.errors import UsageError

if TYPE_CHECKING:
    from gradcheck.grade import GradeOptions, Submission
    from gradcheck.results import Report

__all__ = [
    "CONNECT_TIMEOUT",
    "MAX_SUBMISSION_BYTES",
    "DaskChecks",
    "open_executor",
    "pack_submission",
    "scheduler_address",
    "unpack_submission",
]

#: The largest submission (the sum of its files' sizes) sent to a worker.
MAX_SUBMISSION_BYTES = 32 * 1024 * 1024
#: Seconds to wait for the scheduler to answer, and for it to have a worker.
CONNECT_TIMEOUT = 10.0
# How long after --submission-timeout the grader gives up on a task whose
# worker did not answer: the transfer, the worker's own stop of the check.
_MARGIN = 60.0
# How often a waiting grader thread looks for the result and for a stop.
_POLL = 0.25
# Never sent: caches and version control, not the submission.
_SKIPPED = frozenset({"__pycache__", ".git", ".hg", ".svn", ".ipynb_checkpoints"})
_ADDRESS = re.compile(r"dask://(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(?P<port>[0-9]{1,5})/?")
_INSTALL = "pip install 'gradcheck[dask]'"


def scheduler_address(url: str) -> str:
    """Return the Dask scheduler address (``tcp://HOST:PORT``) of ``--executor=dask://HOST:PORT``.

    Raises ``UsageError`` for anything else.

    .. code-block:: pycon

        >>> scheduler_address("dask://10.0.0.5:8786")
        'tcp://10.0.0.5:8786'
    """
    match = _ADDRESS.fullmatch(url.strip())
    if match is None or not 0 < int(match["port"]) < 65536:
        raise UsageError(
            f"--executor={url!r} is not an executor gradcheck knows; give dask://HOST:PORT, the address of "
            "a Dask scheduler (e.g. dask://10.0.0.5:8786, started with `dask scheduler`), or leave "
            "--executor out to grade on this machine."
        )
    return f"tcp://{match['host']}:{int(match['port'])}"


@contextlib.contextmanager
def open_executor(url: str, options: GradeOptions, connect_timeout: float | None = None) -> Iterator[DaskChecks]:
    """Connect to the scheduler of ``url`` (``dask://HOST:PORT``); yield the check that runs on its workers.

    Refuses, with ``UsageError``, before anything is graded: a bad URL, Dask
    not installed, a scheduler that does not answer within
    ``connect_timeout`` seconds (default ``CONNECT_TIMEOUT``) or has no worker, workers without this
    version of gradcheck, workers without ``options.python``, and (unless
    ``options.sandbox`` is off) workers that cannot make the sandbox. The connection is closed on leaving.
    """
    address = scheduler_address(url)
    connect_timeout = CONNECT_TIMEOUT if connect_timeout is None else connect_timeout
    try:
        import distributed
    except ImportError as error:
        raise UsageError(
            f"--executor={url} needs Dask distributed, which is not installed here ({error}); "
            f"install it with {_INSTALL} (on the grading machine and on every worker), or leave "
            "--executor out to grade on this machine."
        ) from None
    try:
        client = distributed.Client(address, timeout=connect_timeout, set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise UsageError(
            f"--executor={url}: no Dask scheduler answered at {address} within {connect_timeout:g} seconds "
            f"({type(error).__name__}: {error}). Start one there with `dask scheduler --port "
            f"{address.rpartition(':')[2]}` and workers with `dask worker {address}`, or check the "
            "host, the port and the firewall."
        ) from None
    try:
        checks = DaskChecks(client, url, address)
        checks.verify_workers(options, connect_timeout)
        yield checks
    finally:
        with contextlib.suppress(Exception):
            client.close(timeout=connect_timeout)


class DaskChecks:
    """The check of one submission on a Dask worker, called by ``grade`` from its grading threads."""

    def __init__(self, client: Any, url: str, address: str) -> None:
        self._client = client
        self._url, self._address = url, address
        self.slots = 1

    def verify_workers(self, options: GradeOptions, timeout: float) -> None:
        """Refuse (``UsageError``) a cluster that has no worker, or workers that cannot check as this grader would."""
        try:
            self._client.wait_for_workers(1, timeout=timeout)
        except (OSError, TimeoutError):
            raise UsageError(
                f"--executor={self._url}: the scheduler answered but has no worker after {timeout:g} seconds; "
                f"start workers (on machines with gradcheck {gradcheck.__version__} installed) with "
                f"`dask worker {self._address}`."
            ) from None
        try:
            found = self._client.run(_worker_facts, options.sandbox, options.python)
        except Exception as error:  # noqa: BLE001 - whatever a worker raised, said as one paragraph
            raise UsageError(
                f"--executor={self._url}: the Dask workers cannot run gradcheck's check ({type(error).__name__}: "
                f"{error}); install gradcheck {gradcheck.__version__} with its dask extra ({_INSTALL}) on "
                "every worker, then restart them."
            ) from None
        wrong = {worker: version for worker, (version, _) in found.items() if version != gradcheck.__version__}
        if wrong:
            listed = ", ".join(f"{worker} has {version}" for worker, version in sorted(wrong.items()))
            raise UsageError(
                f"--executor={self._url}: the workers must run the grader's gradcheck {gradcheck.__version__} "
                f"(the same checks and report format), but {listed}. Install gradcheck "
                f"{gradcheck.__version__} on them and restart them."
            )
        unable = {worker: reason for worker, (_, reason) in found.items() if reason is not None}
        if unable:
            worker, reason = sorted(unable.items())[0]
            raise UsageError(
                f"--executor={self._url}: {len(unable)} of the {len(found)} workers cannot check submissions "
                f"as asked; {worker} says: {reason}"
            )
        self.slots = max(1, sum(self._client.nthreads().values()))

    def __call__(self, submission: Submission, options: GradeOptions, stopping: threading.Event) -> Report | str | None:
        """Check ``submission`` on a worker; return its validated report, why there is none, or None once ``stopping`` is set."""
        from gradcheck.grade import validated_report

        if submission.target is None:
            return submission.problem or "no engine found"  # as the local check says it, nothing to send
        try:
            payload = pack_submission(submission.path)
        except ValueError as error:
            return str(error)
        except OSError as error:
            return f"the submission's files could not be read to send them to a Dask worker: {error}"
        future = self._client.submit(
            _remote_check, payload, submission.path.name, submission.name, options, gradcheck.__version__,
            pure=False, retries=0,
        )
        deadline = time.monotonic() + options.submission_timeout + _MARGIN
        try:
            while True:
                if stopping.is_set():
                    return None
                if future.done():
                    break
                if time.monotonic() >= deadline:
                    return (
                        f"no answer came from the Dask workers ({self._url}) within --submission-timeout="
                        f"{options.submission_timeout:g} seconds and {_MARGIN:g} more; the worker checking it was "
                        "probably lost, or the scheduler is gone. Grade it again."
                    )
                time.sleep(_POLL)
            try:
                kind, text, remote_root = future.result()
            except Exception as error:  # noqa: BLE001 - a lost worker, a dead scheduler: this row only
                return (
                    f"the Dask worker checking this submission failed before sending a report "
                    f"({type(error).__name__}: {error}); the worker was probably lost. Grade it again."
                )
        finally:
            if not future.done():
                future.cancel()
        # The worker's folder stands for the submission's folder here, as a local check shows it.
        text = _renamed(text, remote_root, str(submission.path.parent), json_text=kind == "report")
        return validated_report(text, options) if kind == "report" else text


def pack_submission(path: Path, limit: int = MAX_SUBMISSION_BYTES) -> bytes:
    """Return a zip, in memory, of the submission at ``path`` (a file or a folder), named by its last part.

    Only regular files are taken (no symlink, nothing under ``__pycache__``
    or ``.git``). Raises ``ValueError`` saying so when the files add up to
    more than ``limit`` bytes.
    """
    files: list[tuple[Path, str]] = []
    if path.is_file():
        files.append((path, path.name))
    else:
        for folder, dirs, names in os.walk(path):
            dirs[:] = sorted(d for d in dirs if d not in _SKIPPED and not os.path.islink(os.path.join(folder, d)))
            for name in sorted(names):
                file = Path(folder, name)
                if not file.is_symlink() and file.is_file():
                    files.append((file, (Path(path.name) / file.relative_to(path)).as_posix()))
    size = 0
    for file, _ in files:
        size += file.stat().st_size
        if size > limit:
            raise ValueError(
                f"this submission's files are more than {_size(limit)}, the most gradcheck sends "
                f"to a Dask worker ({file.name} is {file.stat().st_size} bytes); take data and build files out "
                "of the submission folder, or grade it on this machine without --executor."
            )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file, name in files:
            archive.write(file, name)
    return buffer.getvalue()


def _size(count: int) -> str:
    return f"{count / 2**20:g} MiB" if count >= 2**20 else f"{count} bytes"


def unpack_submission(payload: bytes, root: Path, name: str, limit: int = MAX_SUBMISSION_BYTES) -> Path:
    """Unpack ``pack_submission``'s zip into ``root``; return the path of the submission, ``root/name``.

    Raises ``ValueError`` for an entry outside ``root/name`` or more than ``limit`` bytes in all.
    """
    total = 0
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        for entry in archive.infolist():
            parts = Path(entry.filename).parts
            if not parts or parts[0] != name or any(part in ("", ".", "..") for part in parts) or os.path.isabs(entry.filename):
                raise ValueError(f"the submission sent has an entry {entry.filename!r} outside its folder {name!r}")
            total += entry.file_size
            if total > limit:
                raise ValueError(f"the submission sent unpacks to more than {limit} bytes")
            if entry.is_dir():
                continue
            target = root.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(entry) as source, open(target, "wb") as sink:
                shutil.copyfileobj(source, sink)
    return root / name


def _renamed(text: str, old: str, new: str, *, json_text: bool) -> str:
    """Return ``text`` with the folder ``old`` named ``new`` (inside JSON strings when ``json_text``)."""
    import json

    if not old:
        return text
    if json_text:
        old, new = json.dumps(old)[1:-1], json.dumps(new)[1:-1]
    return text.replace(old, new)


# --- On the worker ----------------------------------------------------------------


def _worker_facts(sandbox: bool, python: str | None) -> tuple[str, str | None]:
    """Return this worker's gradcheck version, and why it cannot check as asked (None when it can)."""
    import gradcheck as here
    from gradcheck.sandbox import available

    if python is not None and shutil.which(python) is None:
        return here.__version__, (f"--python={python!r} is not an interpreter on this worker; give the path "
                                  "of a Python with NumPy that every worker has.")
    return here.__version__, available() if sandbox else None


def _remote_check(
    payload: bytes, folder: str, name: str, options: GradeOptions, version: str,
) -> tuple[str, str, str]:
    """Check one submission on this worker; return ``("report", JSON text, root)`` or ``("reason", text, root)``.

    ``root`` is the worker's folder holding the submission, which the grader
    names as the submission's folder of its own machine.
    """
    from gradcheck.grade import check_submission, find_submissions
    from gradcheck.reports.json import write_json

    if gradcheck.__version__ != version:
        return ("reason", f"the Dask worker has gradcheck {gradcheck.__version__}, the grader {version}; "
                          "install the grader's version on every worker", "")
    root = Path(tempfile.mkdtemp(prefix="gradcheck-remote-"))
    try:
        try:
            path = unpack_submission(payload, root, folder)
        except (ValueError, OSError, zipfile.BadZipFile) as error:
            return ("reason", f"the Dask worker could not unpack the submission: {error}", str(root))
        submission = dataclasses.replace(find_submissions([path])[0], name=name)
        outcome = check_submission(submission, options)
        if isinstance(outcome, str):
            return ("reason", outcome, str(root))
        stream = io.StringIO()
        write_json(outcome, stream)
        return ("report", stream.getvalue(), str(root))
    finally:
        shutil.rmtree(root, ignore_errors=True)
