"""Diagnosis: name the bug class behind a minimal failing case, with the fix.

The last stage before the result model: given the case that failed (the
computation), the verdict's failure on it and the tolerance the check
compared with, ``diagnose`` returns one sentence or None. It dispatches on
the computation's ``kind``:

* ``"op"`` (``gradcheck.case.Case``): the recognizers (``RECOGNIZERS``),
  tried in order, most specific first; the first that fires gives the
  sentence. Each compares the engine's answer with the reference recomputed
  under one transformation a hand-written backward rule suffers. What is
  particular to an op (its right rule in words, its known wrong rules, the
  constant factors worth a name) is in its row of ``gradcheck.ops``.
* ``"program"`` (``gradcheck.program.ProgramCase``): the op to blame, from
  ``blame_steps``, or else the faulty traversal (``TRAVERSALS``) that
  reproduces the engine's gradient.
* ``"function"`` (``gradcheck.function_case.FunctionCase``): the recognizers
  that need no op's formula (``FUNCTION_RECOGNIZERS``).

Pure but for ``blame_steps`` (which runs the engine): no printing.
References are recomputed from the computation itself with NumPy or
``tf.GradientTape`` in float64.

.. code-block:: pycon

    >>> # the question's minimal case of matmul, the verdict's failure on it, the check's tolerance
    >>> print(diagnose(case, failure, tolerance))  # doctest: +SKIP
    The gradient w.r.t. a matches the reference with all axes of b reversed: ...
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Iterator, Sequence, Union

from gradcheck.case import Case
from gradcheck.diagnosis._consistency import Consistency, SelfConsistency, self_consistency
from gradcheck.diagnosis._evidence import Evidence
from gradcheck.diagnosis._functions import FUNCTION_RECOGNIZERS, FunctionEvidence
from gradcheck.diagnosis._ops import FACTOR_RTOL, RECOGNIZERS, Recognizer, describe_factor
from gradcheck.diagnosis._reruns import RERUNS, Rerun, explain_exception
from gradcheck.diagnosis._programs import TRAVERSALS, Traversal, blame_steps, diagnose_program
from gradcheck.function_case import FunctionCase
from gradcheck.ops import canonical_op
from gradcheck.program import ProgramCase, Step
from gradcheck.results import Failure
from gradcheck.tolerances import Tolerance

if TYPE_CHECKING:
    from gradcheck.engine import CheckedEngine

__all__ = [
    "FACTOR_RTOL",
    "FUNCTION_RECOGNIZERS",
    "RECOGNIZERS",
    "RERUNS",
    "TRAVERSALS",
    "Computation",
    "Consistency",
    "Evidence",
    "SelfConsistency",
    "Recognizer",
    "Rerun",
    "Traversal",
    "blame_steps",
    "describe_factor",
    "diagnose",
    "diagnoses",
    "explain",
    "self_consistency",
]

#: What failed: one op, a program of ops, or a user's function.
Computation = Union[Case, ProgramCase, FunctionCase]
#: A computation the recognizers look at: one op, or a user's function.
Recognizable = Union[Case, FunctionCase]


def diagnose(
    computation: Computation,
    failure: Failure,
    tolerance: Tolerance,
    *,
    culprits: Sequence[tuple[Step, Failure]] | None = None,
    engine: CheckedEngine | None = None,
    timeout: float | None = None,
) -> str | None:
    """Return a one-sentence guess at the bug behind ``failure`` of ``computation``, with the fix, or None.

    ``tolerance`` is the one the check compared with. For a program,
    ``culprits`` are ``blame_steps``'s findings on it (empty: every step
    passes alone). With ``engine`` (run with ``timeout``), a wrong forward
    value of an op is also checked for self-consistency: whether the engine's
    gradient is the derivative of the function its own forward computes.
    """
    if isinstance(computation, ProgramCase):
        if culprits is None:
            raise ValueError(
                "culprits=None: a program's diagnosis needs the steps that fail alone; "
                "pass culprits=blame_steps(engine, program, tolerance, timeout)."
            )
        return diagnose_program(computation, list(culprits), failure, tolerance)
    return _told(computation, failure, tolerance, engine, timeout)[0]


def _told(
    computation: Recognizable, failure: Failure, tolerance: Tolerance,
    engine: CheckedEngine | None, timeout: float | None,
) -> tuple[str | None, str | None]:
    """Return the diagnosis of one failure and its cause (None: no single wrong rule named)."""
    _, sentence, cause = next(_sentences(computation, failure, tolerance), (None, None, None))
    if sentence is None and engine is not None and isinstance(computation, Case):
        name = canonical_op(computation.op)
        if name is not None:
            rerun = explain_exception(engine, dataclasses.replace(computation, op=name), failure, tolerance, timeout)
            if rerun is not None:
                sentence, cause = rerun
    return _with_consistency(sentence, computation, failure, engine, timeout), cause


def _with_consistency(
    sentence: str | None, computation: Recognizable, failure: Failure,
    engine: CheckedEngine | None, timeout: float | None,
) -> str | None:
    """Return ``sentence`` followed by what self-consistency says of a wrong forward value, if it says anything."""
    if failure.category != "forward" or engine is None or not isinstance(computation, Case):
        return sentence
    found = self_consistency(engine, computation, timeout)
    if found is None:
        return sentence
    told = _CONSISTENCY_SENTENCES[found.consistency].format(
        directions=found.directions, wrt=found.wrt,
        fd=_number(found.finite_difference), grad=_number(found.gradient),
    )
    return told if sentence is None else f"{sentence} {told}"


_CONSISTENCY_SENTENCES = {
    Consistency.OWN: (
        "The engine's gradient equals finite differences of its own forward at these inputs "
        "({directions} directions per input): your gradient is right for the function your "
        "forward computes: fix the forward."
    ),
    Consistency.REFERENCE: (
        "The engine's gradient is the reference's, not the derivative of its own forward (along one "
        "direction of {wrt}, finite differences of the forward give {fd}, the gradient {grad}): the "
        "backward is already right: fix the forward."
    ),
    Consistency.NEITHER: (
        "The engine's gradient is not the derivative of its own forward either (along one direction "
        "of {wrt}, finite differences of the forward give {fd}, the gradient {grad}): both are "
        "wrong: fix the forward, then check the gradient again."
    ),
}


def _number(value: float | None) -> str:
    return "?" if value is None else f"{value:.6g}"


def diagnoses(computation: Recognizable, failure: Failure, tolerance: Tolerance) -> list[tuple[str, str]]:
    """Return ``(recognizer name, sentence)`` for every recognizer that fires, table order.

    ``diagnose`` keeps the first; the rest show where bug classes overlap on a case.
    """
    return [(name, sentence) for name, sentence, _ in _sentences(computation, failure, tolerance)]


#: Gradient failures a wrong forward can explain (the derivative of the wrong function).
_FORWARD_CONSEQUENCES = frozenset({"mismatch", "shape"})


def explain(
    failing: Sequence[tuple[Recognizable, Failure]],
    tolerance: Tolerance,
    *,
    engine: CheckedEngine | None = None,
    timeout: float | None = None,
) -> list[Failure]:
    """Return the failures of one check, diagnosed, one per bug: consequences grouped under their cause.

    ``failing`` holds each minimal failure with its case, headline first.
    Two failures are one bug when the recognizers that fire on each case
    reproduce it with the same wrong rule (``Recognizer.cause``): the later
    one goes into the first one's ``also_seen_as``. Descriptions that name no
    single rule (a sign, a factor) never group. With ``engine``, a gradient
    failure of a check whose forward failed is dropped when, on its own case,
    the engine's gradient is the derivative of its own forward: the wrong
    forward is the whole bug (its diagnosis says so).
    """
    has_forward = any(failure.category == "forward" for _, failure in failing)
    told: list[tuple[Failure, str | None]] = []
    for case, failure in failing:
        if (
            has_forward and engine is not None and failure.category in _FORWARD_CONSEQUENCES
            and isinstance(case, Case) and _right_for_own_forward(engine, case, timeout)
        ):
            continue
        sentence, cause = _told(case, failure, tolerance, engine, timeout)
        told.append((dataclasses.replace(failure, diagnosis=sentence), cause))
    grouped: list[tuple[Failure, str | None, list[Failure]]] = []
    for failure, cause in told:
        main = next((entry for entry in grouped if cause is not None and entry[1] == cause), None)
        if main is None:
            grouped.append((failure, cause, []))
        else:
            main[2].append(failure)
    return [
        dataclasses.replace(failure, also_seen_as=tuple(also)) if also else failure
        for failure, _, also in grouped
    ]


def _right_for_own_forward(engine: CheckedEngine, case: Case, timeout: float | None) -> bool:
    found = self_consistency(engine, case, timeout)
    return found is not None and found.consistency is Consistency.OWN


def _sentences(
    computation: Recognizable, failure: Failure, tolerance: Tolerance
) -> Iterator[tuple[str, str, str | None]]:
    if isinstance(computation, FunctionCase):
        evidence: Evidence = FunctionEvidence(computation, failure, tolerance)
        recognizers = FUNCTION_RECOGNIZERS
    elif isinstance(computation, Case):
        name = canonical_op(computation.op)
        if name is None:
            return  # no op gradcheck knows: no formula to recompute
        evidence = Evidence(dataclasses.replace(computation, op=name), failure, tolerance)
        recognizers = RECOGNIZERS
    else:
        raise ValueError(f"computation.kind={computation.kind!r} has no recognizers; use 'op' or 'function'.")
    for recognizer in recognizers:
        found = recognizer.explain(evidence)
        if found is not None:
            yield recognizer.name, found[0], found[1]
