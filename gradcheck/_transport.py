"""Messages between gradcheck and an engine worker process: JSON plus NumPy arrays, no pickle.

A message is a frame: a 4-byte little-endian length, a JSON header of that
length, then the arrays the header lists, each in NumPy's ``.npy`` format read
with ``allow_pickle=False``. Nothing a worker sends can run code in the
parent: JSON is data, ``.npy`` without pickle is data, and sizes are bounded
before anything is read.

The worker runs student code, which can write anything on the answer pipe, so
the parent validates every message before using it: the header's size, its
text (strict UTF-8, no lone surrogates), its JSON nesting; then, against the
``FrameLimits`` the case allows and before reading any array's bytes, the
number and total size of the arrays; then each array's ``.npy`` header (plain
numbers only, its number of axes and every axis, its exact length). Anything
else is a ``ProtocolError``.

This module imports only the standard library and NumPy: the worker runs it
under the student's own interpreter.
"""

from __future__ import annotations

import io
import json
import math
import os
import select
import struct
import time
from dataclasses import dataclass
from typing import Any, BinaryIO, Sequence

import numpy as np

from gradcheck._literals import from_json, to_json
from gradcheck._text import printable

__all__ = [
    "FRAME_STALL_SECONDS",
    "MAX_HEADER_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_NDIM",
    "REQUEST_LIMITS",
    "FrameLimits",
    "ProtocolError",
    "ReadTimeout",
    "FrameReader",
    "answer_limits",
    "decode_params",
    "encode_message",
    "parse_array",
    "parse_header",
    "write_message",
]

#: Largest JSON header accepted: headers carry names, shapes and text only (the
#: worker cuts an engine's captured output to 4000 characters), a few KiB.
MAX_HEADER_BYTES = 1 << 20
#: Deepest JSON nesting accepted. The deepest honest header, a program case's
#: steps and their parameters, nests 5 levels; Python's decoder would go on to
#: its recursion limit and leave a structure too deep for anyone to walk.
MAX_JSON_DEPTH = 16
#: Most axes an answer's array may have: drawn cases have at most 4 (matmul
#: stacks), and an engine that broadcasts wrongly adds one or two.
MAX_NDIM = 8
#: Once a frame has started, how long the rest may take: an honest worker
#: writes a whole frame in one call, so the rest follows in microseconds. This
#: bounds a read even when the call itself has no time limit.
FRAME_STALL_SECONDS = 30.0
#: Largest ``.npy`` header parsed: NumPy writes about 128 bytes; 10000 is
#: NumPy's own default limit for headers it does not trust.
_NPY_HEADER_BYTES = 10_000
# Largest item answers are budgeted for: float64 and int64, what an engine
# computing in float32 or float64 (or an integer bug) returns.
_ITEM_BYTES = 8
#: An honest answer has as many elements as the case's own arrays (the
#: forward value has the cotangent's shape, each gradient its input's). A
#: wrong shape is the engine's bug, a verdict, so an answer may grow:
#: ``_ANSWER_GROWTH`` times the case, and at least ``_ANSWER_MIN_ELEMENTS``
#: (an outer product where a sum was meant squares a drawn case of up to 256
#: elements). Past that an array is not an answer but an attack on the
#: checker's memory (a 256 MiB array, or a zero-size ``(2**24, 0, 2)`` that
#: the report would spell out axis by axis).
_ANSWER_MIN_ELEMENTS = 1 << 16
_ANSWER_GROWTH = 16
#: Arrays an answer may hold beyond a forward value and one gradient per
#: input: a few extra gradients are the engine's bug (a verdict), not hundreds.
_SPARE_ARRAYS = 16
_LENGTH = struct.Struct("<I")
# Only numbers cross the boundary: signed and unsigned integers, floats.
_ARRAY_KINDS = "iuf"


@dataclass(frozen=True)
class FrameLimits:
    """What one message may carry, checked before any array's bytes are read.

    ``elements`` bounds each array's elements with every zero-length axis
    counted as one, so that a zero-size array with enormous axes is refused too.
    """

    arrays: int
    total_bytes: int
    elements: int
    ndim: int = MAX_NDIM


#: What the worker accepts from gradcheck: its own cases, trusted, any size NumPy handles.
REQUEST_LIMITS = FrameLimits(arrays=1 << 16, total_bytes=1 << 40, elements=1 << 40, ndim=64)


class ProtocolError(Exception):
    """The other side sent something that is not a well-formed gradcheck message."""


class ReadTimeout(Exception):
    """No complete message arrived before the deadline."""


#: Most ``.npy`` headers kept by each side (by dtype and shape to write, by
#: their exact bytes to read): the cases of a check have a few dozen shapes,
#: and NumPy's own writer and parser cost more than the data.
_HEADER_CACHE = 4096
_WRITTEN_HEADERS: dict[tuple[str, tuple[int, ...]], bytes] = {}
_READ_HEADERS: dict[bytes, tuple[tuple[int, ...], bool, np.dtype]] = {}


def _array_bytes(array: np.ndarray) -> bytes:
    # np.ascontiguousarray would make a 0-d array 1-d.
    array = np.require(array, requirements="C")
    header = _WRITTEN_HEADERS.get((array.dtype.str, array.shape))
    if header is not None:
        return header + array.tobytes()
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    blob = buffer.getvalue()
    if len(_WRITTEN_HEADERS) < _HEADER_CACHE:
        # C order, so the data is tobytes(): the header is all that comes before it.
        _WRITTEN_HEADERS[(array.dtype.str, array.shape)] = blob[:len(blob) - array.nbytes]
    return blob


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
    """Reads messages from a file descriptor, each within an optional deadline.

    ``trusted``: the messages come from gradcheck itself (the worker's end):
    their headers are JSON read as it is, without the checks that guard
    gradcheck from a worker (``parse_header``); arrays are checked as always.
    """

    def __init__(self, fd: int, trusted: bool = False) -> None:
        self.fd = fd
        self.trusted = trusted
        self.buffer = bytearray()
        # Where the unread bytes start: reading from the front moves nothing.
        self.start = 0

    def _fill(self, size: int, deadline: float | None) -> bytes:
        self._await(size, deadline)
        data = bytes(self.buffer[self.start:self.start + size])
        self.start += size
        return data

    def _await(self, size: int, deadline: float | None) -> None:
        """Read until ``size`` bytes are buffered."""
        while len(self.buffer) - self.start < size:
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ReadTimeout
                ready, _, _ = select.select([self.fd], [], [], remaining)
                if not ready:
                    raise ReadTimeout
            if self.start:
                del self.buffer[:self.start]
                self.start = 0
            chunk = os.read(self.fd, max(65536, size - len(self.buffer)))
            if not chunk:
                raise EOFError("the other side closed the connection")
            self.buffer.extend(chunk)

    def has_more(self) -> bool:
        """Return whether part of another message is already read (no system call is made).

        gradcheck writes a batch of requests at once, so the rest of a message
        begun here follows at once."""
        return len(self.buffer) > self.start

    def read(
        self, timeout: float | None = None, limits: FrameLimits = REQUEST_LIMITS
    ) -> tuple[dict[str, Any], list[np.ndarray]]:
        """Return the next message's header and arrays, validated against ``limits``.

        Raise ReadTimeout when no message starts within ``timeout``, EOFError
        when the other side is gone, ProtocolError for anything malformed,
        including a message that starts but does not complete in time.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        self._await(1, deadline)
        # The frame has started: the rest comes at once, or the frame is broken.
        stall = time.monotonic() + FRAME_STALL_SECONDS
        deadline = stall if deadline is None else min(deadline, stall)
        received = [0]

        def fill(size: int) -> bytes:
            try:
                data = self._fill(size, deadline)
            except ReadTimeout:
                raise ProtocolError(
                    f"a message stopped after {received[0] + len(self.buffer) - self.start} bytes and did not complete in time"
                ) from None
            received[0] += size
            return data

        (length,) = _LENGTH.unpack(fill(_LENGTH.size))
        if length > MAX_HEADER_BYTES:
            raise ProtocolError(f"a message header of {length} bytes is over the limit of {MAX_HEADER_BYTES}")
        header = _trusted_header(fill(length)) if self.trusted else parse_header(fill(length))
        sizes = header.get("array_bytes")
        if not isinstance(sizes, list) or not all(type(size) is int and size >= 0 for size in sizes):
            raise ProtocolError("a message header does not list its arrays' sizes")
        if len(sizes) > limits.arrays:
            raise ProtocolError(f"a message carries {len(sizes)} arrays, over the limit of {limits.arrays}")
        if sum(sizes) > limits.total_bytes:
            raise ProtocolError(
                f"a message's arrays take {sum(sizes)} bytes, over the limit of {limits.total_bytes}"
            )
        return header, [parse_array(fill(size), limits) for size in sizes]


def parse_header(data: bytes) -> dict[str, Any]:
    """Return the JSON object ``data`` holds; raise ProtocolError unless it is plain, valid, shallow JSON."""
    try:
        text = data.decode("utf-8")  # strict: refuses surrogates encoded as UTF-8
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"a message header is not valid UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        header = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ProtocolError(f"a message header nests deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, NaN, and integers too long to convert
        raise ProtocolError(f"a message header is not JSON: {printable(str(exc))[:200]}") from None
    if b"\\u" in data or data.count(b"[") + data.count(b"{") >= MAX_JSON_DEPTH:
        # Strict UTF-8 holds no surrogates, so only a \u escape makes one; and
        # fewer containers than the depth limit cannot nest past it. An honest
        # header (a few containers, no escapes) is done with these searches in C.
        _check_structure(header)
    if not isinstance(header, dict):
        raise ProtocolError(f"a message header is a JSON {type(header).__name__}, not an object")
    return header


def _check_structure(header: Any) -> None:
    """Raise ProtocolError for text that is not valid Unicode, or nesting deeper than ``MAX_JSON_DEPTH``."""
    # Iterative, so that checking a deep structure cannot overflow the stack either.
    pending: list[tuple[Any, int]] = [(header, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            raise ProtocolError(f"a message header nests deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(value, str):
            _check_unicode(value)
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
        elif isinstance(value, dict):
            for key, item in value.items():
                _check_unicode(key)
                pending.append((item, depth + 1))


def _trusted_header(data: bytes) -> dict[str, Any]:
    """Return the header gradcheck itself wrote (the worker's requests): JSON, read as it is."""
    try:
        header = json.loads(data)
    except ValueError as exc:
        raise ProtocolError(f"a request header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError(f"a request header is a JSON {type(header).__name__}, not an object")
    return header


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _check_unicode(text: str) -> None:
    # JSON's "\ud800" escapes decode to lone surrogates, which no report can encode.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ProtocolError(f"a message header holds text that is not valid Unicode ({exc.reason})") from None


def parse_array(blob: bytes, limits: FrameLimits) -> np.ndarray:
    """Return the array an ``.npy`` blob holds; raise ProtocolError unless it is plain numbers within ``limits``.

    NumPy's ``read_array`` is not used: the header is checked before any
    array is made, and no code path can reach pickle.
    """
    shape, fortran_order, dtype, offset = _npy_header(blob)
    if dtype.kind not in _ARRAY_KINDS or dtype.hasobject or dtype.fields is not None:
        raise ProtocolError(f"an array in a message has dtype {dtype}, not plain numbers")
    if len(shape) > limits.ndim:
        raise ProtocolError(f"an array in a message has {len(shape)} axes, over the limit of {limits.ndim}")
    if any(side < 0 for side in shape):
        raise ProtocolError(f"an array in a message has a negative axis in its shape {shape}")
    span = math.prod(max(side, 1) for side in shape)
    if span > limits.elements:
        raise ProtocolError(
            f"an array in a message has shape {shape}, far larger than the case's arrays "
            f"(limit {limits.elements} elements, zero-length axes counted as one)"
        )
    count = math.prod(shape)
    if len(blob) - offset != count * dtype.itemsize:
        raise ProtocolError(
            f"an array in a message has {len(blob) - offset} bytes of data, its header says {count * dtype.itemsize}"
        )
    flat = np.frombuffer(blob, dtype=dtype, count=count, offset=offset)
    return flat.reshape(shape, order="F" if fortran_order else "C").copy()


def _npy_header(blob: bytes) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """Return the shape, Fortran order, dtype and data offset an ``.npy`` blob's header says; ProtocolError if none.

    Headers already parsed are looked up by their exact bytes (the same bytes
    parse the same); what they say is validated by the caller every time.
    """
    npy = len(blob) > 8 and blob.startswith(np.lib.format.MAGIC_PREFIX)
    # The header's length field: 2 bytes in format 1.0, 4 in 2.0 and 3.0.
    size = {1: 2, 2: 4, 3: 4}.get(blob[6], 0) if npy else 0
    end = 8 + size + int.from_bytes(blob[8:8 + size], "little") if size else 0
    known = _READ_HEADERS.get(blob[:end]) if size and end <= len(blob) else None
    if known is not None:
        return (*known, end)
    stream = io.BytesIO(blob)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream, _NPY_HEADER_BYTES)
        elif version in ((2, 0), (3, 0)):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream, _NPY_HEADER_BYTES)
        else:
            raise ValueError(f"format version {version}")
    except Exception as exc:  # noqa: BLE001 - whatever NumPy's parser makes of hostile bytes, they are not .npy
        raise ProtocolError(f"an array in a message is not in .npy format ({printable(str(exc))[:200]})") from None
    offset = stream.tell()
    if offset == end and len(_READ_HEADERS) < _HEADER_CACHE:
        _READ_HEADERS[blob[:end]] = (shape, fortran_order, dtype)
    return shape, fortran_order, dtype, offset


def answer_limits(case: Any) -> FrameLimits:
    """Return what an outcome of ``case`` (a Computation) may carry: see ``_ANSWER_GROWTH``.

    A case at order 2 (``gradcheck.higher``) answers two gradients per input."""
    arrays = [np.asarray(array) for array in (*case.inputs, case.cotangent)]
    per_input = 2 if getattr(case, "mode", None) is not None else 1
    elements = max(_ANSWER_MIN_ELEMENTS, _ANSWER_GROWTH * per_input * sum(array.size for array in arrays))
    count = 1 + per_input * len(case.inputs) + _SPARE_ARRAYS
    return FrameLimits(
        arrays=count,
        total_bytes=elements * _ITEM_BYTES + count * _NPY_HEADER_BYTES,
        elements=elements,
        ndim=max([MAX_NDIM, *(array.ndim + 2 for array in arrays)]),
    )


def decode_params(value: Any) -> Any:
    """Return JSON-decoded static parameters as the run held them (``gradcheck._literals``).

    A malformed parameter is a bad message (``ProtocolError``), never a crash."""
    try:
        return from_json(value)
    except ValueError as exc:
        raise ProtocolError(f"bad parameters in a message: {exc}") from None


# --- Cases and outcomes as messages -----------------------------------------


def case_message(case: Any, repeat: bool = True) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Return the header and arrays that carry ``case`` (a Case or ProgramCase) to a worker.

    ``repeat``: whether the worker runs the case twice (``run_engine``). A
    derived case (``gradcheck.higher``) adds its mode and, after the
    cotangent, its directions."""
    mode = getattr(case, "mode", None)
    if mode is not None:
        carried, arrays = case_message(case.base, repeat)
        carried["mode"] = mode
        return carried, [*arrays, *case.directions]
    header: dict[str, Any] = {
        "type": "run", "kind": case.kind, "names": list(case.names), "dtype": case.dtype, "repeat": repeat,
    }
    if case.kind == "program":
        header["steps"] = [
            {"out": step.out, "op": step.op, "args": list(step.args), "params": to_json(step.params)}
            for step in case.steps
        ]
    else:
        header["op"] = case.op
        header["params"] = to_json(case.params)
    return header, [*case.inputs, case.cotangent]


def case_from_message(header: dict[str, Any], arrays: list[np.ndarray]) -> Any:
    """Return the Case or ProgramCase a ``case_message`` carried."""
    from gradcheck.case import Case
    from gradcheck.program import ProgramCase, Step

    mode = header.get("mode")
    if mode is not None:
        from gradcheck.higher import MODES, Derived

        count = len(header["names"])
        if mode not in MODES or len(arrays) != 2 * count + 1:
            raise ProtocolError(f"a run message with mode {_shown(mode)} carries {len(arrays)} arrays")
        base = case_from_message({key: value for key, value in header.items() if key != "mode"}, arrays[:count + 1])
        return Derived(base, mode, tuple(arrays[count + 1:]))
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


_OUTCOME_KEYS = frozenset({"type", "has_forward", "grads", "failure", "output", "array_bytes"})


def outcome_from_message(header: dict[str, Any], arrays: list[np.ndarray]) -> Any:
    """Return the EngineOutcome an ``outcome_message`` carried; raise ProtocolError unless it is one.

    Every key and type is checked, the failure category must be one gradcheck
    knows, and text loses its control characters before it reaches a report.
    """
    from gradcheck.execution import EngineOutcome
    from gradcheck.results import CATEGORIES

    if header.get("type") != "outcome":
        raise ProtocolError(f"a message of type {_shown(header.get('type'))} came where an outcome was expected")
    if set(header) != _OUTCOME_KEYS:
        odd = sorted(set(header) ^ _OUTCOME_KEYS)
        raise ProtocolError(f"an outcome message has the wrong keys (unknown or missing: {_shown(odd)})")
    has_forward, count, failure, output = (header[key] for key in ("has_forward", "grads", "failure", "output"))
    if type(has_forward) is not bool:
        raise ProtocolError(f"an outcome's has_forward is {_shown(has_forward)}, not true or false")
    if count is not None and (type(count) is not int or count < 0):
        raise ProtocolError(f"an outcome's gradient count is {_shown(count)}, not a count")
    if not isinstance(output, str):
        raise ProtocolError(f"an outcome's output is {_shown(output)}, not text")
    if failure is not None:
        if not (isinstance(failure, list) and len(failure) == 3):
            raise ProtocolError(f"an outcome's failure is {_shown(failure)}, not [category, message, detail]")
        category, message, detail = failure
        if category not in CATEGORIES:
            raise ProtocolError(f"an outcome's failure category {_shown(category)} is none of {', '.join(CATEGORIES)}")
        if not isinstance(message, str) or not (detail is None or isinstance(detail, str)):
            raise ProtocolError("an outcome's failure message or detail is not text")
        failure = (category, printable(message), None if detail is None else printable(detail))
    if len(arrays) != int(has_forward) + (count or 0):
        raise ProtocolError(
            f"an outcome message carries {len(arrays)} arrays, its header describes {int(has_forward) + (count or 0)}"
        )
    forward = arrays[0] if has_forward else None
    grads = list(arrays[1 if has_forward else 0:]) if count is not None else None
    return EngineOutcome(forward=forward, grads=grads, failure=failure, output=printable(output))


def _shown(value: Any) -> str:
    """Return a worker's value as a short, clean repr for a message."""
    text = printable(repr(value))
    return text if len(text) <= 60 else text[:57] + "..."
