"""The user's function and gradient run as an engine is run, and judged as an engine's answer is.

``FunctionEngine`` is what ``gradcheck.execution.run_engine`` calls: ``fn``
is the forward, ``grad_fn`` (or TensorFlow's tape of ``fn``) the gradient.
Its ``call_labels`` name those calls in every message as the user knows them
(``softplus_vjp()``, ``softplus()'s output``, "the function") where an
engine's say ``grad()``, ``value()``, "the engine".
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from gradcheck.errors import UsageError
from gradcheck.execution import CallLabels, run_engine
from gradcheck.function_case import FunctionCase, Taped, UserFunction
from gradcheck.oracles import Reference, function_reference
from gradcheck.results import Failure
from gradcheck.verdict import failure_for, judge

__all__ = ["FunctionEngine", "evaluator", "reference"]


class FunctionEngine:
    """The user's function and gradient, shaped as ``gradcheck.execution.run_engine`` calls an engine."""

    def __init__(self, function: UserFunction, dtype: str) -> None:
        self.function = function
        self.dtype = np.dtype(dtype)
        self.call_labels = CallLabels(
            variable="variable()",  # never fails: the arrays are handed as they are
            value=f"{function.name}()'s output",
            grad=function.gradient_label,
            runner="the function",
        )

    def variable(self, array: np.ndarray) -> np.ndarray:
        return array  # the arrays themselves: a function that writes into one is caught

    def forward(self, *xs: np.ndarray) -> Any:
        if self.function.uses_tape:
            return Taped(self.function.fn, xs)
        return self.function.fn(*xs)

    def value(self, y: Any) -> Any:
        return y.output if isinstance(y, Taped) else y

    def grad(self, y: Any, xs: list[np.ndarray], cotangent: np.ndarray) -> list[Any]:
        if isinstance(y, Taped):
            return y.dense_vjp(cotangent)
        grads = self.function.grad_fn(*xs, cotangent)  # type: ignore[misc]
        return list(grads) if isinstance(grads, (list, tuple)) else [grads]


def evaluator(function: UserFunction, dtype: str) -> Callable[..., Failure | None]:
    """Return the search's ``evaluate``: run ``function`` on a case and judge its answer."""
    engine = FunctionEngine(function, dtype)

    def evaluate(case: FunctionCase, reference: Reference, clock: Any = None, repeat: bool = True) -> Failure | None:
        if function.uses_tape and case.draw_failure is None and not case.output_is_tensor:
            raise UsageError(
                f"without grad_fn the gradient under test is TensorFlow's tape gradient of "
                f"{function.name}() (its tf.custom_gradient), but {function.name}() did not return a "
                f"tf.Tensor on {case.describe()}: give grad_fn (--grad), the hand-written gradient to check."
            )
        outcome = run_engine(engine, case, function.timeout, repeat)
        if clock is not None:
            clock.lap("engine")
        if outcome.failure is None:
            if case.draw_failure is not None:
                # fn works in the engine's dtype but failed on the float64 inputs of the references.
                category, message, detail = case.draw_failure
                return failure_for(case, category, f"{message} on the float64 inputs", detail=detail)
            if not function.checks_forward:
                outcome.forward = reference.forward  # no reference_fn: nothing to check it against
        failure = judge(case, outcome, reference, function.tolerance_for(dtype))
        if clock is not None:
            clock.lap("comparison")
        return failure

    return evaluate


def reference(case: FunctionCase, clock: Any) -> Reference:
    """Return the search's reference for ``case``: finite differences of ``fn``, or TensorFlow's gradient."""
    result = function_reference(case)
    clock.lap("finite differences")
    return result
