"""Evidence: a failed case, the verdict on it, and what "matches" means.

Built from the computation that failed (its inputs, parameters, cotangent and
dtype) and the verdict's fields of its failure (expected, actual, wrt,
message, detail); comparisons use the tolerance the check ran with.
"""

from __future__ import annotations

import dataclasses
from functools import cached_property
from typing import Any

import numpy as np

from gradcheck.case import Case
from gradcheck.function_case import FunctionCase
from gradcheck.ops import OPS
from gradcheck.results import Failure
from gradcheck.tolerances import Tolerance, allowed_error

__all__ = ["BROADCASTING", "MATMUL", "Evidence", "Fields", "broadcast_target", "sum_to"]

#: What a recognizer adds to its sentence's fields when it fires.
Fields = dict[str, Any]

# Op groups read off the op table: an operand broadcast to the output shape
# has its gradient summed back.
BROADCASTING = frozenset(
    name for name, spec in OPS.items()
    if spec.shapes == "broadcast" or spec.param_rule == "broadcast_target"
)
MATMUL = frozenset(name for name, spec in OPS.items() if spec.shapes == "matmul")


class Evidence:
    """What recognizers look at: one failed case of an op, with references recomputed on demand.

    Everything is computed lazily and at most once, so a recognizer that does
    not apply costs nothing. ``matches`` is the one notion of "equal" every
    recognizer uses: the verdict's bound under the check's tolerance.
    """

    def __init__(self, case: Case | FunctionCase, failure: Failure, tolerance: Tolerance) -> None:
        self.case = case
        self.failure = failure
        self.tolerance = tolerance
        self.op = case.op
        self.names = case.names
        self.inputs = case.inputs
        self.params = case.params
        self.g = case.cotangent
        self.wrt = self.names.index(failure.wrt) if failure.wrt in self.names else None
        self.expected = None if failure.expected is None else np.asarray(failure.expected, np.float64)
        self.actual = None if failure.actual is None else np.asarray(failure.actual, np.float64)

    @property
    def operand(self) -> int:
        """The index of the operand the failing gradient is taken with respect to.

        LookupError when the failure names none (a forward value, an exception):
        only the recognizers of gradient failures read it.
        """
        if self.wrt is None:
            raise LookupError(f"the {self.failure.category} failure names no operand")
        return self.wrt

    @property
    def expected_value(self) -> np.ndarray:
        """The verdict's reference value; LookupError when the failure carries none (see ``wrong``)."""
        if self.expected is None:
            raise LookupError(f"the {self.failure.category} failure carries no expected value")
        return self.expected

    @property
    def actual_value(self) -> np.ndarray:
        """The engine's answer; LookupError when the failure carries none (an exception)."""
        if self.actual is None:
            raise LookupError(f"the {self.failure.category} failure carries no actual value")
        return self.actual

    @cached_property
    def output(self) -> np.ndarray:
        """The reference forward value (NumPy, float64)."""
        return np.asarray(self.case.reference(*self.inputs), dtype=np.float64)

    @cached_property
    def x(self) -> np.ndarray:
        """The operand the failing gradient is taken with respect to."""
        return self.inputs[self.operand]

    @cached_property
    def reference_grads(self) -> list[np.ndarray]:
        """The reference gradient of every operand (TensorFlow, float64)."""
        return self.vjp()

    def vjp(self, **changes: Any) -> list[np.ndarray]:
        """Return the reference VJP of the case with ``changes`` (op, params, cotangent) applied."""
        from gradcheck.oracles import tensorflow_vjp

        if not isinstance(self.case, Case):
            raise LookupError("only an op's case has a formula to recompute its gradient with")
        return tensorflow_vjp(dataclasses.replace(self.case, **changes))[1]

    @cached_property
    def terms(self) -> int:
        return self.case.terms(self.output.shape, self.wrt)

    def close(self, value: np.ndarray, reference: np.ndarray) -> bool:
        """Return whether ``value`` equals ``reference`` within the verdict's bound on ``reference``."""
        if np.shape(value) != np.shape(reference):
            return False
        bound = allowed_error(reference, self.tolerance, self.terms)
        return bool(np.all(np.abs(value - reference) <= bound))

    def matches(self, candidate: np.ndarray | None) -> bool:
        """Return whether the engine's answer is ``candidate`` (a transformed reference)."""
        return self.actual is not None and candidate is not None and self.close(self.actual, candidate)

    @cached_property
    def wrong(self) -> bool:
        """Whether the engine's answer differs from the untransformed reference."""
        return self.expected is not None and not self.matches(self.expected)

    @cached_property
    def fields(self) -> Fields:
        """The fields every sentence may use."""
        wrt = self.failure.wrt
        return {
            "op": self.op,
            "wrt": wrt,
            "subject": f"The gradient w.r.t. {wrt}" if wrt else "The forward value",
            "shape": None if self.wrt is None else self.x.shape,
            "actual_shape": None if self.actual is None else self.actual.shape,
            "rule": self.rule(self.wrt),
        }

    def rule(self, operand: int | None) -> str:
        """Return the right VJP of ``operand`` in words, saying so when it is summed back to shape."""
        if operand is None:
            return "the reference VJP"
        rule = OPS[self.op].rule(operand)
        target = broadcast_target(self, operand)
        shape = self.inputs[operand].shape
        if target is not None and target != shape:
            return f"{rule}, summed back to {self.names[operand]}'s shape {shape}"
        return rule

    def factors(self) -> list[tuple[float, str]]:
        """Return the constant factors with a meaning for this op (``OpSpec.factors``), phrases unformatted."""
        factors = OPS[self.op].factors
        return [] if factors is None else factors(self.case.shapes, self.output.shape, self.params)


def sum_to(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``g`` down to ``shape`` as an unbroadcast does; ValueError if ``shape`` never broadcast to it."""
    leading = g.ndim - len(shape)
    if leading < 0:
        raise ValueError(f"cannot sum shape {g.shape} down to {shape}")
    g = np.sum(g, axis=tuple(range(leading)))
    stretched = tuple(axis for axis, size in enumerate(shape) if size == 1 and g.shape[axis] != 1)
    g = np.sum(g, axis=stretched, keepdims=True)
    if g.shape != tuple(shape):
        raise ValueError(f"cannot sum shape {g.shape} down to {shape}")
    return g


def broadcast_target(evidence: Evidence, operand: int) -> tuple[int, ...] | None:
    """Return the shape ``operand`` was broadcast to in the forward pass, or None if it never is."""
    shape = evidence.inputs[operand].shape
    if evidence.op in BROADCASTING:
        return evidence.output.shape
    if evidence.op in MATMUL and len(shape) >= 2:
        # Batch axes broadcast; the matrix axes are the operand's own.
        batches = [x.shape[:-2] for x in evidence.inputs if x.ndim >= 2]
        return tuple(np.broadcast_shapes(*batches)) + shape[-2:]
    return None
