"""The runner: one Hypothesis search per op, shrinking each failure to its minimal case.

For each op the engine supports, Hypothesis draws cases (``gradcheck.strategies``),
the oracles give the reference (``gradcheck.oracles``), the engine is called
(``gradcheck.execution``) and the verdict compares (``gradcheck.verdict``). A
failure is raised as an exception whose *type* is its category, so Hypothesis
treats each category as a distinct bug and shrinks each one separately: an
engine that raises on 1-D operands *and* transposes the wrong axes gets both
reported, each on its own smallest case.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from gradcheck._timing import StageClock
from gradcheck.errors import UsageError
from gradcheck.ops import ALIASES, OP_NAMES, canonical_op
from gradcheck.results import CATEGORIES, CheckResult, Failure, Report
from gradcheck.tolerances import Tolerance, merge_tolerances

__all__ = [
    "DEFAULT_MAX_EXAMPLES",
    "DEFAULT_PROGRAMS",
    "DEFAULT_TIMEOUT",
    "PROGRAMS_CHECK",
    "VALUE_SETS",
    "check_op",
    "check_programs",
    "resolve_ops",
    "run_checks",
]

DEFAULT_MAX_EXAMPLES = 100
DEFAULT_PROGRAMS = 200
DEFAULT_TIMEOUT = 10.0
#: Value sets per drawn example of an op: the shapes and parameters of one
#: Hypothesis example are checked on this many sets of operands and
#: cotangents, which the oracles answer for in one call each. A set costs
#: about a fifth of what a one-set example did (benchmarks/README.md).
VALUE_SETS = 8
#: The ``check`` name of the program search in reports.
PROGRAMS_CHECK = "programs"

ONES_COTANGENT_NOTE = (
    "grad() takes no cotangent, so gradients were checked with an all-ones cotangent only; "
    "a backward rule that ignores its cotangent cannot be seen this way. "
    "Accept a third argument grad(y, xs, cotangent) for the full check."
)


class _CaseFailed(Exception):
    """Raised inside the Hypothesis test for a failing case; carries the Failure."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


# One exception type per category: Hypothesis tells bugs apart by exception
# type and raise site, so each category is shrunk on its own.
_FAILURE_TYPES: dict[str, type[_CaseFailed]] = {
    category: type(f"Gradcheck{category.capitalize()}Failure", (_CaseFailed,), {})
    for category in CATEGORIES
}


# Categories that cost the time limit or a new worker process each time: once
# one is known, an example that shows it again is not run further.
_COSTLY = frozenset({"timeout", "crash"})


def resolve_ops(ops: Iterable[str] | None) -> list[str]:
    """Return canonical op names for ``ops`` (None = all), raising UsageError on unknown names."""
    if ops is None:
        return list(OP_NAMES)
    resolved: list[str] = []
    for name in ops:
        canonical = canonical_op(name)
        if canonical is None:
            import difflib

            close = difflib.get_close_matches(name, list(OP_NAMES) + list(ALIASES), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UsageError(
                f"{name!r} is not an op gradcheck knows.{hint} Known ops: {', '.join(OP_NAMES)} "
                f"(aliases: {', '.join(f'{a}={c}' for a, c in ALIASES.items())})."
            )
        if canonical not in resolved:
            resolved.append(canonical)
    return resolved


@dataclass
class _SearchState:
    examples: int = 0
    cases: int = 0
    disagreements: int = 0
    oracle_note: str | None = None
    failures: dict[str, Failure] = field(default_factory=dict)
    clock: StageClock = field(default_factory=StageClock)


def _failures_from(exc: BaseException) -> list[Failure]:
    """Return the Failures carried by ``exc`` (a _CaseFailed or a group of them)."""
    if isinstance(exc, _CaseFailed):
        return [exc.failure]
    found: list[Failure] = []
    for inner in getattr(exc, "exceptions", ()):
        found.extend(_failures_from(inner))
    return found


def _search(
    strategy: Any,
    evaluate: Callable[[Any, Any, StageClock, bool], Failure | None],
    *,
    max_examples: int,
    seed: int,
    reference: Callable[[Any, StageClock], Any] | None = None,
    prepare: Callable[[Sequence[Any]], None] | None = None,
) -> _SearchState:
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

    state = _SearchState()
    clock = state.clock
    known: set[str] = set()

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
    def search(example: Any) -> None:
        cases = example if isinstance(example, CaseBatch) else (example,)
        state.examples += 1
        state.cases += len(cases)
        clock.reset()
        answers = references(cases, clock)
        if prepare is not None:
            prepare(cases)
        for index, (case, reference) in enumerate(zip(cases, answers)):
            if not reference.agrees:
                # The oracles disagree: the harness's problem, never the engine's.
                state.disagreements += 1
                state.oracle_note = state.oracle_note or reference.note
                continue
            # Run twice once per example: state kept between calls shows on
            # any case, and the other sets are cheaper run once.
            failure = evaluate(case, reference, clock, index == 0)
            if failure is not None and failure.category not in known:
                raise _FAILURE_TYPES[failure.category](failure)
            if failure is not None and failure.category in _COSTLY:
                return  # found in an earlier round, and the next set would likely cost as much again

    for round_number in range(len(CATEGORIES)):
        found = _search_round(hypothesis_seed(seed + round_number)(search), Flaky)
        new = [failure for failure in found if failure.category not in state.failures]
        for failure in new:
            state.failures[failure.category] = failure
        if not new or "nondeterministic" in state.failures:
            break
        known.update(state.failures)
    return state


def _search_round(search: Callable[[], None], flaky: type[BaseException]) -> list[Failure]:
    """Run one Hypothesis search; return the minimal failure of each category it found."""
    try:
        search()
    except flaky as exc:
        failures = _failures_from(exc)[:1]
        for failure in failures:
            failure.category = "nondeterministic"
            failure.message = (
                f"the same case failed once and passed when repeated ({failure.message}): "
                "the engine's answer depends on something besides its inputs"
            )
        return failures
    except BaseException as exc:
        failures = _failures_from(exc)
        if not failures:
            raise
        return failures
    return []


def _result(check: str, kind: str, state: _SearchState, started: float) -> CheckResult:
    failures = sorted(state.failures.values(), key=lambda f: CATEGORIES.index(f.category))
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
        failures=failures,
        oracle_disagreements=state.disagreements,
        oracle_note=state.oracle_note,
    )


def check_op(
    engine: Any,
    op: str,
    *,
    max_examples: int = DEFAULT_MAX_EXAMPLES,
    seed: int = 0,
    timeout: float | None = DEFAULT_TIMEOUT,
    tolerance: Tolerance | None = None,
    max_dims: int = 3,
    max_side: int = 4,
    shapes: Sequence[Sequence[int]] | None = None,
    params: Mapping[str, Any] | None = None,
) -> CheckResult:
    """Return the result of searching for a failing case of ``op`` on ``engine``.

    ``shapes`` (one per operand) and ``params`` fix what is otherwise drawn
    (see ``gradcheck.strategies.op_cases``).
    """
    from gradcheck.diagnosis import diagnose
    from gradcheck.strategies import op_cases
    from gradcheck.verdict import judge

    tolerance = tolerance or merge_tolerances(None)[engine.dtype.name]
    started = time.perf_counter()
    strategy = op_cases(
        op, dtype=engine.dtype.name, max_dims=max_dims, max_side=max_side,
        ones_cotangent=not engine.grad_takes_cotangent,
        shapes=shapes, params=None if params is None else dict(params), sets=VALUE_SETS,
    )

    # An isolated engine answers an example's value sets in one round trip.
    run_many = getattr(engine, "run_many", None)
    ready: dict[int, Any] = {}
    # The case behind each failure raised, for the diagnosis of the minimal ones.
    behind: dict[int, Any] = {}

    def prepare(cases: Sequence[Any]) -> None:
        ready.clear()
        if run_many is not None:
            ready.update(zip(map(id, cases), run_many(cases, timeout)))

    def evaluate(case: Any, reference: Any, clock: StageClock, repeat: bool) -> Failure | None:
        outcome = ready.pop(id(case), None)
        if outcome is None:
            outcome = engine.run(case, timeout, repeat)
        clock.lap("engine")
        failure = judge(case, outcome, reference, tolerance)
        clock.lap("comparison")
        if failure is not None:
            behind[id(failure)] = case
        return failure

    state = _search(strategy, evaluate, max_examples=max_examples, seed=seed, prepare=prepare)
    for failure in state.failures.values():
        failure.diagnosis = diagnose(behind[id(failure)], failure, tolerance)
    return _result(op, "op", state, started)


def check_programs(
    engine: Any,
    *,
    ops: Sequence[str] | None = None,
    failed_ops: Iterable[str] = (),
    max_examples: int = DEFAULT_PROGRAMS,
    seed: int = 0,
    timeout: float | None = DEFAULT_TIMEOUT,
    tolerance: Tolerance | None = None,
    max_steps: int = 6,
) -> CheckResult:
    """Return the result of searching for a failing program over the engine's ops.

    A failing program is a new finding only if no op that already failed its
    own check is to blame: each step is replayed alone with the operands and
    cotangent it sees in the program. When every step passes alone, the
    backward pass itself is at fault, and the diagnosis says so.
    """
    from gradcheck.diagnosis import blame_steps, diagnose
    from gradcheck.strategies import programs
    from gradcheck.verdict import judge

    tolerance = tolerance or merge_tolerances(None)[engine.dtype.name]
    known_bad = set(failed_ops)
    started = time.perf_counter()
    usable = [op for op in (ops or OP_NAMES) if engine.supports(op)]
    strategy = programs(
        usable, dtype=engine.dtype.name, max_steps=max_steps,
        ones_cotangent=not engine.grad_takes_cotangent,
    )

    # The program and culprits behind each failure raised, for the diagnosis
    # of the minimal ones only (it simulates traversals: too slow to run on
    # every failing example while shrinking).
    behind: dict[int, tuple[Any, list[Any]]] = {}

    def evaluate(program: Any, reference: Any, clock: StageClock, repeat: bool) -> Failure | None:
        outcome = engine.run(program, timeout, repeat)
        clock.lap("engine")
        failure = judge(program, outcome, reference, tolerance)
        clock.lap("comparison")
        if failure is None:
            return None
        culprits = blame_steps(engine, program, tolerance, timeout)
        clock.lap("blame")
        if culprits and all(step.op in known_bad for step, _ in culprits):
            return None  # an op bug its own check already reports
        failure.program = program.code()
        behind[id(failure)] = (program, culprits)
        return failure

    state = _search(strategy, evaluate, max_examples=max_examples, seed=seed)
    for failure in state.failures.values():
        program, culprits = behind[id(failure)]
        failure.diagnosis = diagnose(program, failure, tolerance, culprits=culprits)
    return _result(PROGRAMS_CHECK, "program", state, started)


def run_checks(
    engine: Any,
    ops: Sequence[str] | None = None,
    max_examples: int = DEFAULT_MAX_EXAMPLES,
    seed: int = 0,
    timeout: float | None = DEFAULT_TIMEOUT,
    on_start: Callable[[str], None] | None = None,
    on_finish: Callable[[CheckResult], None] | None = None,
    tolerances: Mapping[str, float | Tolerance] | None = None,
    programs: int = DEFAULT_PROGRAMS,
) -> Report:
    """Return the report of checking every op in ``ops`` (default: all) on ``engine``.

    ``engine`` is a ``gradcheck.engine.Engine`` or anything ``load_engine``
    accepts (a target string, a module, an object). After the single ops,
    ``programs`` composite programs over the supported ops are checked (0
    skips them).
    """
    from gradcheck.engine import Engine, load_engine
    from gradcheck.isolation import IsolatedEngine

    if not isinstance(engine, (Engine, IsolatedEngine)):
        engine = load_engine(engine)
    names = resolve_ops(ops)
    if max_examples < 1:
        raise UsageError(f"max_examples={max_examples!r} must be at least 1.")
    if programs < 0:
        raise UsageError(f"programs={programs!r} must be 0 (no programs) or more.")
    tolerance = merge_tolerances(tolerances)[engine.dtype.name]
    report = Report(
        target=engine.target,
        seed=seed,
        engine_name=engine.name,
        dtype=engine.dtype.name,
        max_examples=max_examples,
        programs=programs,
        ops=None if ops is None else names,
    )
    if not engine.grad_takes_cotangent:
        report.notes.append(ONES_COTANGENT_NOTE)
    for op in names:
        if on_start:
            on_start(op)
        if engine.supports(op):
            result = check_op(
                engine, op, max_examples=max_examples, seed=seed, timeout=timeout, tolerance=tolerance
            )
        else:
            result = CheckResult(
                check=op, kind="op", status="unsupported",
                reason=f"the engine defines no {op!r}" + _alias_hint(op),
            )
        report.results.append(result)
        if on_finish:
            on_finish(result)
    supported = [op for op in names if engine.supports(op)]
    if programs and supported:
        if on_start:
            on_start(PROGRAMS_CHECK)
        result = check_programs(
            engine,
            ops=supported,
            failed_ops=[r.check for r in report.results if r.status == "failed"],
            max_examples=programs,
            seed=seed,
            timeout=timeout,
            tolerance=tolerance,
        )
        report.results.append(result)
        if on_finish:
            on_finish(result)
    return report


def _alias_hint(op: str) -> str:
    aliases = [alias for alias, canonical in ALIASES.items() if canonical == op]
    return f" (nor {', '.join(repr(a) for a in aliases)})" if aliases else ""
