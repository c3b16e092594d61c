"""The engine worker: loads an untrusted engine in its own process and runs cases on request.

Started by ``gradcheck.isolation.IsolatedEngine`` as
``PYTHON gradcheck/_worker.py --target TARGET [--memory-mb N]``, possibly
under the student's own interpreter: it needs only the standard library,
NumPy and the engine's own dependencies (the parent puts gradcheck's folder
on ``PYTHONPATH``; the modules used here import nothing else).

Requests come on stdin, answers go out on a private copy of the original
stdout; file descriptors 1 and 2 are pointed at a capture file, so nothing the
engine prints, in Python or in C, can corrupt the protocol.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from typing import BinaryIO

#: Longest an answer waits to go out with the next ones (see the request loop).
HOLD_SECONDS = 0.05
#: The answers held at once: a batch's worth (gradcheck writes at most 60 KB of
#: requests at a time, and the answers are about as large).
ANSWER_BUFFER = 1 << 17


def _limit_memory(megabytes: int | None) -> None:
    if not megabytes:
        return
    import resource

    limit = megabytes * 1024 * 1024
    # RLIMIT_DATA covers the heap and anonymous mappings (NumPy's big arrays)
    # but not shared libraries, so importing NumPy or TensorFlow still fits.
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def _redirect_output(capture_path: str) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    capture = os.open(capture_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(capture, 1)
    os.dup2(capture, 2)
    os.close(capture)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gradcheck-worker")
    parser.add_argument("--target", required=True)
    parser.add_argument("--capture", required=True)
    parser.add_argument("--memory-mb", type=int, default=None)
    args = parser.parse_args(argv)

    # The protocol's own channel, taken before fd 1 is redirected.
    answers = os.fdopen(os.dup(1), "wb", buffering=ANSWER_BUFFER)
    requests = sys.stdin.buffer
    _redirect_output(args.capture)

    from gradcheck._transport import (
        FrameReader,
        case_from_message,
        encode_message,
        outcome_message,
        write_message,
    )
    from gradcheck.engine import load_engine
    from gradcheck.errors import GradcheckError
    from gradcheck.execution import run_engine
    from gradcheck.support import supported_params_data

    _limit_memory(args.memory_mb)
    try:
        engine = load_engine(args.target, quiet_tensorflow=False)
    except GradcheckError as error:
        write_message(answers, {"type": "error", "message": str(error)})
        return 2
    except MemoryError:
        write_message(answers, {"type": "error", "message": (
            f"Cannot load engine target {args.target!r}: importing it needs more memory than "
            f"--memory-mb={args.memory_mb} allows. Raise the limit."
        )})
        return 2
    write_message(answers, {
        "type": "ready",
        "target": engine.target,
        "name": engine.name,
        "dtype": engine.dtype.name,
        "grad_takes_cotangent": engine.grad_takes_cotangent,
        "takes_create_graph": engine.takes_create_graph,
        "has_jvp": engine.has_jvp,
        "ops": list(engine.ops),
        "aliases": engine.aliases,
        "supported_params": supported_params_data(engine.supported_params),
        "unsupported_reasons": engine.unsupported_reasons,
        "notes": list(engine.notes),
    })

    reader = FrameReader(requests.fileno(), trusted=True)
    held = _HeldAnswers(answers)
    while True:
        try:
            header, arrays = reader.read()
        except EOFError:
            return 0
        if header.get("type") == "stop":
            return 0
        case = case_from_message(header, arrays)
        # The parent enforces the time limit by stopping this process.
        outcome = run_engine(engine, case, timeout=None, repeat=bool(header.get("repeat", True)))
        held.write(encode_message(*outcome_message(outcome)), more=reader.has_more())


class _HeldAnswers:
    """The answer stream, holding the answers to a batch of cases to send them in one write.

    One write per answer wakes gradcheck once per case, and the two processes
    then take turns on every case (a fifth of a warm submission's processor
    time). An answer is held only while the next request is being read,
    and never longer than ``HOLD_SECONDS``: a thread sends what is held when
    the case after it runs long (or hangs), so every answer reaches gradcheck
    within its own case's time limit, and the timeout is told on the case that
    hangs. The one exception: an engine stuck in C code that holds the GIL
    (NumPy's loops let go of it; a regular expression that backtracks forever
    does not) keeps that thread from running, and then the answers held before
    it (``HOLD_SECONDS``' worth at most) are lost with the worker, and the
    timeout is told on the first of those cases.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.lock = threading.Lock()
        self.since: float | None = None  # when the oldest held answer was written
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None
        self.threadless = False

    def write(self, data: bytes, more: bool) -> None:
        """Send ``data``, or hold it when ``more`` requests wait (for at most ``HOLD_SECONDS``)."""
        with self.lock:
            self.stream.write(data)
            now = time.monotonic()
            if more and (self.since is None or now - self.since < HOLD_SECONDS) and self._started():
                if self.since is None:
                    self.since = now
                    self.wake.set()
                return
            self.since = None
            self.stream.flush()

    def _started(self) -> bool:
        """Return whether the thread that sends late answers runs (started now if need be)."""
        if self.thread is None:
            self.thread = threading.Thread(target=self._send_late, name="gradcheck-answers", daemon=True)
            try:
                self.thread.start()
            except RuntimeError:  # no thread to be had (the engine's limits): every answer goes out at once
                self.threadless = True
        return not self.threadless

    def _send_late(self) -> None:
        while True:
            self.wake.wait()
            self.wake.clear()
            while True:
                with self.lock:
                    if self.since is None:
                        break
                    late = self.since + HOLD_SECONDS - time.monotonic()
                    if late <= 0:
                        self.since = None
                        self.stream.flush()
                        break
                time.sleep(late)


if __name__ == "__main__":
    # Run as a script: make ``import gradcheck`` find this file's package.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(main())
