"""The search: Hypothesis draws examples, each failure category shrinks on its own.

Every check (an op, composite programs, a user's function) is one call of
:func:`search` with a strategy of computations and an ``evaluate`` that runs
the engine and judges its answer. A failure is raised as an exception whose
*type* is its category, so Hypothesis treats each category as a distinct bug
and shrinks each one separately: an engine that raises on 1-D operands *and*
transposes the wrong axes gets both reported, each on its own smallest case.
The search runs in rounds, each letting the categories already found pass.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from gradcheck._budget import COSTLY, CostBudget
from gradcheck._timing import StageClock
from gradcheck.results import CATEGORIES, CheckResult, Failure

__all__ = ["SearchState", "check_result", "search"]


class _CaseFailed(Exception):
    """Raised inside the Hypothesis test for a failing case; carries the Failure and the case."""

    def __init__(self, failure: Failure, case: Any) -> None:
        super().__init__(failure.message)
        self.failure = failure
        self.case = case


# One exception type per category: Hypothesis tells bugs apart by exception
# type and raise site, so each category is shrunk on its own.
_FAILURE_TYPES: dict[str, type[_CaseFailed]] = {
    category: type(f"Gradcheck{category.capitalize()}Failure", (_CaseFailed,), {})
    for category in CATEGORIES
}


@dataclass
class SearchState:
    """What a search found so far: counts, the minimal failure of each category and its case."""

    examples: int = 0
    cases: int = 0
    disagreements: int = 0
    oracle_note: str | None = None
    failures: dict[str, Failure] = field(default_factory=dict)
    # The computation behind each failure, by category: what diagnosis looks at.
    failing_cases: dict[str, Any] = field(default_factory=dict)
    clock: StageClock = field(default_factory=StageClock)


def _failures_from(exc: BaseException) -> list[tuple[Failure, Any]]:
    """Return the failures carried by ``exc`` (a _CaseFailed or a group of them), each with its case."""
    if isinstance(exc, _CaseFailed):
        return [(exc.failure, exc.case)]
    found: list[tuple[Failure, Any]] = []
    for inner in getattr(exc, "exceptions", ()):
        found.extend(_failures_from(inner))
    return found


def search(
    strategy: Any,
    evaluate: Callable[[Any, Any, StageClock, bool], Failure | None],
    *,
    max_examples: int,
    seed: int,
    reference: Callable[[Any, StageClock], Any] | None = None,
    prepare: Callable[[Sequence[Any]], None] | None = None,
    budget: CostBudget | None = None,
) -> SearchState:
    """Search ``strategy`` for cases ``evaluate`` fails; shrink each failure category.

    ``evaluate(case, reference, clock, repeat)`` returns the engine's failure
    on a case whose oracles agree, or None, charging its stages to ``clock``;
    ``repeat`` says whether to run the engine twice on it (the first case of
    each example). An example is a case or a ``CaseBatch`` of cases with the
    same shapes, tried in order. ``reference(case, clock)`` gives the
    oracles' answer (default: ``gradcheck.oracles.references_for``, TensorFlow
    cross-checked by finite differences, for a whole batch at once).
    ``prepare(cases)``, if given, is called with each example's cases before
    they are evaluated (to run an isolated engine on all of them at once). The
    search runs in rounds: each round lets the
    categories already found pass, so it goes on to the next kind of bug
    instead of re-finding this one, until a round finds nothing new.
    ``budget`` bounds what timeouts and crashes cost after the first
    (``gradcheck._budget``; the caller's calls take its ``limit``); without
    one, the calls keep their own limit and only their cost is bounded.
    """
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis.errors import Flaky

    from gradcheck.case import CaseBatch
    from gradcheck.oracles import references_for

    def references(cases: Sequence[Any], clock: StageClock) -> list[Any]:
        if reference is None:
            return references_for(cases, clock)
        return [reference(case, clock) for case in cases]

    state = SearchState()
    clock = state.clock
    known: set[str] = set()
    budget = budget or CostBudget(None, shortens=False)

    def verdict(failure: Failure | None, case: Any) -> bool:
        """Raise a new failure; return whether the example should stop here (a costly one known)."""
        if failure is not None and failure.category not in known:
            raise _FAILURE_TYPES[failure.category](failure, case)
        return failure is not None and failure.category in COSTLY

    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=False,
        verbosity=Verbosity.quiet,
        print_blob=False,
        report_multiple_bugs=True,
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def check_example(example: Any) -> None:
        cases = example if isinstance(example, CaseBatch) else (example,)
        if budget.exhausted:
            # Timeouts and crashes spent this check's budget: no case is run,
            # but a failure already seen is raised again for Hypothesis's replays.
            for case in cases:
                if verdict(budget.seen(case, costly_only=False), case):
                    return
            return
        state.examples += 1
        state.cases += len(cases)
        clock.reset()
        answers = references(cases, clock)
        # The cases up to one already seen to time out or crash: the example stops there.
        runnable = next((i for i, case in enumerate(cases) if budget.seen(case, costly_only=True)), len(cases))
        if prepare is not None and runnable:
            prepare(cases[:runnable])
        for index, (case, reference) in enumerate(zip(cases, answers)):
            if not reference.agrees:
                # The oracles disagree: the harness's problem, never the engine's.
                state.disagreements += 1
                state.oracle_note = state.oracle_note or reference.note
                continue
            # A timeout or crash seen on this very case is not paid for again.
            failure = budget.seen(case, costly_only=True)
            if failure is None:
                # Run twice once per example: state kept between calls shows on
                # any case, and the other sets are cheaper run once. A set that
                # fails run once is run twice more: an answer that changes from
                # call to call is state, on whichever set it shows.
                failure = evaluate(case, reference, clock, index == 0)
                failure = budget.recheck(failure, functools.partial(evaluate, case, reference, clock, index == 0))
                if failure is not None and index > 0 and failure.category not in COSTLY:
                    failure = _confirmed(failure, evaluate(case, reference, clock, True))
                budget.record(case, reference, failure)
            if verdict(failure, case):
                return  # found in an earlier round, and the next set would likely cost as much again

    def confirm(case: Any, reference: Any) -> Failure | None:
        clock.reset()
        if prepare is not None:
            prepare([case])
        return evaluate(case, reference, clock, False)

    for round_number in range(len(CATEGORIES)):
        found = _search_round(hypothesis_seed(seed + round_number)(check_example), Flaky)
        new = [(failure, case) for failure, case in found if failure.category not in state.failures]
        new = [settled for failure, case in new if (settled := budget.settle(failure, case, confirm)) is not None]
        for failure, case in new:
            state.failures[failure.category] = failure
            state.failing_cases[failure.category] = case
        if not new:
            break
        known.update(state.failures)
    return state


def _confirmed(first: Failure, again: Failure | None) -> Failure:
    """Return the failure of a case that failed once (``first``), given how it then fared run twice."""
    if again is None:
        return _changed(first)
    return again if again.category == "nondeterministic" else first


def _changed(failure: Failure) -> Failure:
    """Return ``failure`` as the ``nondeterministic`` failure of a case that passed when repeated."""
    return dataclasses.replace(
        failure,
        category="nondeterministic",
        message=(
            f"the same case failed once and passed when repeated ({failure.message}): "
            "the engine's answer depends on something besides its inputs"
        ),
    )


def _search_round(run: Callable[[], None], flaky: type[BaseException]) -> list[tuple[Failure, Any]]:
    """Run one Hypothesis search; return the minimal failure of each category it found, with its case."""
    try:
        run()
    except flaky as exc:
        return [(_changed(failure), case) for failure, case in _failures_from(exc)[:1]]
    except BaseException as exc:
        failures = _failures_from(exc)
        if not failures:
            raise
        return failures
    return []


def check_result(
    check: str,
    kind: str,
    state: SearchState,
    started: float,
    *,
    diagnose: Callable[[Any, Failure], str | None] | None = None,
    explain: Callable[[list[tuple[Any, Failure]]], list[Failure]] | None = None,
    **fields: Any,
) -> CheckResult:
    """Return the CheckResult of a finished search: its failures in CATEGORIES order, counts, stages.

    ``diagnose(case, failure)`` names the bug behind each minimal failure, on
    the case that failed; ``explain`` instead takes every ``(case, failure)``
    at once and returns them diagnosed, one per bug
    (``gradcheck.diagnosis.explain``); ``fields`` are further CheckResult
    fields (``replay``).
    """
    failures = sorted(state.failures.values(), key=lambda f: CATEGORIES.index(f.category))
    if explain is not None:
        failures = explain([(state.failing_cases[failure.category], failure) for failure in failures])
    elif diagnose is not None:
        failures = [
            dataclasses.replace(failure, diagnosis=diagnose(state.failing_cases[failure.category], failure))
            for failure in failures
        ]
    seconds = time.perf_counter() - started
    return CheckResult(
        check=check,
        kind=kind,
        status="failed" if failures else "passed",
        examples=state.examples,
        cases=state.cases,
        # To the millisecond, as the JSON report stores it: a report re-rendered
        # from JSON then shows the very numbers of the live one.
        seconds=round(seconds, 3),
        stages=state.clock.split(seconds),
        failures=tuple(failures),
        oracle_disagreements=state.disagreements,
        oracle_note=state.oracle_note,
        **fields,
    )


