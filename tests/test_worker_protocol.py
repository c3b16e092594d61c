"""The worker protocol under attack: whatever a worker writes, the check goes on, bounded.

Student code runs in the worker and can write anything on the pipe gradcheck
reads. Each hostile engine (``tests/hostile/protocol.py``) sends one malformed
answer; gradcheck must refuse it before using (or allocating) it, stop the
worker, record a ``crash`` saying what was wrong, and check the next case with
a fresh worker exactly as before. Then the pieces, table-driven: header
parsing, ``.npy`` parsing, frame limits, outcome fields.
"""

from __future__ import annotations

import io
import json
import os
import resource
import struct
import time

import numpy as np
import pytest

from gradcheck._text import printable
from gradcheck._transport import (
    MAX_JSON_DEPTH,
    FrameLimits,
    FrameReader,
    ProtocolError,
    answer_limits,
    encode_message,
    outcome_from_message,
    parse_array,
    parse_header,
)
from gradcheck.case import Case
from gradcheck.isolation import IsolatedEngine
from gradcheck.runner import run_checks

HOSTILE = "tests/hostile/protocol.py"
MALFORMED = "the engine worker sent a malformed answer: "
# The trusted process may grow this much during one attack (imports, a worker's
# pipes); the attacks offer hundreds of megabytes to gigabytes.
RSS_GROWTH_LIMIT_MB = 64

X = np.array([0.5, 1.0])
ATTACKED = Case("exp", ("x",), (X,), {}, np.ones(2))
HONEST = Case("tanh", ("x",), (X,), {}, np.ones(2))

# hostile engine -> words its crash message must contain
ATTACKS = {
    "unknown_category": "an outcome's failure category 'pwned' is none of",
    "deep_json": f"nests deeper than {MAX_JSON_DEPTH} levels",
    "lone_surrogate": "not valid Unicode",
    "oversized_header": "a message header of 2147483648 bytes is over the limit",
    "too_many_arrays": "a message carries 1000 arrays, over the limit of 18",
    "huge_arrays": "a message's arrays take 1610613504 bytes, over the limit",
    "zero_size_giant": "shape (16777216, 0, 2), far larger than the case's arrays",
    "object_dtype": "dtype object, not plain numbers",
    "not_npy": "not in .npy format",
    "truncated": "a message stopped after 20 bytes and did not complete in time",
    "garbage": "not valid UTF-8",
    "wrong_type": "a message of type 'ready' came where an outcome was expected",
    # Not a malformed answer: it dies, flooding the capture file on the way.
    "print_flood": "the engine's process exited with status 3",
}


# These attacks are on the trusted side's reading of answers, which must hold
# without the sandbox too (--no-sandbox): the sandbox would cut the print flood
# short at its file-size limit (tests/test_sandbox.py), hiding what is tested here.


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


@pytest.mark.parametrize("attack", list(ATTACKS), ids=list(ATTACKS))
def test_a_hostile_answer_is_a_crash_and_the_next_case_runs_as_before(attack):
    before = _max_rss_mb()
    with IsolatedEngine(f"{HOSTILE}:{attack}", sandbox=False) as engine:
        start = time.monotonic()
        outcome = engine.run(ATTACKED, timeout=2.0)
        elapsed = time.monotonic() - start
        honest = engine.run(HONEST, timeout=10.0)
    category, message, detail = outcome.failure
    assert category == "crash"
    assert message.startswith("" if attack == "print_flood" else MALFORMED)
    assert ATTACKS[attack] in message
    # Stopped, not waited for (it sleeps for 600 s); only a stalled frame waits out the call's 2 s.
    assert elapsed < 10
    assert _max_rss_mb() - before < RSS_GROWTH_LIMIT_MB
    assert honest.failure is None
    np.testing.assert_array_equal(honest.forward, np.tanh(X))
    np.testing.assert_array_equal(honest.grads[0], 1 - np.tanh(X) ** 2)


def test_a_print_flood_is_read_back_bounded_and_without_control_characters():
    with IsolatedEngine(f"{HOSTILE}:print_flood", sandbox=False) as engine:
        _, _, detail = engine.run(ATTACKED, timeout=10.0).failure
    assert detail.endswith("last words")  # the title-setting escape went whole, payload and all
    assert len(detail) < 2100
    assert not any(ord(c) < 32 and c not in "\t\n" for c in detail)


def test_a_check_run_survives_a_forged_category_and_an_honest_engine_passes_after():
    with IsolatedEngine(f"{HOSTILE}:unknown_category", sandbox=False) as engine:
        report = run_checks(engine, ops=["exp", "tanh"], max_examples=2, timeout=2.0, programs=0)
    results = {result.check: result for result in report.results}
    assert results["exp"].failure.category == "crash"
    assert results["tanh"].status == "passed"
    json.dumps(report.to_dict())  # the report is plain data
    with IsolatedEngine("gradcheck.examples.numpy_engine") as engine:
        honest = run_checks(engine, ops=["exp", "tanh"], max_examples=2, programs=0)
    assert honest.ok, [result.to_dict() for result in honest.results]


# --- headers ---------------------------------------------------------------------


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


HEADERS = [
    ("plain", b'{"type": "outcome", "output": "\\u00e9 caf\xc3\xa9"}', None),
    ("not-utf8", b'{"output": "\xff"}', "not valid UTF-8"),
    ("utf8-encoded-surrogate", b'{"output": "\xed\xa0\x80"}', "not valid UTF-8"),
    ("escaped-lone-surrogate", b'{"output": "\\ud800"}', "not valid Unicode"),
    ("surrogate-in-key", b'{"\\udfff": 1}', "not valid Unicode"),
    ("nested-1e5", _deep(100_000), "nests deeper"),
    ("objects-nested-1e5", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "nests deeper"),
    ("nested-just-too-deep", b'{"a": ' + _deep(MAX_JSON_DEPTH) + b"}", "nests deeper"),
    ("nested-at-the-limit", b'{"a": ' + _deep(MAX_JSON_DEPTH - 1) + b"}", None),
    ("nan", b'{"grads": NaN}', "not JSON"),
    ("huge-integer", b'{"grads": ' + b"9" * 5000 + b"}", "not JSON"),
    ("top-level-list", b"[1, 2]", "not an object"),
    ("not-json", b"nope!", "not JSON"),
]


@pytest.mark.parametrize("data, words", [row[1:] for row in HEADERS], ids=[row[0] for row in HEADERS])
def test_parse_header(data, words):
    if words is None:
        assert isinstance(parse_header(data), dict)
    else:
        with pytest.raises(ProtocolError, match=words):
            parse_header(data)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH - 3, MAX_JSON_DEPTH - 2, MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH])
def test_the_quick_header_check_and_the_walk_draw_the_line_at_the_same_depth(depth):
    # {"a": [[...]]}: depth + 1 containers, the innermost list at level depth + 1.
    data = b'{"a": ' + _deep(depth) + b"}"
    if depth + 1 <= MAX_JSON_DEPTH:
        assert parse_header(data) == json.loads(data)
    else:
        with pytest.raises(ProtocolError, match="nests deeper"):
            parse_header(data)


def _json_values():
    from hypothesis import strategies as st

    text = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(["\ud800", "\udfff", "\\", '"']), max_size=6)
    scalars = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False, allow_infinity=False) | text
    return st.recursive(
        scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3), max_leaves=40,
    )


def test_parse_header_answers_as_checking_every_value_would():
    """The quick path (no \\u escape, few containers) changes no verdict: same header or same refusal."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from gradcheck._transport import _check_structure

    @settings(max_examples=300, deadline=None, database=None)
    @given(st.dictionaries(st.text(max_size=4), _json_values(), max_size=4), st.booleans())
    def agree(header, ascii_only):
        data = json.dumps(header, ensure_ascii=ascii_only).replace("\\\\u", "\\u").encode("utf-8", "surrogatepass")
        try:
            expected = json.loads(data.decode("utf-8"))
            _check_structure(expected)
        except (UnicodeDecodeError, ValueError, RecursionError, ProtocolError):
            with pytest.raises(ProtocolError):
                parse_header(data)
            return
        assert parse_header(data) == expected

    agree()


def test_a_reader_says_whether_another_message_has_begun_without_reading():
    read_end, write_end = os.pipe()
    try:
        frames = [encode_message({"type": "run", "n": n}, [np.arange(n, dtype=float)]) for n in range(3)]
        os.write(write_end, b"".join(frames) + frames[0][:7])  # three messages and the start of a fourth
        reader = FrameReader(read_end, trusted=True)
        assert not reader.has_more()  # nothing read yet: no system call is made to find out
        for n in range(3):
            header, arrays = reader.read(timeout=1.0)
            assert header["n"] == n and arrays[0].tolist() == list(range(n))
            assert reader.has_more()  # the next one, or the start of the fourth
        os.write(write_end, frames[0][7:])
        assert reader.read(timeout=1.0)[0]["n"] == 0
        assert not reader.has_more()
    finally:
        os.close(read_end)
        os.close(write_end)


def test_held_answers_go_out_together_and_never_later_than_the_hold():
    import select

    from gradcheck import _worker

    read_end, write_end = os.pipe()
    stream = os.fdopen(write_end, "wb", buffering=_worker.ANSWER_BUFFER)
    try:
        held = _worker._HeldAnswers(stream)
        held.write(b"first", more=True)  # the next request has begun to arrive: held
        assert not select.select([read_end], [], [], 0)[0]
        held.write(b"second", more=False)  # none waits: both go out in one write
        assert os.read(read_end, 100) == b"firstsecond"
        held.write(b"third", more=True)
        started = time.monotonic()
        # The next case runs long (here: nothing more is written): the thread sends it.
        assert select.select([read_end], [], [], 5.0)[0]
        assert time.monotonic() - started < _worker.HOLD_SECONDS + 1.0
        assert os.read(read_end, 100) == b"third"
    finally:
        stream.close()
        os.close(read_end)


def test_without_a_thread_to_send_them_late_no_answer_is_held(monkeypatch):
    import select
    import threading

    from gradcheck import _worker

    def refused(self):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refused)
    read_end, write_end = os.pipe()
    stream = os.fdopen(write_end, "wb", buffering=_worker.ANSWER_BUFFER)
    try:
        held = _worker._HeldAnswers(stream)
        for answer in (b"first", b"second"):
            held.write(answer, more=True)
            assert select.select([read_end], [], [], 0)[0]  # out at once: nothing would send it late
            assert os.read(read_end, 100) == answer
    finally:
        stream.close()
        os.close(read_end)


# --- arrays ----------------------------------------------------------------------

LIMITS = FrameLimits(arrays=8, total_bytes=1 << 20, elements=1000, ndim=8)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


ARRAYS = [
    ("float64", _npy(np.arange(6.0).reshape(2, 3)), None),
    ("float32-scalar", _npy(np.float32(2.5)), None),
    ("int64", _npy(np.arange(4)), None),
    ("fortran-order", _npy(np.asfortranarray(np.arange(6.0).reshape(2, 3))), None),
    ("big-endian", _npy(np.arange(3.0).astype(">f8")), None),
    ("empty-small", _npy(np.zeros((0, 3))), None),
    ("object", _npy(np.array([None, 1], dtype=object)), "not plain numbers"),
    ("bool", _npy(np.array([True])), "not plain numbers"),
    ("complex", _npy(np.array([1j])), "not plain numbers"),
    ("structured", _npy(np.zeros(2, dtype=[("a", "f8")])), "not plain numbers"),
    ("strings", _npy(np.array(["a"])), "not plain numbers"),
    ("nine-axes", _npy(np.zeros((1,) * 9)), "9 axes, over the limit of 8"),
    ("zero-size-giant", _npy(np.zeros((2**24, 0, 2))), "far larger than the case's arrays"),
    ("zero-size-wide", _npy(np.zeros((0, 1001))), "far larger"),
    ("too-many-elements", _npy(np.zeros(1001)), "far larger"),
    ("truncated-data", _npy(np.arange(6.0))[:-8], "bytes of data, its header says 48"),
    ("trailing-data", _npy(np.arange(6.0)) + b"\x00" * 8, "bytes of data, its header says 48"),
    ("not-npy", b"hello, world", "not in .npy format"),
    ("empty", b"", "not in .npy format"),
    ("bad-header", b"\x93NUMPY\x01\x00\x10\x00{'descr': 1}    ", "not in .npy format"),
]


@pytest.mark.parametrize("blob, words", [row[1:] for row in ARRAYS], ids=[row[0] for row in ARRAYS])
def test_parse_array(blob, words):
    if words is None:
        expected = np.load(io.BytesIO(blob))
        array = parse_array(blob, LIMITS)
        assert array.dtype == expected.dtype and array.shape == expected.shape
        np.testing.assert_array_equal(array, expected)
    else:
        with pytest.raises(ProtocolError, match=words):
            parse_array(blob, LIMITS)


@pytest.mark.parametrize("blob, words", [row[1:] for row in ARRAYS], ids=[row[0] for row in ARRAYS])
def test_a_header_parsed_before_is_validated_again(blob, words):
    # Headers are kept by their bytes once parsed: the second parse must say the same.
    for _ in range(2):
        test_parse_array(blob, words)


def test_a_kept_header_does_not_vouch_for_the_data_after_it():
    whole = _npy(np.arange(6.0))
    assert parse_array(whole, LIMITS).tolist() == list(range(6))
    for broken, words in ((whole[:-8], "bytes of data"), (whole + b"\x00", "bytes of data")):
        with pytest.raises(ProtocolError, match=words):
            parse_array(broken, LIMITS)


def test_arrays_of_one_shape_round_trip_with_the_kept_header():
    from gradcheck._transport import _array_bytes

    for array in (np.arange(6.0).reshape(2, 3), np.arange(6.0).reshape(2, 3).T, -np.ones((2, 3)), np.float32(2.5),
                  np.asarray(7.0), np.zeros((0, 3)), np.arange(6.0).reshape(2, 3)[:, ::2]):
        for _ in range(2):
            blob = _array_bytes(array)
            assert blob == _npy(np.require(array, requirements="C"))
            decoded = parse_array(blob, LIMITS)
            assert decoded.shape == np.shape(array) and decoded.dtype == np.asarray(array).dtype
            np.testing.assert_array_equal(decoded, array)


def test_answer_limits_fit_an_honest_answer_and_refuse_a_giant():
    case = Case("matmul", ("a", "b"), (np.ones((3, 4)), np.ones((4, 2))), {}, np.ones((3, 2)))
    limits = answer_limits(case)
    header, arrays = _read(encode_message(
        {"type": "outcome", "has_forward": True, "grads": 2, "failure": None, "output": ""},
        [np.ones((3, 2)), np.ones((3, 4)), np.ones((4, 2))],
    ), limits)
    assert [a.shape for a in outcome_from_message(header, arrays).grads] == [(3, 4), (4, 2)]
    # A wrong shape is a verdict, not a violation: an outer product of the case still fits.
    assert parse_array(_npy(np.ones((24, 24))), limits).shape == (24, 24)
    with pytest.raises(ProtocolError, match="far larger"):
        parse_array(_npy(np.zeros((2**24, 0, 2))), limits)


# --- frames: refused from the header alone, before any array is read --------------


def _read(data: bytes, limits: FrameLimits = LIMITS, close: bool = True, timeout: float = 1.0):
    read, write = os.pipe()
    os.write(write, data)
    if close:
        os.close(write)
    try:
        return FrameReader(read).read(timeout, limits)
    finally:
        os.close(read)
        if not close:
            os.close(write)


def _head(**fields) -> bytes:
    head = json.dumps({"type": "outcome", **fields}).encode()
    return struct.pack("<I", len(head)) + head


FRAMES = [
    ("header-over-cap", b"\xff\xff\xff\x7f", "over the limit"),
    ("no-array-sizes", _head(), "sizes"),
    ("sizes-not-ints", _head(array_bytes=[1.5]), "sizes"),
    ("bool-size", _head(array_bytes=[True]), "sizes"),
    ("too-many-arrays", _head(array_bytes=[128] * 9), "9 arrays, over the limit of 8"),
    ("six-256MiB-arrays", _head(array_bytes=[256 << 20] * 6), "over the limit of 1048576"),
    ("header-then-silence", _head(array_bytes=[])[:-3], "stopped after"),
    ("length-then-silence", b"\x05\x00", "stopped after 2 bytes"),
]


@pytest.mark.parametrize("data, words", [row[1:] for row in FRAMES], ids=[row[0] for row in FRAMES])
def test_malformed_frames_are_refused_without_reading_on(data, words):
    # The pipe stays open: a reader that waited for the announced bytes would hang until the timeout.
    start = time.monotonic()
    with pytest.raises(ProtocolError, match=words):
        _read(data, close=False, timeout=0.3)
    assert time.monotonic() - start < 1.0


# --- outcomes ---------------------------------------------------------------------

GOOD = {"type": "outcome", "has_forward": True, "grads": 1, "failure": None, "output": "", "array_bytes": [0, 0]}
TWO = [np.zeros(2), np.zeros(2)]

OUTCOMES = [
    ("unknown-category", {"failure": ["pwned", "m", None]}, "category 'pwned' is none of"),
    ("category-none", {"failure": [None, "m", None]}, "category None"),
    ("failure-not-a-triple", {"failure": ["crash", "m"]}, "not \\[category, message, detail\\]"),
    ("message-not-text", {"failure": ["crash", 3, None]}, "message or detail is not text"),
    ("wrong-type", {"type": "ready"}, "type 'ready'"),
    ("unknown-key", {"extra": 1}, "wrong keys"),
    ("count-is-bool", {"grads": True}, "not a count"),
    ("negative-count", {"grads": -1}, "not a count"),
    ("has-forward-not-bool", {"has_forward": 1}, "not true or false"),
    ("output-not-text", {"output": ["x"]}, "not text"),
    ("arrays-miscounted", {"grads": 2}, "carries 2 arrays, its header describes 3"),
]


@pytest.mark.parametrize("fields, words", [row[1:] for row in OUTCOMES], ids=[row[0] for row in OUTCOMES])
def test_forged_outcomes_are_refused(fields, words):
    with pytest.raises(ProtocolError, match=words):
        outcome_from_message({**GOOD, **fields}, TWO)


def test_a_valid_outcome_loses_its_control_characters():
    fields = {"failure": ["exception", "grad() raised\x1b[2J", "at\r x\x00"], "output": "hi\x07\n\tthere\u202e"}
    outcome = outcome_from_message({**GOOD, **fields}, TWO)
    assert outcome.failure == ("exception", "grad() raised", "at x")  # the escape sequence goes whole
    assert outcome.output == "hi\n\tthere"
    assert printable("tab\tnewline\n") == "tab\tnewline\n"


def test_a_well_formed_forged_answer_is_judged_by_the_trusted_side():
    """Writing on the worker's pipe buys nothing: the numbers are judged here, a zero gradient fails."""
    with IsolatedEngine(f"{HOSTILE}:forged_zero_gradients", sandbox=False) as engine:
        report = run_checks(engine, ops=["exp", "tanh"], max_examples=3, timeout=5.0, programs=0)
    results = {result.check: result for result in report.results}
    assert results["exp"].status == "failed"
    assert results["exp"].failure.category in ("mismatch", "forward"), results["exp"].failure.message
    assert results["tanh"].status == "passed"
