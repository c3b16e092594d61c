"""Untrusted engines in a worker process: every misbehaviour is a failure of its op, nothing is lost."""

from __future__ import annotations

import functools
import io
import os
import pickle

import numpy as np
import pytest

from gradcheck._transport import FrameReader, ProtocolError, encode_message
from gradcheck.errors import TargetError
from gradcheck import isolation
from gradcheck.sandbox import available

# Sandboxed where the machine can (tests/test_sandbox.py tests the sandbox itself).
IsolatedEngine = functools.partial(isolation.IsolatedEngine, sandbox=available() is None)
from gradcheck.runner import run_checks

HOSTILE = "tests/hostile/engine.py"

# op -> (category, words the message must contain)
EXPECTED = {
    "exp": ("crash", "exited with status 7"),
    "sin": ("timeout", "did not answer within"),
    "cos": ("crash", "SIGSEGV"),
    "negative": ("exception", "SystemExit"),
    "sigmoid": ("exception", "value() raised AttributeError"),
    "relu": ("nondeterministic", "different answers"),
    "abs": ("mutation", "wrote into the array"),
}


@pytest.fixture(scope="module")
def hostile_report():
    with IsolatedEngine(HOSTILE, memory_mb=1024) as engine:
        report = run_checks(
            engine, ops=[*EXPECTED, "tanh", "sqrt"], max_examples=3, timeout=0.5, programs=0,
        )
    return {result.check: result for result in report.results}


@pytest.mark.parametrize("op", list(EXPECTED))
def test_each_misbehaviour_is_its_ops_failure(hostile_report, op):
    category, words = EXPECTED[op]
    result = hostile_report[op]
    assert result.status == "failed"
    assert result.failure.category == category
    assert words in result.failure.message + (result.failure.detail or "")
    # The case it was running is recorded, shrunk.
    assert result.failure.inputs and result.failure.inputs[0].shape == ()


def test_memory_hog_meets_the_memory_limit():
    # Its own run: filling memory takes time, so a short time limit would race it.
    with IsolatedEngine(HOSTILE, memory_mb=300) as engine:
        (result,) = run_checks(engine, ops=["log"], max_examples=3, timeout=30, programs=0).results
    assert result.failure.category == "exception"
    assert "MemoryError" in result.failure.message


def test_print_flood_is_captured_not_shown(hostile_report, capsys):
    assert hostile_report["tanh"].status == "passed"
    assert "flood" not in capsys.readouterr().out


def test_monkeypatching_numpy_stays_in_the_worker(hostile_report):
    # The worker's NumPy was patched; the parent's, which compares, was not.
    assert np.sqrt(4.0) == 2.0
    assert hostile_report["sqrt"].status == "passed"


def test_nothing_is_lost_after_crashes(hostile_report):
    assert set(hostile_report) == {*EXPECTED, "tanh", "sqrt"}
    assert all(result.examples >= 1 for result in hostile_report.values())


def test_the_worker_repeats_a_case_only_when_asked():
    """The first value set of an example is run twice, to catch state kept between calls; the others once."""
    from gradcheck.case import Case

    case = Case("relu", ("x",), (np.array([1.0, 2.0]),), {}, np.array([1.0, 1.0]))
    with IsolatedEngine(HOSTILE) as engine:
        once = engine.run(case, 5.0, repeat=False)
        twice = engine.run(case, 5.0, repeat=True)
    assert once.failure is None
    assert twice.failure is not None and twice.failure[0] == "nondeterministic"


def test_an_examples_value_sets_go_to_the_worker_in_one_write():
    from gradcheck.case import Case

    def cases(op, shape, count):
        return [Case(op, ("x",), (np.full(shape, 0.5 + k),), {}, np.ones(shape)) for k in range(count)]

    with IsolatedEngine(HOSTILE) as engine:
        # One outcome per case; only the first is run twice.
        outcomes = engine.run_many(cases("relu", (2,), 3), 5.0)
        assert [o.failure and o.failure[0] for o in outcomes] == ["nondeterministic", None, None]
        # A hang stops the list at the case that hung; the worker is stopped and restarts.
        (hung,) = engine.run_many(cases("sin", (2,), 3), 0.5)
        assert hung.failure[0] == "timeout"
        assert engine.run_many(cases("tanh", (2,), 2), 5.0)[1].failure is None
        # Too large to write without reading answers: nothing is sent.
        assert engine.run_many(cases("tanh", (40, 40), 8), 5.0) == []


def test_worker_metadata_matches_in_process_loading():
    with IsolatedEngine("gradcheck.examples.numpy_engine:engine32") as engine:
        assert engine.dtype == np.float32
        assert engine.supports("matmul") and engine.supports("mul")
        assert engine.name and engine.grad_takes_cotangent


def test_bad_target_in_a_worker_is_a_target_error():
    with pytest.raises(TargetError, match="no file"):
        IsolatedEngine("tests/hostile/missing.py")


def test_correct_engine_passes_isolated():
    with IsolatedEngine("gradcheck.examples.numpy_engine") as engine:
        report = run_checks(engine, ops=["matmul", "sum"], max_examples=20, programs=20)
    assert report.ok, [r.to_dict() for r in report.results]


# --- the transport refuses anything that is not plain data ----------------------


def _frame_reader(data: bytes) -> FrameReader:
    read, write = os.pipe()
    os.write(write, data)
    os.close(write)
    return FrameReader(read)


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch /tmp/gradcheck-pwned",))


def test_a_pickled_payload_from_the_worker_cannot_run_in_the_parent(tmp_path):
    marker = "/tmp/gradcheck-pwned"
    if os.path.exists(marker):
        os.unlink(marker)
    # A .npy holding an object array is a pickle: exactly what a hostile worker would send.
    buffer = io.BytesIO()
    np.save(buffer, np.array([_Payload()], dtype=object), allow_pickle=True)
    blob = buffer.getvalue()
    header = encode_message({"type": "outcome", "has_forward": True, "grads": 0, "failure": None, "output": ""})
    # Replace the declared array list with one object array of the payload's size.
    import json
    import struct

    (length,) = struct.unpack("<I", header[:4])
    head = json.loads(header[4:4 + length])
    head["array_bytes"] = [len(blob)]
    forged = json.dumps(head).encode()
    with pytest.raises(ProtocolError, match="not plain numbers"):
        _frame_reader(struct.pack("<I", len(forged)) + forged + blob).read(1.0)
    assert not os.path.exists(marker)
    assert pickle  # the payload really is a pickle: loading it with pickle would run os.system


@pytest.mark.parametrize(
    "data, words",
    [
        (b"\xff\xff\xff\x7f", "over the limit"),
        (b"\x05\x00\x00\x00nope!", "not JSON"),
        (b"\x02\x00\x00\x00{}", "sizes"),
    ],
    ids=["huge-header", "not-json", "no-array-sizes"],
)
def test_malformed_frames_are_protocol_errors(data, words):
    with pytest.raises(ProtocolError, match=words):
        _frame_reader(data).read(1.0)
