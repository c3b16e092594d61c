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
from typing import Iterator, Sequence, Union

from gradcheck.case import Case
from gradcheck.diagnosis._evidence import Evidence
from gradcheck.diagnosis._functions import FUNCTION_RECOGNIZERS, FunctionEvidence
from gradcheck.diagnosis._ops import FACTOR_RTOL, RECOGNIZERS, Recognizer, describe_factor
from gradcheck.diagnosis._programs import TRAVERSALS, Traversal, blame_steps, diagnose_program
from gradcheck.function_case import FunctionCase
from gradcheck.ops import canonical_op
from gradcheck.program import ProgramCase, Step
from gradcheck.results import Failure
from gradcheck.tolerances import Tolerance

__all__ = [
    "FACTOR_RTOL",
    "FUNCTION_RECOGNIZERS",
    "RECOGNIZERS",
    "TRAVERSALS",
    "Computation",
    "Evidence",
    "Recognizer",
    "Traversal",
    "blame_steps",
    "describe_factor",
    "diagnose",
    "diagnoses",
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
) -> str | None:
    """Return a one-sentence guess at the bug behind ``failure`` of ``computation``, with the fix, or None.

    ``tolerance`` is the one the check compared with. For a program,
    ``culprits`` are ``blame_steps``'s findings on it (empty: every step
    passes alone).
    """
    if isinstance(computation, ProgramCase):
        if culprits is None:
            raise ValueError(
                "culprits=None: a program's diagnosis needs the steps that fail alone; "
                "pass culprits=blame_steps(engine, program, tolerance, timeout)."
            )
        return diagnose_program(computation, list(culprits), failure, tolerance)
    return next(_sentences(computation, failure, tolerance), (None, None))[1]


def diagnoses(computation: Recognizable, failure: Failure, tolerance: Tolerance) -> list[tuple[str, str]]:
    """Return ``(recognizer name, sentence)`` for every recognizer that fires, table order.

    ``diagnose`` keeps the first; the rest show where bug classes overlap on a case.
    """
    return list(_sentences(computation, failure, tolerance))


def _sentences(computation: Recognizable, failure: Failure, tolerance: Tolerance) -> Iterator[tuple[str, str]]:
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
        sentence = recognizer.recognize(evidence)
        if sentence is not None:
            yield recognizer.name, sentence
