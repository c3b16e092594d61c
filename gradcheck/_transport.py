"""Messages between gradcheck and an engine worker process: JSON plus NumPy arrays, no pickle.

A message is a frame: a 4-byte little-endian length, a JSON header of that
length, then the arrays the header lists, each in NumPy's ``.npy`` format read
with ``allow_pickle=False``. Nothing a worker sends can run code in the
parent: JSON is data, ``.npy`` without pickle is data, and sizes are bounded
before anything is read.

This module imports only the standard library and NumPy: the worker runs it
under the student's own interpreter.
"""

from __future__ import annotations

import io
import json
import os
import select
import struct
import time
from typing import Any, BinaryIO, Sequence

import numpy as np

__all__ = [
    "MAX_ARRAY_BYTES",
    "MAX_HEADER_BYTES",
    "ProtocolError",
    "ReadTimeout",
    "FrameReader",
    "decode_params",
    "encode_message",
    "write_message",
]

#: Largest JSON header accepted: headers carry names, shapes and text only.
MAX_HEADER_BYTES = 1 << 20
#: Largest single array accepted: far beyond any case gradcheck draws.
MAX_ARRAY_BYTES = 1 << 28
_LENGTH = struct.Struct("<I")
# Only numbers cross the boundary.
_ARRAY_KINDS = "biuf"


class ProtocolError(Exception):
    """The other side sent something that is not a well-formed gradcheck message."""


class ReadTimeout(Exception):
    """No complete message arrived before the deadline."""


def _array_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    # np.ascontiguousarray would make a 0-d array 1-d.
    np.lib.format.write_array(buffer, np.require(array, requirements="C"), allow_pickle=False)
    return buffer.getvalue()


def encode_message(header: dict[str, Any], arrays: Sequence[np.ndarray] = ()) -> bytes:
    """Return the frame for ``header`` and ``arrays``."""
    blobs = [_array_bytes(np.asarray(array)) for array in arrays]
    head = json.dumps({**header, "array_bytes": [len(blob) for blob in blobs]}).encode("utf-8")
    return b"".join([_LENGTH.pack(len(head)), head, *blobs])


def write_message(stream: BinaryIO, header: dict[str, Any], arrays: Sequence[np.ndarray] = ()) -> None:
    """Write one message to ``stream`` and flush it."""
    stream.write(encode_message(header, arrays))
    stream.flush()


class FrameReader:
    """Reads messages from a file descriptor, each within an optional deadline."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = bytearray()

    def _fill(self, size: int, deadline: float | None) -> bytes:
        while len(self.buffer) < size:
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ReadTimeout
                ready, _, _ = select.select([self.fd], [], [], remaining)
                if not ready:
                    raise ReadTimeout
            chunk = os.read(self.fd, max(65536, size - len(self.buffer)))
            if not chunk:
                raise EOFError("the other side closed the connection")
            self.buffer.extend(chunk)
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def read(self, timeout: float | None = None) -> tuple[dict[str, Any], list[np.ndarray]]:
        """Return the next message's header and arrays; raise ReadTimeout, EOFError or ProtocolError."""
        deadline = None if timeout is None else time.monotonic() + timeout
        (length,) = _LENGTH.unpack(self._fill(_LENGTH.size, deadline))
        if length > MAX_HEADER_BYTES:
            raise ProtocolError(f"a message header of {length} bytes is over the limit of {MAX_HEADER_BYTES}")
        try:
            header = json.loads(self._fill(length, deadline).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ProtocolError(f"a message header is not JSON: {exc}") from None
        sizes = header.get("array_bytes") if isinstance(header, dict) else None
        if not isinstance(sizes, list) or not all(isinstance(s, int) and 0 <= s <= MAX_ARRAY_BYTES for s in sizes):
            raise ProtocolError("a message header does not list its arrays' sizes within the limits")
        arrays = []
        for size in sizes:
            try:
                array = np.lib.format.read_array(io.BytesIO(self._fill(size, deadline)), allow_pickle=False)
            except ValueError as exc:  # object arrays (pickles) are refused here
                raise ProtocolError(f"an array in a message is not plain numbers: {exc}") from None
            if array.dtype.kind not in _ARRAY_KINDS:
                raise ProtocolError(f"an array in a message has dtype {array.dtype}, not a number type")
            arrays.append(array)
        return header, arrays


def decode_params(value: Any) -> Any:
    """Return JSON-decoded static parameters with lists turned back into tuples (axes, shapes)."""
    if isinstance(value, list):
        return tuple(decode_params(item) for item in value)
    if isinstance(value, dict):
        return {key: decode_params(item) for key, item in value.items()}
    return value


# --- Cases and outcomes as messages -----------------------------------------


def case_message(case: Any, repeat: bool = True) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Return the header and arrays that carry ``case`` (a Case or ProgramCase) to a worker.

    ``repeat``: whether the worker runs the case twice (``run_engine``)."""
    header: dict[str, Any] = {
        "type": "run", "kind": case.kind, "names": list(case.names), "dtype": case.dtype, "repeat": repeat,
    }
    if case.kind == "program":
        header["steps"] = [
            {"out": step.out, "op": step.op, "args": list(step.args), "params": step.params}
            for step in case.steps
        ]
    else:
        header["op"] = case.op
        header["params"] = case.params
    return header, [*case.inputs, case.cotangent]


def case_from_message(header: dict[str, Any], arrays: list[np.ndarray]) -> Any:
    """Return the Case or ProgramCase a ``case_message`` carried."""
    from gradcheck.case import Case
    from gradcheck.program import ProgramCase, Step

    *inputs, cotangent = arrays
    names = tuple(header["names"])
    if header["kind"] == "program":
        steps = tuple(
            Step(step["out"], step["op"], tuple(step["args"]), decode_params(step["params"]))
            for step in header["steps"]
        )
        return ProgramCase(names, tuple(inputs), steps, cotangent, header["dtype"])
    return Case(header["op"], names, tuple(inputs), decode_params(header["params"]), cotangent, header["dtype"])


def outcome_message(outcome: Any) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Return the header and arrays that carry an EngineOutcome back to gradcheck."""
    arrays: list[np.ndarray] = []
    if outcome.forward is not None:
        arrays.append(outcome.forward)
    grads = list(outcome.grads) if outcome.grads is not None else None
    arrays.extend(grads or [])
    header = {
        "type": "outcome",
        "has_forward": outcome.forward is not None,
        "grads": None if grads is None else len(grads),
        "failure": list(outcome.failure) if outcome.failure else None,
        "output": outcome.output,
    }
    return header, arrays


def outcome_from_message(header: dict[str, Any], arrays: list[np.ndarray]) -> Any:
    """Return the EngineOutcome an ``outcome_message`` carried, checking its shape first."""
    from gradcheck.execution import EngineOutcome

    count = header.get("grads")
    failure = header.get("failure")
    expected = int(bool(header.get("has_forward"))) + (count or 0)
    valid_failure = failure is None or (
        isinstance(failure, list) and len(failure) == 3
        and all(item is None or isinstance(item, str) for item in failure)
    )
    if (count is not None and not isinstance(count, int)) or len(arrays) != expected or not valid_failure:
        raise ProtocolError("an outcome message does not match its own description")
    forward = arrays[0] if header.get("has_forward") else None
    grads = list(arrays[1 if forward is not None else 0:]) if count is not None else None
    output = header.get("output")
    return EngineOutcome(
        forward=forward,
        grads=grads,
        failure=tuple(failure) if failure else None,
        output=output if isinstance(output, str) else "",
    )
