"""Verdicts: compare what the engine computed with the reference, name what is wrong.

Pure comparison: no engine calls, no oracle calls, no printing. The categories
are docs/contract.md's section 3.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from gradcheck.case import Computation
from gradcheck.execution import EngineOutcome
from gradcheck.oracles import Reference
from gradcheck.program import ProgramCase
from gradcheck.results import ArrayRecord, Failure
from gradcheck.tolerances import Tolerance, allowed_error

__all__ = ["compare", "failure_for", "judge", "judged_forward"]


def _records(case: Computation) -> tuple[ArrayRecord, ...]:
    return tuple(ArrayRecord(name, x, case.dtype) for name, x in zip(case.names, case.inputs))


def failure_for(case: Computation, category: str, message: str, **fields: Any) -> Failure:
    """Return a Failure of ``category`` on ``case``: its inputs, parameters and cotangent, and ``fields``."""
    mode = getattr(case, "mode", None)
    if mode is not None:
        # A derived case (gradcheck.higher): its mode and directions, then its base's.
        fields = {"mode": mode, "directions": tuple(
            ArrayRecord(name, d, case.dtype) for name, d in zip(case.names, case.directions)),  # type: ignore[attr-defined]
            **fields}
        case = case.base  # type: ignore[attr-defined]
    if isinstance(case, ProgramCase):
        # Shown as code, replayed from the steps: both from the program itself.
        fields = {"program": case.code(), "steps": case.printed_steps(), **fields}
    return Failure(
        category=category,
        message=message,
        inputs=_records(case),
        params=dict(case.params),
        cotangent=case.cotangent,
        **fields,
    )


def compare(
    case: Computation,
    actual: np.ndarray,
    expected: np.ndarray,
    tolerance: Tolerance,
    terms: int,
    what: str,
    wrt: str | None,
    category: str | None = None,
    slack: np.ndarray | None = None,
) -> Failure | None:
    """Return a failure if ``actual`` differs from ``expected`` (same shape) beyond tolerance.

    Its category is ``category``, else ``forward`` for the forward value (no ``wrt``) and
    ``mismatch`` for a gradient. ``slack``, entry by entry, widens the bound to at least
    it (the rounding the dtype itself makes on this case: gradcheck.higher)."""
    actual64 = actual.astype(np.float64)
    error = np.abs(actual64 - expected)
    bound = allowed_error(expected, tolerance, terms)
    if slack is not None:
        bound = np.maximum(bound, slack)
    if (error <= bound).all():
        return None  # the common case; NaN or inf anywhere fails this and is looked at below
    finite = np.isfinite(expected)
    if np.any(~np.isfinite(actual64) & finite):
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(actual64) & finite)[0])
        return failure_for(
            case, "nonfinite", f"{what} has NaN or inf where the reference is finite",
            wrt=wrt, expected=expected, actual=actual64, worst_index=index,
        )
    excess = np.where(finite, error / bound, 0.0)
    if not np.any(excess > 1.0):
        return None
    index = tuple(int(i) for i in np.unravel_index(int(np.argmax(excess)), excess.shape))
    category = category or ("forward" if wrt is None else "mismatch")
    return failure_for(
        case, category, f"{what} differs from the reference",
        wrt=wrt, expected=expected, actual=actual64,
        max_abs_error=float(np.max(np.where(finite, error, 0.0))),
        worst_index=index, tolerance=float(bound[index]),
    )


def _judged_failure(case: Computation, outcome: EngineOutcome) -> Failure | None:
    """Return the failure the engine's calls ran into on ``case`` (with what it printed), or None."""
    if outcome.failure is None:
        return None
    category, message, detail = outcome.failure
    if outcome.output:
        detail = f"{detail or ''}\n--- {outcome.labels.runner} printed ---\n{outcome.output}".lstrip("\n")
    return failure_for(case, category, message, detail=detail)


def judged_forward(
    case: Computation, outcome: EngineOutcome, expected_forward: np.ndarray, tolerance: Tolerance,
) -> tuple[Failure | None, Tolerance]:
    """Return what is wrong up to the forward value (a failed call, the forward's shape or values), or None,
    and the tolerance the rest of the case is judged with (its floor times the case's conditioning)."""
    early = _judged_failure(case, outcome)
    if early is not None:
        return early, tolerance
    forward = outcome.forward
    assert forward is not None  # an outcome without a failure has one
    conditioning = case.conditioning()
    if conditioning > 1.0:
        # Rounding reaches this many times the usual absolute floor here, whatever
        # size the entries end up (layer_norm of a row far from 0: docs/tolerances.md).
        tolerance = dataclasses.replace(tolerance, floor=tolerance.floor * conditioning)
    if forward.shape != expected_forward.shape:
        return failure_for(
            case, "forward",
            f"the forward value has shape {forward.shape}, expected {expected_forward.shape}",
            expected=expected_forward, actual=forward.astype(np.float64),
        ), tolerance
    return compare(
        case, forward, expected_forward, tolerance, case.terms(forward.shape), "the forward value", None
    ), tolerance


def judge(case: Computation, outcome: EngineOutcome, reference: Reference, tolerance: Tolerance) -> Failure | None:
    """Return the first thing wrong with the engine's answer to ``case``, or None."""
    own = getattr(case, "judge", None)
    if own is not None:
        # A derived case (gradcheck.higher) judges what its mode computes.
        return own(outcome, reference, tolerance)
    failure, tolerance = judged_forward(case, outcome, reference.forward, tolerance)
    if failure is not None:
        return failure
    forward, expected_forward, grads = outcome.forward, reference.forward, outcome.grads
    assert forward is not None and grads is not None  # an outcome without a failure has both

    if len(grads) != len(case.inputs):
        return failure_for(
            case, "shape",
            f"{outcome.labels.grad} returned {len(grads)} gradient(s) for {len(case.inputs)} input(s)",
        )
    for index, (name, x, grad, expected) in enumerate(zip(case.names, case.inputs, grads, reference.grads)):
        if grad.shape != x.shape:
            return failure_for(
                case, "shape",
                f"the gradient w.r.t. {name} has shape {grad.shape}, expected {x.shape} (the shape of {name})",
                wrt=name, expected=expected, actual=grad.astype(np.float64),
            )
        terms = case.terms(expected_forward.shape, wrt=index)
        failure = compare(case, grad, expected, tolerance, terms, f"the gradient w.r.t. {name}", name)
        if failure is not None:
            return failure
    return None
