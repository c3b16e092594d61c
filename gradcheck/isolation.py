"""Run an untrusted engine in a worker process; compare and report in this one.

``IsolatedEngine`` stands where ``gradcheck.engine.Engine`` does (the runner
only asks it for ``dtype``, ``supports`` and ``run``), but never imports the
engine here. Each case is sent to a worker (``gradcheck/_worker.py``) as JSON
and ``.npy`` arrays; the worker answers with the engine's outcome. A call that
takes longer than the time limit is a ``timeout`` and the worker is stopped; a
worker that dies (``os._exit``, a segfault, the memory limit) is a ``crash``
with the case it was running. Either way the next call starts a fresh worker,
so one broken case never loses the rest of the run.

The worker runs student code, which can write anything on the answer pipe.
Every answer is validated before use (``gradcheck._transport``: sizes against
what the case allows, text, JSON depth, keys, types, the failure category,
each array's dtype and shape); a malformed one is a protocol violation: the
worker is stopped first, then the case is a ``crash`` saying what was wrong.
No read or write waits without a deadline, and what the worker printed is
read back from its end, a bounded number of bytes, without control characters.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from gradcheck._text import printable
from gradcheck._transport import (
    FRAME_STALL_SECONDS,
    FrameLimits,
    FrameReader,
    ProtocolError,
    ReadTimeout,
    answer_limits,
    case_message,
    encode_message,
    outcome_from_message,
)
from gradcheck.errors import TargetError
from gradcheck.loading import names_file, split_target
from gradcheck.ops import ALIASES, OP_NAMES
from gradcheck.sandbox import CAPTURE, Limits, Sandbox, available, exit_status, interpreter_prefixes
from gradcheck.settings import DTYPES
from gradcheck.support import SupportedParams, parse_supported_params

if TYPE_CHECKING:
    from gradcheck.case import Computation
    from gradcheck.execution import EngineOutcome

__all__ = ["IsolatedEngine"]

_WORKER = Path(__file__).with_name("_worker.py")
#: How long a worker may take to load the engine (TensorFlow alone takes seconds).
STARTUP_TIMEOUT = 120.0
#: Requests up to this size are written at once without waiting for answers:
#: a pipe holds 64 KiB, so the write cannot block on a worker that is itself
#: blocked writing answers nobody reads yet.
_PIPE_BYTES = 60_000
#: How much of what a dead worker printed is shown.
_OUTPUT_TAIL = 2000
#: How much of the capture file is read back: the shown tail in UTF-8 (up to
#: 4 bytes a character), never the whole file (an engine can print gigabytes).
_CAPTURE_READ_BYTES = 4 * _OUTPUT_TAIL
#: How long a worker that closed its answer pipe has to exit before it is
#: stopped: an honest one that closed it was exiting already.
_EXIT_GRACE_SECONDS = 2.0
#: The "ready" message carries no arrays.
_NO_ARRAYS = FrameLimits(arrays=0, total_bytes=0, elements=0)


@dataclass
class IsolatedEngine:
    """An engine that lives in a worker process. Use as a context manager, or call ``close``."""

    target: str
    python: str = sys.executable
    memory_mb: int | None = None
    #: Confine the worker (``gradcheck.sandbox``); turn off only for engines you trust.
    sandbox: bool = True
    # Filled in from the worker's "ready" message.
    name: str = ""
    dtype: np.dtype = field(default_factory=lambda: np.dtype("float64"))
    grad_takes_cotangent: bool = True
    # Whether the engine's grad takes create_graph=True (order 2), and it has jvp (forward mode).
    takes_create_graph: bool = False
    has_jvp: bool = False
    ops: dict[str, None] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    supported_params: SupportedParams = field(default_factory=dict)
    unsupported_reasons: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    _process: subprocess.Popen | None = field(default=None, repr=False)
    _reader: FrameReader | None = field(default=None, repr=False)
    _capture: str = field(default="", repr=False)
    _sandbox: Sandbox | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        ready = self._start()
        self.target = ready["target"]
        self.name = ready["name"]
        self.dtype = np.dtype(ready["dtype"])
        self.grad_takes_cotangent = ready["grad_takes_cotangent"]
        self.takes_create_graph = ready["takes_create_graph"]
        self.has_jvp = ready["has_jvp"]
        self.ops = dict.fromkeys(ready["ops"])
        self.aliases = ready["aliases"]
        self.supported_params = ready["supported_params"]
        self.unsupported_reasons = ready["unsupported_reasons"]
        self.notes = tuple(ready["notes"])

    # --- the Engine surface the runner uses ------------------------------------

    def supports(self, op: str) -> bool:
        """Return whether the engine defines ``op`` (a canonical name or an alias)."""
        return ALIASES.get(op, op) in self.ops

    def run(self, case: Computation, timeout: float | None, repeat: bool = True) -> EngineOutcome:
        """Return the ``EngineOutcome`` of ``case``, run in the worker (twice with ``repeat``)."""
        return self._exchange([encode_message(*case_message(case, repeat))], [answer_limits(case)], timeout)[0]

    def run_many(self, cases: Sequence[Computation], timeout: float | None) -> list[EngineOutcome]:
        """Return the outcomes of ``cases`` (the first run twice), sent to the worker in one write.

        One round trip per case costs more than a small engine's work; the
        cases go out together and their outcomes come back one by one, each
        within ``timeout``. The list stops early at a case that timed out or
        crashed (the worker is gone), and is empty when the cases are too
        large to send without waiting for answers (then ``run`` them one by one).
        """
        messages = [encode_message(*case_message(case, index == 0)) for index, case in enumerate(cases)]
        if sum(len(message) for message in messages) > _PIPE_BYTES:
            return []
        return self._exchange(messages, [answer_limits(case) for case in cases], timeout)

    def run_batch(
        self, cases: Sequence[Computation], repeats: Sequence[bool], timeout: float | None
    ) -> list[EngineOutcome]:
        """Return the outcomes of ``cases`` (each run twice where ``repeats`` says), in few round trips.

        For a kept plan's examples (``gradcheck._plans``): the cases go out in
        writes of at most ``_PIPE_BYTES`` each (one case larger than that
        alone), each write's answers read before the next, each answer within
        ``timeout``, exactly as ``run_many`` reads one example's. The worker
        runs them in the order given. The list stops early at a case that
        timed out or crashed: the worker is gone, and no later case is run.
        """
        messages = [encode_message(*case_message(case, repeat)) for case, repeat in zip(cases, repeats, strict=True)]
        limits = [answer_limits(case) for case in cases]
        outcomes: list[EngineOutcome] = []
        start = 0
        while start < len(messages):
            end, size = start + 1, len(messages[start])
            while end < len(messages) and size + len(messages[end]) <= _PIPE_BYTES:
                size += len(messages[end])
                end += 1
            outcomes.extend(self._exchange(messages[start:end], limits[start:end], timeout))
            if self._process is None:  # stopped after a timeout, a crash or a malformed answer
                break
            start = end
        return outcomes

    def _exchange(self, messages: list[bytes], limits: list[FrameLimits], timeout: float | None) -> list[Any]:
        """Send ``messages`` (run requests) in one write; return an outcome per answer, up to a lost worker.

        Each answer is read within ``timeout`` and validated against its
        case's ``limits``; nothing the worker sends escapes as an exception.
        """
        from gradcheck.execution import EngineOutcome

        if self._process is None or self._process.poll() is not None:
            self._start()
        process, reader = self._process, self._reader
        assert process is not None and process.stdin is not None and reader is not None  # started above
        outcomes: list[Any] = []
        try:
            _send(process.stdin.fileno(), b"".join(messages), timeout)
            for case_limits in limits:
                header, arrays = reader.read(timeout, case_limits)
                outcomes.append(outcome_from_message(header, arrays))
        except ReadTimeout:
            output = self._stop()
            waited = FRAME_STALL_SECONDS if timeout is None else timeout
            outcomes.append(EngineOutcome(
                failure=("timeout", f"the engine did not answer within {waited:g} s (its worker was stopped)",
                         _tail(output) or None),
            ))
        except ProtocolError as exc:
            # The worker is alive and may never exit: stop it before anything else.
            output = self._stop()
            if len(messages) - len(outcomes) > 1:
                return self._one_by_one(messages, limits, outcomes, timeout)
            outcomes.append(EngineOutcome(failure=(
                "crash", f"the engine worker sent a malformed answer: {exc} (it was stopped)", _tail(output) or None,
            )))
        except (EOFError, BrokenPipeError) as exc:
            try:
                code: int | None = self._exit_status(process.wait(_EXIT_GRACE_SECONDS))
            except subprocess.TimeoutExpired:
                code = None  # closed its pipe but lives on
            output = self._stop()
            if len(messages) - len(outcomes) > 1:
                return self._one_by_one(messages, limits, outcomes, timeout)
            outcomes.append(EngineOutcome(failure=("crash", _death(code, exc, self.memory_mb), _tail(output) or None)))
        return outcomes

    def _one_by_one(
        self, messages: list[bytes], limits: list[FrameLimits], outcomes: list[Any], timeout: float | None
    ) -> list[Any]:
        """Run the cases not yet answered again, each alone (on a new worker), up to the one that fails.

        The worker holds the answers to a batch's cases to send them together
        (``gradcheck._worker``): those it held when it died, or when the
        engine wrote over its answers, are lost, and the case to blame may
        come after them. (Should no case fail when run alone, the engine
        failed only once, and its answers are these.)
        """
        answered = False
        for message, case_limits in zip(messages[len(outcomes):], limits[len(outcomes):]):
            alone = self._exchange([message], [case_limits], timeout)
            if self._process is None and answered and alone[0].failure and alone[0].failure[0] == "crash":
                # The worker that answered the case before may have died after
                # answering it, before this one ran: once more, on a new worker.
                alone = self._exchange([message], [case_limits], timeout)
            outcomes.extend(alone)
            if self._process is None:
                break
            answered = True
        return outcomes

    def close(self) -> None:
        """Stop the worker."""
        self._stop()

    def __enter__(self) -> "IsolatedEngine":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # --- the worker --------------------------------------------------------------

    def _start(self) -> dict[str, Any]:
        self._stop()
        handle, self._capture = tempfile.mkstemp(prefix="gradcheck-worker-", suffix=".out")
        os.close(handle)
        package_root = _WORKER.parent.parent
        # Sandboxed, the worker sees the capture file at a path of its own, never a host path.
        capture = CAPTURE if self.sandbox else self._capture
        command = [self.python, str(_WORKER), "--target", self.target, "--capture", capture]
        if self.memory_mb:
            command += ["--memory-mb", str(self.memory_mb)]
        env: dict[str, str] | None = None  # the sandbox sets its own, clean environment
        if self.sandbox:
            command = self._sandboxed(command, package_root)
        else:
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(package_root), env.get("PYTHONPATH")]))
        try:
            self._process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                env=env, start_new_session=True,
            )
        except OSError as exc:
            raise TargetError(
                f"Cannot start an engine worker with --python {self.python!r}: {exc}. "
                "Give the path of a Python interpreter that has NumPy installed."
            ) from None
        if self._sandbox is not None:
            self._sandbox.watch(self._process.pid)
        assert self._process.stdout is not None  # started with stdout=PIPE
        self._reader = FrameReader(self._process.stdout.fileno())
        try:
            header, _ = self._reader.read(STARTUP_TIMEOUT, _NO_ARRAYS)
            if header.get("type") == "ready":
                _check_ready(header)
        except (ReadTimeout, EOFError, ProtocolError) as exc:
            code = self._exit_status(self._process.poll())
            output = self._stop()
            raise TargetError(
                f"Cannot load engine target {self.target!r} in a worker process "
                f"({_death(code, exc, self.memory_mb)}). What it printed: {_tail(output) or 'nothing'}"
            ) from None
        except BaseException:
            # Interrupted (Ctrl-C, a grader's time limit) while the engine loads:
            # never leave the worker running behind us.
            self._stop()
            raise
        if header.get("type") == "error" and isinstance(header.get("message"), str):
            self._stop()
            raise TargetError(printable(header["message"]))
        if header.get("type") != "ready":
            self._stop()
            raise TargetError(
                f"The engine worker for {self.target!r} answered with {printable(repr(header.get('type')))[:60]}."
            )
        return header

    def _exit_status(self, code: int | None) -> int | None:
        """Return the worker's exit status as ``Popen`` gives it (``-N`` for signal ``N``), sandboxed or not."""
        return exit_status(code) if self.sandbox and code is not None else code

    def _sandboxed(self, command: list[str], package_root: Path) -> list[str]:
        """Return ``command`` run in a new sandbox that sees gradcheck, the interpreter and the submission."""
        reason = available()
        if reason is not None:
            raise TargetError(f"Cannot run engine target {self.target!r} in a sandbox: {reason}")
        submission, import_root = _submission(self.target)
        self._sandbox = Sandbox(
            [_WORKER.parent, *submission, *interpreter_prefixes(self.python)],
            capture=Path(self._capture), python_path=[package_root, *import_root],
            limits=Limits(memory_mb=self.memory_mb),
        )
        return self._sandbox.command(command)

    def _stop(self) -> str:
        """Stop the worker (if any); return what it printed."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)  # the engine may have started children
                except (ProcessLookupError, PermissionError):
                    process.kill()
            process.wait()
            for stream in (process.stdin, process.stdout):
                try:
                    if stream is not None:
                        stream.close()
                except OSError:
                    pass
        sandbox, self._sandbox = self._sandbox, None
        if sandbox is not None:
            sandbox.close()  # kills anything of the worker's still running
        output = ""
        if self._capture:
            output = _read_capture_tail(self._capture)
            try:
                os.unlink(self._capture)
            except OSError:
                pass
            self._capture = ""
        return output


def _send(fd: int, data: bytes, timeout: float | None) -> None:
    """Write ``data`` to the worker within ``timeout`` (``FRAME_STALL_SECONDS`` without one).

    A worker that stopped reading its requests (stuck in an engine call after
    forging an answer) must not block gradcheck on a full pipe; that is a
    ``ReadTimeout`` like any other silence.
    """
    import select
    import time

    deadline = time.monotonic() + (FRAME_STALL_SECONDS if timeout is None else timeout)
    os.set_blocking(fd, False)
    view = memoryview(data)
    while view:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([], [fd], [], remaining)[1]:
            raise ReadTimeout
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            continue


def _read_capture_tail(path: str) -> str:
    """Return the end of what the worker printed: a bounded number of bytes, control characters removed.

    The worker knows the path and may have put a FIFO or a symbolic link
    there: only a regular file is read, without following links or blocking.
    """
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return ""
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return ""
        start = max(0, info.st_size - _CAPTURE_READ_BYTES)
        data = os.pread(fd, _CAPTURE_READ_BYTES, start)
    except OSError:
        return ""
    finally:
        os.close(fd)
    return printable(data.decode("utf-8", errors="replace"))


# The longest explanation a worker may send for an unsupported op or as a note.
_EXPLANATION_CHARS = 4000


def _check_ready(header: dict[str, Any]) -> None:
    """Raise ProtocolError unless a "ready" message has exactly the fields and types the worker sends."""
    expected = {
        "type", "target", "name", "dtype", "grad_takes_cotangent", "ops", "aliases", "supported_params", "array_bytes",
    }
    # Only an engine built from a class (gradcheck.classes) explains itself; only
    # an engine with higher derivatives says so.
    header.setdefault("unsupported_reasons", {})
    header.setdefault("notes", [])
    header.setdefault("takes_create_graph", False)
    header.setdefault("has_jvp", False)
    valid = (
        set(header) - {"unsupported_reasons", "notes", "takes_create_graph", "has_jvp"} == expected
        and type(header["takes_create_graph"]) is bool and type(header["has_jvp"]) is bool
        and all(isinstance(header[key], str) for key in ("target", "name", "dtype"))
        and header["dtype"] in DTYPES
        and type(header["grad_takes_cotangent"]) is bool
        and isinstance(header["ops"], list) and all(isinstance(op, str) for op in header["ops"])
        and isinstance(header["aliases"], dict) and all(isinstance(v, str) for v in header["aliases"].values())
        # A class engine's explanations (gradcheck.classes): text for the report, bounded.
        and isinstance(header["unsupported_reasons"], dict)
        and all(op in OP_NAMES and op not in header["ops"] and isinstance(reason, str) and len(reason) <= _EXPLANATION_CHARS
                for op, reason in header["unsupported_reasons"].items())
        and isinstance(header["notes"], list) and len(header["notes"]) <= 1
        and all(isinstance(note, str) and len(note) <= _EXPLANATION_CHARS for note in header["notes"])
    )
    if not valid:
        raise ProtocolError("its ready message does not have the fields and types a worker sends")
    try:
        # Validated again here, as the worker's engine loading did: the worker may lie,
        # and what it declares decides which cases are drawn.
        header["supported_params"] = parse_supported_params(header["supported_params"], dict.fromkeys(header["ops"]))
    except ValueError as exc:
        raise ProtocolError(f"its ready message declares supported_params gradcheck cannot use: {exc}") from None
    header["target"], header["name"] = printable(header["target"]), printable(header["name"])
    header["unsupported_reasons"] = {op: printable(reason) for op, reason in header["unsupported_reasons"].items()}
    header["notes"] = [printable(note) for note in header["notes"]]


def _submission(target: str) -> tuple[list[Path], list[Path]]:
    """Return the folders a worker may read for ``target``, and those to put on its import path.

    A file target's folder; a module target's top-level package (or module
    file), found without importing it. Nothing when it cannot be found: the
    worker then says what is wrong with the target.
    """
    source, _ = split_target(target)
    if names_file(source):
        return [Path(source).absolute().parent], []
    # Where the worker will look: the PYTHONPATH it inherits (how ``grade`` hands a
    # package submission's folder to its isolated ``python -I`` check), then ours.
    search = [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry] + sys.path
    try:
        spec = importlib.machinery.PathFinder.find_spec(source.split(".")[0], search)
    except (ImportError, ValueError):
        return [], []
    if spec is None:
        return [], []
    locations = [Path(p) for p in spec.submodule_search_locations or []]
    if not locations and spec.origin and os.path.isfile(spec.origin):
        locations = [Path(spec.origin)]
    return locations, list(dict.fromkeys(location.parent for location in locations))


def _tail(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _OUTPUT_TAIL else "... " + text[-_OUTPUT_TAIL:]


def _death(code: int | None, exc: BaseException, memory_mb: int | None) -> str:
    """Say how a worker died, in words."""
    if isinstance(exc, ProtocolError):
        return f"the worker sent a malformed message ({exc}) and was stopped"
    if code is None:
        return "the worker stopped answering"
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        hint = ""
        if -code == signal.SIGKILL and memory_mb:
            hint = f" (possibly over --memory-mb={memory_mb})"
        return f"the engine's process was killed by {name}{hint}"
    return f"the engine's process exited with status {code}"
