"""The search: Hypothesis draws examples, each distinct failure shrinks on its own.

Every check (an op, composite programs, a user's function) is one call of
:func:`search` with a strategy of computations and an ``evaluate`` that runs
the engine and judges its answer. A failure is raised as an exception whose
*type* is its category, so Hypothesis treats each category as a distinct bug
and shrinks each one separately: an engine that raises on 1-D operands *and*
transposes the wrong axes gets both reported, each on its own smallest case.
The search runs in rounds, each letting the failures already found pass.

Given ``classify`` (an op's case -> its class: operand ranks, parameter
features), a failure's *signature* is its category and its case's class, and
a round lets pass only what a known signature explains (same category, a
class that contains the case's): a second bug of the same category in another
class (a matmul wrong on 1-D operands besides batched stacks) is found in the
next round, while a derivative wrong everywhere is told once. Given
``smaller``, each minimal failure is then tried on smaller cases of its own
signature (sides lowered toward 1, simpler values), past where Hypothesis's
shrinking stopped.

Given a ``database`` (``gradcheck._database.FailureStore``), each round
stores the examples of its failures under its own scope and replays them
first on the next run; without one, or with nothing stored, the seed alone
decides the search.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Iterable, Sequence

from gradcheck._budget import COSTLY, CostBudget
from gradcheck._database import FailureStore
from gradcheck._plans import plan_for, store_plan
from gradcheck._timing import StageClock
from gradcheck.results import CATEGORIES, CheckResult, Failure

__all__ = [
    "MAX_PER_CATEGORY", "MINIMIZE_BATCHES", "PLAN_BATCH", "Found", "SearchState", "Signature", "check_result", "search",
]


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


# Where an engine raised, as ``gradcheck.execution`` writes it into a failure's detail.
_RAISE_SITE = re.compile(r"\(at ([^:()]+:\d+)")

# Categories a smaller case cannot be checked against: a timeout or a crash
# costs as much again, and a nondeterministic answer may not repeat.
_UNREPEATABLE = COSTLY | {"nondeterministic"}


#: Most failures of one category a check reports: past it, the category
#: passes whole (bounds the rounds an op wrong in many classes costs).
MAX_PER_CATEGORY = 3

#: Most candidate batches tried per minimal failure by the small-case pass.
MINIMIZE_BATCHES = 24

#: How many examples of a kept plan the engine is handed at once (``prepare_batch``).
PLAN_BATCH = 8


@dataclass(frozen=True)
class Signature:
    """What tells two failures of a check apart: the category, and the class of the case (None: any)."""

    category: str
    case_class: Any = None

    def explains(self, other: "Signature") -> bool:
        """Return whether a failure of this signature accounts for one of ``other``."""
        if self.category != other.category:
            return False
        if self.case_class is None or other.case_class is None:
            return True
        return bool(self.case_class.contains(other.case_class))


@dataclass(frozen=True)
class Found:
    """One distinct minimal failure of a search: its signature, the failure and the case behind it."""

    signature: Signature
    failure: Failure
    case: Any


@dataclass
class SearchState:
    """What a search found so far: counts, and each distinct minimal failure with its case."""

    examples: int = 0
    cases: int = 0
    # Failing examples stored by an earlier run, replayed before any was drawn.
    replayed: int = 0
    disagreements: int = 0
    oracle_note: str | None = None
    # Every distinct failure, in the order found (a category may repeat).
    found: list[Found] = field(default_factory=list)
    clock: StageClock = field(default_factory=StageClock)

    @property
    def failures(self) -> dict[str, Failure]:
        """The first failure found of each category (a view: write to ``found``)."""
        first: dict[str, Failure] = {}
        for item in self.found:
            first.setdefault(item.failure.category, item.failure)
        return first

    @property
    def failing_cases(self) -> dict[str, Any]:
        """The case behind the first failure of each category (a view: write to ``found``)."""
        first: dict[str, Any] = {}
        for item in self.found:
            first.setdefault(item.failure.category, item.case)
        return first

    def explains(self, signature: Signature) -> bool:
        """Return whether a failure found already accounts for ``signature``, or its category is full."""
        return _explained(self.found, signature)


def _explained(found: Sequence[Found], signature: Signature) -> bool:
    same = [item for item in found if item.signature.category == signature.category]
    return len(same) >= MAX_PER_CATEGORY or any(item.signature.explains(signature) for item in same)


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
    prepare_batch: Callable[[Sequence[Any], Sequence[bool]], None] | None = None,
    budget: CostBudget | None = None,
    classify: Callable[[Any], Any] | None = None,
    smaller: Callable[[Any], Iterable[Any]] | None = None,
    diagnose: Callable[[Any, Failure], str | None] | None = None,
    database: FailureStore | None = None,
    plan: Hashable | None = None,
    on_example: Callable[[], None] | None = None,
) -> SearchState:
    """Search ``strategy`` for cases ``evaluate`` fails; shrink each distinct failure.

    ``evaluate(case, reference, clock, repeat)`` returns the engine's failure
    on a case whose oracles agree, or None, charging its stages to ``clock``;
    ``repeat`` says whether to run the engine twice on it (the first case of
    each example). An example is a case or a ``CaseBatch`` of cases with the
    same shapes, tried in order. ``reference(case, clock)`` gives the
    oracles' answer (default: ``gradcheck.oracles.references_for``, TensorFlow
    cross-checked by finite differences, for a whole batch at once).
    ``prepare(cases)``, if given, is called with each example's cases before
    they are evaluated (to run an isolated engine on all of them at once);
    ``prepare_batch(cases, repeats)``, if given, is called instead with the
    cases of ``PLAN_BATCH`` examples of a kept plan at a time (``repeats``:
    each example's first case), before they are run in order. The
    search runs in rounds: each round lets the
    failures already found pass, so it goes on to the next kind of bug
    instead of re-finding this one, until a round finds nothing new.
    ``budget`` bounds what timeouts and crashes cost after the first
    (``gradcheck._budget``; the caller's calls take its ``limit``); without
    one, the calls keep their own limit and only their cost is bounded.
    ``classify(case)``, if given, returns the case's class (an object with
    ``contains(other)``): failures of one category in classes neither
    contains are distinct bugs, each reported. ``smaller(case)``, if given,
    yields examples smaller than ``case``; each minimal failure moves to the
    first of them that fails the same way (same signature, message and raise
    site, and the same ``diagnose(case, failure)`` when given), for as long
    as one does. ``database``, if given, keeps each round's failing examples
    and replays them before the round draws a new one (``gradcheck._database``).
    ``plan`` (``gradcheck._plans.plan_key``) names the strategy for a grading
    worker, which keeps no database: the examples of a passing search are kept
    under it and run first on the next engine, without drawing them again
    (``gradcheck._plans``; the result is the same). ``on_example()``, if given,
    is called as each example that runs starts (for progress; shrinking's
    examples count too).
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
    # What a round lets pass: what the failures of earlier rounds explain.
    known: list[Found] = []
    budget = budget or CostBudget(None, shortens=False)

    def signature(failure: Failure, case: Any) -> Signature:
        if classify is None or failure.category in COSTLY:
            return Signature(failure.category)
        return Signature(failure.category, classify(case))

    def verdict(failure: Failure | None, case: Any) -> bool:
        """Raise a new failure; return whether the example should stop here (a costly one known)."""
        if failure is not None and not _explained(known, signature(failure, case)):
            raise _FAILURE_TYPES[failure.category](failure, case)
        return failure is not None and failure.category in COSTLY

    def round_settings(stored: Any) -> Any:
        # Every setting is gradcheck's own: a Hypothesis profile loaded around it changes none.
        return settings(
            max_examples=max_examples,
            deadline=None,
            database=stored,
            derandomize=False,
            verbosity=Verbosity.quiet,
            print_blob=False,
            report_multiple_bugs=True,
            phases=(Phase.explicit, *([Phase.reuse] if stored is not None else []), Phase.generate, Phase.shrink),
            suppress_health_check=list(HealthCheck),
        )

    # The oracles' answers to each example of the first round, by the example's id: with
    # the examples, the plan of a passing search (the next engine needs the same answers).
    answered: dict[int, list[Any]] = {}

    def run_example(example: Any, prepared: bool = False, kept_answers: list[Any] | None = None) -> None:
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
        if on_example is not None:
            on_example()
        clock.reset()
        if kept_answers is None:
            answers = answered[id(example)] = references(cases, clock)
        else:
            answers = kept_answers
            clock.lap("tensorflow")  # as a kept reference is charged (gradcheck.oracles.keep_references)
        # The cases up to one already seen to time out or crash: the example stops there.
        runnable = next((i for i, case in enumerate(cases) if budget.seen(case, costly_only=True)), len(cases))
        if prepare is not None and runnable and not prepared:
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

    # The examples Hypothesis draws in the first round: the plan of a passing search.
    drawn: list[Any] = []

    def check_example(example: Any) -> None:
        drawn.append(example)
        run_example(example)

    def confirm(case: Any, reference: Any) -> Failure | None:
        clock.reset()
        if prepare is not None:
            prepare([case])
        return evaluate(case, reference, clock, False)

    def minimal(failure: Failure, case: Any) -> Found:
        found = Found(signature(failure, case), failure, case)
        if smaller is None or failure.category in _UNREPEATABLE:
            return found
        return _smallest(found, smaller, signature, references, prepare, evaluate, clock, diagnose)

    kept = plan_for(plan) if database is None else None
    if kept is not None:
        if _replayed(kept, run_example, prepare_batch):
            return state
        # A kept example failed: search as always, from the first example.
        state.examples = state.cases = state.disagreements = 0
        state.oracle_note = None
    for round_number in range(len(CATEGORIES) * MAX_PER_CATEGORY):
        drawn.clear()
        answered.clear()
        stored = None if database is None else database.within(f"round {round_number}").hypothesis_database()
        run = round_settings(stored)(given(strategy)(check_example))
        found = _search_round(_seeded(run, seed + round_number, hypothesis_seed, stored is not None), Flaky)
        state.replayed += 0 if stored is None else stored.replayed
        if round_number == 0 and not found and database is None:
            store_plan(plan, [(example, answered.get(id(example))) for example in drawn])
        new = [(failure, case) for failure, case in found if not state.explains(signature(failure, case))]
        new = [settled for failure, case in new if (settled := budget.settle(failure, case, confirm)) is not None]
        state.found.extend(minimal(failure, case) for failure, case in new)
        if not new:
            break
        known[:] = state.found
    # A failure a later round found on a simpler class of the same category
    # accounts for an earlier one whose shrinking stopped short of it.
    state.found = [item for item in state.found if not any(
        other is not item and other.signature != item.signature and other.signature.explains(item.signature)
        for other in state.found
    )]
    return state


def _replayed(
    plan: Sequence[tuple[Any, list[Any] | None]],
    run_example: Callable[[Any, bool, list[Any] | None], None],
    prepare_batch: Callable[[Sequence[Any], Sequence[bool]], None] | None,
) -> bool:
    """Run a plan's examples in order; return whether they all passed (False at the first failure).

    ``plan`` holds each example with the oracles' answers to its cases, kept
    from the search that drew it (None: asked again): a reference depends on
    the case alone, so they are this engine's references too.

    With ``prepare_batch``, the engine is handed the cases of ``PLAN_BATCH``
    examples at once (each example's first case run twice, as ``run_example``
    would have it), then each example is judged in order on its answers. An
    example that fails stops the replay there, as it does one example at a
    time: the engine has then also answered the rest of its batch (at most
    ``PLAN_BATCH - 1`` examples more), and the search starts over.
    """
    from gradcheck.case import CaseBatch

    try:
        for start in range(0, len(plan), PLAN_BATCH):
            batch = plan[start:start + PLAN_BATCH]
            if prepare_batch is not None:
                cases: list[Any] = []
                repeats: list[bool] = []
                for example, _ in batch:
                    these = example if isinstance(example, CaseBatch) else (example,)
                    cases.extend(these)
                    repeats.extend(index == 0 for index in range(len(these)))
                prepare_batch(cases, repeats)
            for example, answers in batch:
                run_example(example, prepare_batch is not None, answers)
    except _CaseFailed:
        return False
    return True


def _seeded(run: Any, seed: int, hypothesis_seed: Callable[[int], Callable[[Any], Any]], stored: bool) -> Any:
    """Return the Hypothesis test ``run`` drawing from ``seed``, keeping its database if it has one.

    ``hypothesis.seed`` also turns the database off: a seeded test is meant to
    replay as it is. Here the stored examples are replayed first and the seed
    decides every example drawn after them, so a test with a database gets
    its seed as ``hypothesis.seed`` sets it, the one private name used here
    (tests/test_hypothesis_integration.py checks that the seed still decides
    the search).
    """
    if not stored:
        return hypothesis_seed(seed)(run)
    run._hypothesis_internal_use_seed = seed
    return run


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


def _smallest(
    found: Found,
    smaller: Callable[[Any], Iterable[Any]],
    signature: Callable[[Failure, Any], Signature],
    references: Callable[[Sequence[Any], StageClock], list[Any]],
    prepare: Callable[[Sequence[Any]], None] | None,
    evaluate: Callable[[Any, Any, StageClock, bool], Failure | None],
    clock: StageClock,
    diagnose: Callable[[Any, Failure], str | None] | None,
) -> Found:
    """Return ``found`` moved to the smallest case ``smaller`` offers that fails with its signature.

    Greedy: the first smaller example with a case that still shows the
    failure (same signature, message and raise site, told the same way by
    ``diagnose``: a simpler case must not lose the evidence) replaces it,
    and the search for a smaller one starts again from there, for at most
    MINIMIZE_BATCHES examples run. A case of another class is not run at all; a candidate
    that times out or crashes ends the pass.
    """
    from gradcheck.case import CaseBatch

    def told(case: Any, failure: Failure) -> tuple[str, str | None, str | None]:
        site = _RAISE_SITE.search(failure.detail or "")
        return (failure.message, site.group(1) if site else None,
                diagnose(case, failure) if diagnose is not None else None)

    expected = told(found.case, found.failure)
    budget = MINIMIZE_BATCHES
    improved = True
    while improved and budget:
        improved = False
        for example in smaller(found.case):
            cases = [case for case in (example if isinstance(example, CaseBatch) else (example,))
                     if found.signature.case_class is None
                     or signature(found.failure, case).case_class == found.signature.case_class]
            if not cases:
                continue
            budget -= 1
            answers = references(cases, clock)
            if prepare is not None:
                prepare(cases)
            for case, answer in zip(cases, answers):
                failure = evaluate(case, answer, clock, False) if answer.agrees else None
                if failure is not None and failure.category in COSTLY:
                    return found  # each further candidate could cost the time limit again
                if (failure is not None and signature(failure, case) == found.signature
                        and told(case, failure) == expected):
                    found, improved = Found(found.signature, failure, case), True
                    break
            if improved or not budget:
                break
    return found


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
    """Return the CheckResult of a finished search: its distinct failures in CATEGORIES order, counts, stages.

    ``diagnose(case, failure)`` names the bug behind each minimal failure, on
    the case that failed; ``explain`` instead takes every ``(case, failure)``
    at once and returns them diagnosed, one per bug
    (``gradcheck.diagnosis.explain``); ``fields`` are further CheckResult
    fields (``replay``).
    """
    # In CATEGORIES order; failures of one category in the order found, so the
    # first of each is the one a search by categories alone would report.
    found = sorted(state.found, key=lambda item: CATEGORIES.index(item.failure.category))
    if explain is not None:
        failures = explain([(item.case, item.failure) for item in found])
    else:
        failures = [
            item.failure if diagnose is None
            else dataclasses.replace(item.failure, diagnosis=diagnose(item.case, item.failure))
            for item in found
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
        stored_replayed=state.replayed,
        **fields,
    )


