"""Hostile engines that attack the worker protocol: each one's exp writes on the worker's answer pipe.

Student code runs inside the worker, so it can reach the pipe gradcheck reads
(here: the worker's own ``answers`` stream, found on the stack) and write
anything there. Each engine below writes one malformed answer, then goes
silent (or dies, for the print flood): gradcheck must refuse the answer, stop
the worker without waiting for it, and go on. Every other op is honest.
"""

import io
import json
import os
import struct
import sys
import time

import numpy as np

from gradcheck.examples.numpy_engine import make_engine


def _answers():
    frame = sys._getframe()
    while frame is not None:
        if frame.f_code.co_name == "main" and "answers" in frame.f_locals:
            return frame.f_locals["answers"]
        frame = frame.f_back
    raise RuntimeError("not running in a gradcheck worker")


def _frame(header, blobs=()):
    head = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<I", len(head)) + head + b"".join(blobs)


def _outcome(**fields):
    """An honest-looking outcome header with ``fields`` forged."""
    return {"type": "outcome", "has_forward": False, "grads": None, "failure": None, "output": "",
            "array_bytes": [], **fields}


def _npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _with_arrays(*blobs):
    return _frame(_outcome(has_forward=True, grads=len(blobs) - 1, array_bytes=[len(b) for b in blobs]), blobs)


def _writes(data):
    """Return an op that writes ``data`` as the answer, then never answers."""
    def exp(x):
        stream = _answers()
        stream.write(data)
        stream.flush()
        time.sleep(600)  # alive and silent: gradcheck must stop it, not wait for it
    return exp


def _forged_zero_gradients(x):
    # A well-formed answer, the right forward value and zero gradients, then
    # death before the worker's own answer: the trusted side judges the numbers.
    stream = _answers()
    forward = np.exp(x.data)
    stream.write(_with_arrays(_npy(forward), _npy(np.zeros_like(forward))))
    stream.flush()
    os._exit(0)


def _print_flood(x):
    # C-level writes go to the capture file, past the in-process capture: 100 MB
    # of terminal escapes and carriage returns, then death.
    chunk = b"\x1b[2J\x1b[31mflood\r" * (1 << 16)
    for _ in range((100 << 20) // len(chunk)):
        os.write(1, chunk)
    os.write(1, b"\x07last words\x1b]0;owned\x07\n")
    os._exit(3)


_ATTACKS = {
    "unknown_category": _writes(_frame(_outcome(failure=["pwned", "forged", None]))),
    "deep_json": _writes(_frame(b"[" * 100_000 + b"]" * 100_000)),
    "lone_surrogate": _writes(_frame(_outcome(output="\ud800"))),
    "oversized_header": _writes(struct.pack("<I", 1 << 31) + b"{"),
    "too_many_arrays": _writes(_frame(_outcome(has_forward=True, grads=999, array_bytes=[128] * 1000))),
    # Six 256 MiB arrays announced; none is ever sent.
    "huge_arrays": _writes(_frame(_outcome(has_forward=True, grads=5, array_bytes=[(256 << 20) + 128] * 6))),
    "zero_size_giant": _writes(_with_arrays(_npy(np.zeros((2**24, 0, 2))))),
    "object_dtype": _writes(_with_arrays(_npy(np.array([None, "x"], dtype=object)))),
    "not_npy": _writes(_with_arrays(b"not an .npy file at all")),
    "truncated": _writes(_frame(_outcome())[:20]),
    "garbage": _writes(b"\x10\x00\x00\x00\x00\xffgarbage\x01\x02junk!!"),
    "wrong_type": _writes(_frame({"type": "ready", "array_bytes": []})),
    "print_flood": _print_flood,
    "forged_zero_gradients": _forged_zero_gradients,
}

for _name, _exp in _ATTACKS.items():
    globals()[_name] = make_engine(name=_name, overrides={"exp": _exp})
