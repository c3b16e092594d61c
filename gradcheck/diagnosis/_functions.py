"""A user's function (``gradcheck.check_function``): the recognizers that need no op's formula."""

from __future__ import annotations

import dataclasses
from functools import cached_property
from typing import Any

import numpy as np

from gradcheck.diagnosis._evidence import Evidence, Fields, sum_to
from gradcheck.diagnosis._ops import RECOGNIZERS, SUM_BACK, Recognizer

__all__ = ["FUNCTION_RECOGNIZERS", "FunctionEvidence"]


class FunctionEvidence(Evidence):
    """Evidence on a user's function: its failure's own numbers, no formula to recompute them with.

    Only the recognizers that need no op's formula apply: a sign, a constant
    factor, zeros, a gradient of the wrong shape, ...
    """

    @cached_property
    def output(self) -> np.ndarray:
        # Only its shape is used, and the cotangent has it: no call into the user's code.
        return np.zeros(np.shape(self.g))

    def vjp(self, **changes: Any) -> list[np.ndarray]:
        raise LookupError("a user's function has no formula to recompute its gradient with")

    def rule(self, operand: int | None) -> str:
        return "the expected gradient"

    def factors(self) -> list[tuple[float, str]]:
        return []  # a user's function is no op, even when it shares an op's name


def _summed_back(evidence: Evidence) -> Fields | None:
    """Fire when a gradient of the wrong shape, summed down to its input's shape, is the reference."""
    if evidence.actual is None or evidence.wrt is None or evidence.actual.shape == evidence.x.shape:
        return None
    try:
        summed = sum_to(evidence.actual, evidence.x.shape)
    except ValueError:
        return None
    if evidence.expected is None or not evidence.close(summed, evidence.expected):
        return None
    leading = evidence.actual.ndim - evidence.x.ndim
    axes = tuple(range(leading)) + tuple(
        leading + axis for axis, size in enumerate(evidence.x.shape)
        if size == 1 and evidence.actual.shape[leading + axis] != 1
    )
    return {"axes": axes}


def _informative(match: Any) -> Any:
    """Return ``match`` firing only where its evidence is more than a coincidence of a tiny case.

    A function has no formula to say what a rule would give: "equals the
    cotangent" is only evidence when there are several entries and the
    cotangent is not one constant (on a single entry, or all ones, any rule
    that happens to give that number would "match"; an off-by-one conv window
    on a 1-element case was told as "the cotangent passed through").
    """

    def guarded(evidence: Evidence) -> Fields | None:
        g = np.asarray(evidence.g)
        if g.size < 2 or np.all(g == g.flat[0]) or evidence.actual is None or evidence.actual.size < 2:
            return None
        return match(evidence)

    return guarded


# What a function's evidence can say: the numbers, not an op's rule it has not got.
_FUNCTION_WORDING = {
    "passed_through": (
        "{subject} equals the cotangent itself where the reference differs: the VJP returns the "
        "incoming gradient without multiplying it by the function's derivative."
    ),
    "zero_gradient": "{subject} is all zeros where the reference is not.",
}


def _for_functions(recognizer: Recognizer) -> Recognizer:
    if recognizer.name == "passed_through":
        return dataclasses.replace(recognizer, match=_informative(recognizer.match),
                                   template=_FUNCTION_WORDING[recognizer.name])
    if recognizer.name in _FUNCTION_WORDING:
        return dataclasses.replace(recognizer, template=_FUNCTION_WORDING[recognizer.name])
    return recognizer


#: The recognizers for a user's function: those that need no op's formula, most specific first.
FUNCTION_RECOGNIZERS: tuple[Recognizer, ...] = (
    Recognizer(
        "not_summed_over_broadcast_axes", frozenset({"shape"}), None, _summed_back,
        "{subject} has the broadcast shape {actual_shape} where {wrt} has {shape}: {wrt} is broadcast "
        "in the forward pass and its gradient was not summed over the broadcast axes {axes}; " + SUM_BACK,
    ),
    *(_for_functions(recognizer) for recognizer in RECOGNIZERS if recognizer.ops is None),
)
