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
    answers = os.fdopen(os.dup(1), "wb")
    requests = sys.stdin.buffer
    _redirect_output(args.capture)

    from gradcheck._transport import (
        FrameReader,
        case_from_message,
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

    reader = FrameReader(requests.fileno())
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
        write_message(answers, *outcome_message(outcome))


if __name__ == "__main__":
    # Run as a script: make ``import gradcheck`` find this file's package.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(main())
