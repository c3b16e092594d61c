"""Call labels: messages name the calls as the thing being run names them.

An engine says ``variable()``, ``value()``, ``grad()`` and "the engine"; an
object run as one (a user's function, ``gradcheck.function``) gives its own
``call_labels``, and every message made about it uses those, where it is made.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from gradcheck.case import Case
from gradcheck.execution import ENGINE_LABELS, CallLabels, call_labels, run_engine
from gradcheck.oracles import Reference
from gradcheck.tolerances import DEFAULT_TOLERANCES
from gradcheck.verdict import judge

FUNCTION_LABELS = CallLabels(
    value="softplus()'s output", grad="softplus_vjp()", runner="the function"
)


class FaultyEngine:
    """``negative`` only, whose ``value`` or ``grad`` goes wrong as ``fault`` says."""

    dtype = "float64"

    def __init__(self, fault: str, labels: CallLabels | None) -> None:
        self.fault = fault
        self.calls = 0
        self.ops = {"negative": lambda x: -x}
        if labels is not None:
            self.call_labels = labels

    def variable(self, array: np.ndarray) -> np.ndarray:
        return array

    def value(self, y: np.ndarray) -> np.ndarray:
        if self.fault == "value raises":
            raise ValueError("no value")
        return y

    def grad(self, y: np.ndarray, xs: list[np.ndarray], cotangent: np.ndarray) -> list[np.ndarray]:
        self.calls += 1
        if self.fault == "grad raises":
            print("about to fail")
            raise ValueError("no gradient")
        if self.fault == "grad hangs":
            time.sleep(5)
        if self.fault == "grad writes":
            cotangent[...] = 7.0
        if self.fault == "grad keeps state":
            return [-cotangent * self.calls]
        if self.fault == "grad returns two":
            return [-cotangent, -cotangent]
        return [-cotangent]


def _case() -> Case:
    return Case("negative", ("x",), (np.array([1.0, 2.0]),), cotangent=np.array([1.0, -1.0]))


def _failure(fault: str, labels: CallLabels | None):
    case = _case()
    outcome = run_engine(FaultyEngine(fault, labels), case, timeout=0.2)
    reference = Reference(forward=-case.inputs[0], grads=(-case.cotangent,))
    return judge(case, outcome, reference, DEFAULT_TOLERANCES["float64"])


MESSAGES = [
    pytest.param("grad raises", "exception", "{grad} raised ValueError", id="exception"),
    pytest.param("value raises", "exception", "{value} raised ValueError", id="value-exception"),
    pytest.param("grad hangs", "timeout", "{grad} did not return within 0.2 s", id="timeout"),
    pytest.param("grad writes", "mutation", "{grad} wrote into the array it was handed for the cotangent",
                 id="mutation"),
    pytest.param("grad keeps state", "nondeterministic",
                 "the same case, run twice on fresh variables, gave different answers: the gradient "
                 "w.r.t. x at index (0,) was -1.0 the first time and -2.0 the second, a difference of 1; "
                 "summing the entry's 1 term(s) in any order moves it by at most 1.42e-14; {runner} keeps "
                 "state from one call to the next (gradients not reset? a cache keyed on id()? a tape "
                 "that keeps growing?)", id="state"),
    pytest.param("grad returns two", "shape", "{grad} returned 2 gradient(s) for 1 input(s)", id="count"),
]


@pytest.mark.parametrize("labels", [None, FUNCTION_LABELS], ids=["engine", "function"])
@pytest.mark.parametrize("fault, category, message", MESSAGES)
def test_messages_name_calls_by_the_runs_labels(fault: str, category: str, message: str, labels):
    words = labels or ENGINE_LABELS
    failure = _failure(fault, labels)
    assert failure is not None and failure.category == category
    assert failure.message == message.format(grad=words.grad, value=words.value, runner=words.runner)


def test_an_engine_without_labels_gets_todays_words():
    assert call_labels(FaultyEngine("", None)) == ENGINE_LABELS
    assert (ENGINE_LABELS.variable, ENGINE_LABELS.value, ENGINE_LABELS.grad, ENGINE_LABELS.runner) == (
        "variable()", "value()", "grad()", "the engine"
    )
    assert _failure("grad raises", None).message == "grad() raised ValueError"


@pytest.mark.parametrize("labels", [None, FUNCTION_LABELS], ids=["engine", "function"])
def test_what_it_printed_is_headed_by_the_runs_name(labels):
    words = labels or ENGINE_LABELS
    detail = _failure("grad raises", labels).detail
    assert f"--- {words.runner} printed ---\nabout to fail" in detail


def test_labels_of_another_type_are_ignored():
    engine = FaultyEngine("", None)
    engine.call_labels = {"grad": "mine()"}  # not CallLabels: an engine's own attribute, not gradcheck's
    assert call_labels(engine) == ENGINE_LABELS
