"""The reference for one case: TensorFlow's answer, cross-checked by finite differences."""

from __future__ import annotations

import collections
import hashlib
import json
import threading
import zlib
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from gradcheck._literals import to_json
from gradcheck._timing import StageClock
from gradcheck.case import Case, Computation
from gradcheck.ops import OPS
from gradcheck.oracles._finite_differences import DirectionalCheck, directional_check, directional_checks
from gradcheck.oracles._tensorflow import tensorflow_vjp, vjp

__all__ = ["Reference", "case_seed", "keep_references", "reference_for", "references_for"]

# TensorFlow's and NumPy's float64 forwards of the same formula differ by a few ulps.
_FORWARD_RTOL = 1e-9


@dataclass(frozen=True)
class Reference:
    """The expected forward value and VJP of a case, and whether the oracles agree."""

    forward: np.ndarray
    grads: tuple[np.ndarray, ...]
    agrees: bool = True
    # Why the oracles disagree (the harness's problem, not the engine's).
    note: str | None = None


def case_seed(case: Computation) -> int:
    """Return the seed of a case's random directions: a function of its numbers, so a replay sees the same."""
    digest = zlib.crc32(case.cotangent.tobytes())
    for x in case.inputs:
        digest = zlib.crc32(x.tobytes(), digest)
    return digest


def _numpy_forward(case: Case) -> tuple[np.ndarray, float]:
    """Return the NumPy float64 forward value of ``case``, and the largest magnitude it computes with
    on the way: a program's intermediate values (0 for a single op, whose inputs and output say it)."""
    if case.kind != "program":
        return np.asarray(case.reference(*case.inputs), dtype=np.float64), 0.0
    values = case.reference_values(*case.inputs)  # type: ignore[attr-defined]
    largest = max((float(np.abs(v).max(initial=0.0)) for v in values.values()), default=0.0)
    return np.asarray(values[case.output], dtype=np.float64), largest  # type: ignore[attr-defined]


def reference_for(case: Case, clock: StageClock | None = None) -> Reference:
    """Return the reference for ``case``, cross-checking TensorFlow against finite differences.

    ``clock``, if given, is charged the time of each oracle.
    """
    def forward(*inputs: np.ndarray) -> np.ndarray:
        return np.asarray(case.reference(*inputs), dtype=np.float64)

    try:
        tf_forward, tf_grads = tensorflow_vjp(case)
        if clock:
            clock.lap("tensorflow")
        np_forward, intermediate = _numpy_forward(case)
    except Exception as exc:  # noqa: BLE001 - an oracle that cannot answer is the harness's problem
        empty = np.zeros(())
        return Reference(
            empty, tuple(empty for _ in case.inputs), agrees=False,
            note=f"the reference could not compute {case.describe()}: {type(exc).__name__}: {str(exc)[:200]}",
        )
    if np_forward.shape != tf_forward.shape or not _forwards_agree(np_forward, tf_forward).all():
        return _judged(case, tf_forward, tf_grads, forwards_agree=False)
    check = directional_check(
        forward, case.inputs, case.cotangent, tf_grads, np.random.default_rng(case_seed(case)),
        value=np_forward, intermediate=intermediate,
        fourth_order=case.kind == "program",
    )
    if clock:
        clock.lap("finite differences")
    return _judged(case, tf_forward, tf_grads, check=check)


def _forwards_agree(np_forward: np.ndarray, tf_forward: np.ndarray) -> np.ndarray:
    """Return, entry by entry, whether TensorFlow's forward value is NumPy's to within rounding."""
    return np.abs(np_forward - tf_forward) <= _FORWARD_RTOL * (1.0 + np.abs(tf_forward))


def _judged(
    case: Case, tf_forward: np.ndarray, tf_grads: Sequence[np.ndarray], *,
    forwards_agree: bool = True, check: DirectionalCheck | None = None,
) -> Reference:
    """Return TensorFlow's answer for ``case``, marked as the cross-checks found it."""
    if not forwards_agree:
        note: str | None = f"TensorFlow's forward value of {case.describe()} differs from NumPy's"
    elif check is not None and not check.agrees:
        note = (
            f"TensorFlow's gradient of {case.describe()} disagrees with finite differences "
            f"(error {check.worst_error:.3g} > bound {check.bound:.3g})"
        )
    else:
        note = None
    return Reference(tf_forward, tuple(tf_grads), agrees=note is None, note=note)


class _Kept:
    """The references already answered in this process, by the cases' contents: least recently used go first."""

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self.answers: collections.OrderedDict[bytes, list[Reference]] = collections.OrderedDict()
        self.lock = threading.Lock()
        self.hits = self.misses = 0


_KEPT: _Kept | None = None


def keep_references(entries: int | None) -> None:
    """Keep up to ``entries`` batches of references in this process (None: keep none, the default).

    A reference is a function of its case's contents alone (op, parameters,
    dtype, the numbers; finite differences' directions are seeded by them),
    so a process that checks many engines with the same seed, as a grading
    worker does for every student, answers a case it has seen before from
    memory instead of running TensorFlow and finite differences again.
    """
    global _KEPT
    _KEPT = _Kept(entries) if entries else None


def _contents(cases: Sequence[Case]) -> bytes:
    """Return a digest of everything the references of ``cases`` depend on."""
    digest = hashlib.blake2b(digest_size=32)
    for case in cases:
        mode = getattr(case, "mode", None)
        if mode is not None:  # a derived case: its mode and directions, then its base's contents
            digest.update(f"|{mode}|".encode())
            for direction in case.directions:  # type: ignore[attr-defined]
                digest.update(f"|{direction.shape}|".encode())
                digest.update(np.asarray(direction).tobytes(order="C"))
            case = case.base  # type: ignore[attr-defined]
        described: dict[str, Any] = {"kind": case.kind, "dtype": case.dtype}
        if case.kind == "program":
            described["steps"] = [[step.op, list(step.args), to_json(step.params), step.out]
                                  for step in case.steps]  # type: ignore[attr-defined]
            described["output"] = case.output  # type: ignore[attr-defined]
        else:
            described.update(op=case.op, params=to_json(case.params))
        digest.update(json.dumps(described, sort_keys=True).encode())
        for array in (*case.inputs, case.cotangent):
            # Not ascontiguousarray: it makes a 0-d array 1-d, and () would be (1,).
            array = np.asarray(array)
            digest.update(f"|{array.dtype.str}{array.shape}|".encode())
            digest.update(array.tobytes(order="C"))
    return digest.digest()


def references_for(cases: Sequence[Case], clock: StageClock | None = None) -> list[Reference]:
    """Return ``reference_for`` of each of ``cases``, answering for all of them in one call per oracle.

    The cases are of one op, with the same shapes and parameters (a drawn
    example's value sets): each oracle runs once on the operands stacked on
    a new leading axis (``OpSpec.batch``), which costs little more than one
    case. Programs, or a batch an oracle cannot stack, are answered one by one.
    With ``keep_references`` on, cases seen before are answered from memory.
    """
    kept = _KEPT
    if kept is None:
        return _answered(cases, clock)
    key = _contents(cases)
    with kept.lock:
        answers = kept.answers.get(key)
        if answers is not None:
            kept.answers.move_to_end(key)
            kept.hits += 1
    if answers is not None:
        if clock:
            clock.lap("tensorflow")
        return list(answers)
    answers = _answered(cases, clock)
    with kept.lock:
        kept.misses += 1
        kept.answers[key] = answers
        while len(kept.answers) > kept.entries:
            kept.answers.popitem(last=False)
    return list(answers)


def _answered(cases: Sequence[Case], clock: StageClock | None) -> list[Any]:
    if getattr(cases[0], "mode", None) is not None:
        # Derived cases (gradcheck.higher): order 2 or forward mode.
        from gradcheck.oracles._derived import derived_references

        return derived_references(cases, clock)
    if len(cases) > 1 and cases[0].kind == "op":
        try:
            return _stacked_answers(cases, clock)
        except Exception:  # noqa: BLE001 - answered one by one below, each case saying what went wrong
            pass
    return [reference_for(case, clock) for case in cases]


def _stacked_answers(cases: Sequence[Case], clock: StageClock | None) -> list[Reference]:
    first, sets = cases[0], len(cases)
    spec = OPS[first.op]
    views, params = spec.batch(first.shapes, first.params, sets)
    inputs = [
        np.stack([case.inputs[index] for case in cases]).reshape((sets, *view))
        for index, view in enumerate(views)
    ]
    output_shape = (sets, *first.cotangent.shape)

    def forward(*stacked: np.ndarray) -> np.ndarray:
        return np.asarray(spec.reference(*stacked, **params), dtype=np.float64).reshape(output_shape)

    cotangent = np.stack([case.cotangent for case in cases])
    tf_forward, tf_grads = vjp(
        lambda tf, *tensors: tf.reshape(spec.tensorflow(tf, *tensors, **params), output_shape),
        inputs, cotangent,
    )
    if clock:
        clock.lap("tensorflow")
    np_forward = forward(*inputs)
    agree = _forwards_agree(np_forward, tf_forward).reshape(sets, -1)
    rng = np.random.default_rng(case_seed(first))
    checks = directional_checks(forward, inputs, cotangent, tf_grads, rng, 2, np_forward)
    if clock:
        clock.lap("finite differences")
    return [
        _judged(
            case, tf_forward[index], [grad[index].reshape(shape) for grad, shape in zip(tf_grads, case.shapes)],
            forwards_agree=bool(agree[index].all()), check=checks[index],
        )
        for index, case in enumerate(cases)
    ]
