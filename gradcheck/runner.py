"""The runner: every check of an engine, ops then programs, into one Report.

``run_checks`` is what every entry point calls (the command line, the pytest
plugin, ``assert_gradients``, the demo). For each op the engine supports, one
search (``gradcheck.search``) draws cases (``gradcheck.strategies``), the
oracles give the reference (``gradcheck.oracles``), the engine is called
(``gradcheck.execution``), the verdict compares (``gradcheck.verdict``) and
each minimal failure is diagnosed (``gradcheck.diagnosis``) before it enters
the result model (``gradcheck.results``). Composite programs come last, over
the ops the engine supports.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from gradcheck._budget import COSTLY, CostBudget
from gradcheck._database import FailureStore, open_store
from gradcheck._plans import plan_key
from gradcheck._timing import StageClock
from gradcheck.errors import UsageError
from gradcheck.ops import ALIASES, OP_NAMES, OPS, canonical_op, forms
from gradcheck.results import CheckResult, EngineRecord, Failure, Report
from gradcheck.search import check_result, search
# Re-exported: the runner's defaults are the settings' (gradcheck.settings).
from gradcheck.settings import DEFAULT_MAX_EXAMPLES, DEFAULT_PROGRAMS, DEFAULT_TIMEOUT, VALUE_SETS
from gradcheck.support import SupportedParams, parse_supported_params, support_note, supported_params_data
from gradcheck.tolerances import Tolerance, merge_tolerances

if TYPE_CHECKING:  # the engine modules load when a check starts
    from gradcheck.engine import CheckedEngine

__all__ = [
    "DEFAULT_MAX_EXAMPLES",
    "DEFAULT_PROGRAMS",
    "DEFAULT_TIMEOUT",
    "PROGRAMS_CHECK",
    "VALUE_SETS",
    "ChecksInterrupted",
    "check_op",
    "check_programs",
    "derived_checks",
    "derived_modes",
    "missing_ops",
    "resolve_ops",
    "run_checks",
]

#: The ``check`` name of the program search in reports.
PROGRAMS_CHECK = "programs"

ONES_COTANGENT_NOTE = (
    "grad() takes no cotangent, so gradients were checked with an all-ones cotangent only; "
    "a backward rule that ignores its cotangent cannot be seen this way. "
    "Accept a third argument grad(y, xs, cotangent) for the full check."
)


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
        # Every form of the function the name calls: ``pow`` checks pow(x, p) and pow(x, y).
        chosen = forms(name) if canonical == OPS[canonical].engine_function else (canonical,)
        resolved.extend(op for op in chosen if op not in resolved)
    return resolved


class ChecksInterrupted(KeyboardInterrupt):
    """``run_checks`` was interrupted (Ctrl-C, or a signal handler raising KeyboardInterrupt).

    ``report`` holds the checks that finished, marked partial
    (``Report.interrupted_by`` is ``"SIGINT"``: a caller that stopped on
    another signal says so with ``dataclasses.replace``). A KeyboardInterrupt
    still, so a caller that does not look for the report stops as before.
    """

    def __init__(self, report: Report) -> None:
        super().__init__(f"interrupted after {len(report.results)} checks")
        self.report = report


def missing_ops(engine: CheckedEngine, ops: Sequence[str], spelled: str = "--ops") -> str | None:
    """Return the one paragraph saying which of ``ops`` (canonical names) ``engine`` lacks; None if none.

    Each missing op is worded as ``assert_gradients`` words it (``mean is
    unsupported: the engine defines no 'mean'``), then what the engine has.
    """
    missing = [op for op in ops if not engine.supports(op)]
    if not missing:
        return None
    defined = [op for op in OP_NAMES if engine.supports(op)]
    has = (f"it defines {', '.join(defined)}; name only those in {spelled}, or leave {spelled} out to "
           "check every op it defines" if defined else "it defines none of the ops gradcheck checks")
    return (
        f"{spelled} names {', '.join(missing)}, which engine {engine.name} does not define "
        f"({'; '.join(f'{op} is unsupported: {_unsupported_reason(engine, op)}' for op in missing)}): "
        f"{has} (docs/contract.md, section 2)."
    )


def check_op(
    engine: CheckedEngine,
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
    supported: SupportedParams | None = None,
    database: FailureStore | None = None,
    on_example: Callable[[], None] | None = None,
    mode: str | None = None,
    first_order: CheckResult | None = None,
) -> CheckResult:
    """Return the result of searching for a failing case of ``op`` on ``engine``.

    ``mode`` (``gradcheck.higher``: ``"order 2"`` or ``"forward"``) checks
    the op's second derivative or its JVP instead of its VJP, as the check
    ``OP (order 2)`` or ``OP (forward)``. A failure there that ``first_order``
    (the op's own result) already reports, word for word (the op raised, its
    forward value is wrong), is not told again: the case passes.

    ``shapes`` (one per operand) and ``params`` fix what is otherwise drawn
    (see ``gradcheck.strategies.op_cases``). ``supported`` is the declared
    partial support to draw within (default: the engine's own). ``database``
    keeps the failing examples of the engine's checks (``run_checks``).
    ``on_example`` is called as each example starts (for progress).
    """
    from gradcheck.diagnosis import diagnose, explain
    from gradcheck.higher import FORWARD, ORDER2, check_name, confirmed_not_differentiable
    from gradcheck.strategies import case_class, op_cases, smaller_cases
    from gradcheck.verdict import judge

    tolerance = tolerance or merge_tolerances(None)[engine.dtype.name]
    started = time.perf_counter()
    # Declared partial support: only the values the engine says it handles are drawn.
    declared = (engine.supported_params if supported is None else supported).get(op) if params is None else None
    strategy = op_cases(
        op, dtype=engine.dtype.name, max_dims=max_dims, max_side=max_side,
        ones_cotangent=not engine.grad_takes_cotangent,
        shapes=shapes, params=None if params is None else dict(params), sets=VALUE_SETS,
        supported=declared,
    )
    if mode is not None:
        strategy = strategy.map(functools.partial(_derived, mode=mode))

    # An isolated engine answers an example's value sets in one round trip,
    # and a kept plan's examples (gradcheck._plans) in a few.
    run_many = getattr(engine, "run_many", None)
    run_batch = getattr(engine, "run_batch", None)
    ready: dict[int, Any] = {}
    # After a first timeout or crash, the limit shortens and their cost is bounded.
    budget = CostBudget(timeout)

    def prepare(cases: Sequence[Any], repeats: Sequence[bool] | None = None) -> None:
        ready.clear()
        if repeats is not None:
            if run_batch is not None:
                ready.update(zip(map(id, cases), run_batch(cases, repeats, budget.limit)))
        elif run_many is not None:
            ready.update(zip(map(id, cases), run_many(cases, budget.limit)))

    def evaluate(case: Any, reference: Any, clock: StageClock, repeat: bool) -> Failure | None:
        outcome = ready.pop(id(case), None)
        if outcome is None:
            outcome = engine.run(case, budget.limit, repeat)
        clock.lap("engine")
        failure = judge(case, outcome, reference, tolerance)
        clock.lap("comparison")
        if failure is not None and (failure.category, failure.message) in reported:
            return None
        return failure

    reported = {(f.category, f.message) for f in (first_order.failures if first_order else ())}

    # One failure per distinct bug: by category and class of case (operand
    # ranks, parameter features), each then tried on smaller cases of its kind.
    def named(case: Any, failure: Failure) -> str | None:
        if mode == ORDER2 and failure.category == "mismatch":
            return confirmed_not_differentiable(engine, case, failure, tolerance, budget.limit)
        if mode is not None:
            return failure.diagnosis
        return diagnose(case, failure, tolerance)

    smaller = functools.partial(
        smaller_cases, sets=VALUE_SETS, ones_cotangent=not engine.grad_takes_cotangent, resize=shapes is None,
    )
    # Everything op_cases draws from: the scope of stored examples (this op's, drawn by this
    # very strategy) and, with the search's own settings, the key of a kept plan.
    drawn_from = (op, max_dims, max_side, not engine.grad_takes_cotangent,
                  None if shapes is None else [list(shape) for shape in shapes], params, declared,
                  *([] if mode is None else [mode]))
    stored = None if database is None else database.within(*drawn_from)
    state = search(
        strategy, evaluate, max_examples=max_examples, seed=seed, prepare=prepare, prepare_batch=prepare, budget=budget,
        database=stored, classify=lambda case: case_class(getattr(case, "base", case)),
        smaller=smaller if mode is None else lambda case: (_derived(batch, mode) for batch in smaller(case.base)),
        diagnose=named, on_example=on_example,
        plan=plan_key(*drawn_from, engine.dtype.name, VALUE_SETS, max_examples, seed),
    )
    if mode is not None:
        result = check_result(check_name(op, mode), "op", state, started, diagnose=named,
                              order=2 if mode == ORDER2 else 1, mode="forward" if mode == FORWARD else "reverse")
    else:
        result = check_result(
            op, "op", state, started,
            explain=lambda failing: explain(failing, tolerance, engine=engine, timeout=budget.limit),
        )
    if not declared:
        return result
    checked_on, not_checked = support_note(op, declared)
    return dataclasses.replace(result, checked_on=checked_on, not_checked=not_checked)


def check_programs(
    engine: CheckedEngine,
    *,
    ops: Sequence[str] | None = None,
    failed_ops: Iterable[str] = (),
    max_examples: int = DEFAULT_PROGRAMS,
    seed: int = 0,
    timeout: float | None = DEFAULT_TIMEOUT,
    tolerance: Tolerance | None = None,
    max_steps: int = 6,
    supported: SupportedParams | None = None,
    database: FailureStore | None = None,
    on_example: Callable[[], None] | None = None,
    mode: str | None = None,
) -> CheckResult:
    """Return the result of searching for a failing program over the engine's ops.

    With ``mode`` (``gradcheck.higher``) the programs are checked at order 2 or
    in forward mode, and blame goes to the step whose own check in that mode fails.

    A failing program is a new finding only if no op that already failed its
    own check is to blame: each step is replayed alone with the operands and
    cotangent it sees in the program. When every step passes alone, the
    backward pass itself is at fault, and the diagnosis says so.
    """
    from gradcheck.diagnosis import blame_steps, diagnose
    from gradcheck.higher import FORWARD, ORDER2, blame_derived, blamed, check_name
    from gradcheck.strategies import programs
    from gradcheck.verdict import judge

    tolerance = tolerance or merge_tolerances(None)[engine.dtype.name]
    known_bad = set(failed_ops)
    started = time.perf_counter()
    usable = [op for op in (ops or OP_NAMES) if engine.supports(op)]
    declared = engine.supported_params if supported is None else supported
    strategy = programs(
        usable, dtype=engine.dtype.name, max_steps=max_steps,
        ones_cotangent=not engine.grad_takes_cotangent, supported=declared,
    )
    if mode is not None:
        strategy = strategy.map(functools.partial(_derived, mode=mode))

    # The culprits of each failing program, for the diagnosis of the minimal
    # ones only (it simulates traversals: too slow to run on every failing
    # example while shrinking).
    culprits_of: dict[int, list[Any]] = {}
    budget = CostBudget(timeout)

    def evaluate(program: Any, reference: Any, clock: StageClock, repeat: bool) -> Failure | None:
        outcome = engine.run(program, budget.limit, repeat)
        clock.lap("engine")
        failure = judge(program, outcome, reference, tolerance)
        clock.lap("comparison")
        if failure is None:
            return None
        if failure.category == "nondeterministic":
            culprits_of[id(program)] = []  # state kept between calls is no op's rule: nothing to replay
            return failure
        if mode is None:
            culprits = blame_steps(engine, program, tolerance, budget.limit)
        else:
            culprits = blame_derived(engine, program, tolerance, budget.limit)
        clock.lap("blame")
        if culprits and all(step.op in known_bad for step, _ in culprits):
            return None  # an op bug its own check already reports
        culprits_of[id(program)] = culprits
        return failure

    # Everything programs() draws from, as for an op's check. A program blamed on an op
    # that failed its own check passes: the draws go on as for any pass, and a plan holds.
    drawn_from = (PROGRAMS_CHECK, usable, max_steps, not engine.grad_takes_cotangent,
                  {op: values for op, values in declared.items() if op in usable}, *([] if mode is None else [mode]))
    stored = None if database is None else database.within(*drawn_from)
    state = search(strategy, evaluate, max_examples=max_examples, seed=seed, budget=budget, database=stored,
                   plan=plan_key(*drawn_from, engine.dtype.name, max_examples, seed), on_example=on_example)
    if mode is not None:
        return check_result(
            check_name(PROGRAMS_CHECK, mode), "program", state, started,
            diagnose=lambda program, failure: None if failure.category not in ("mismatch", "nonfinite")
            else blamed(program, culprits_of[id(program)]),
            order=2 if mode == ORDER2 else 1, mode="forward" if mode == FORWARD else "reverse",
        )
    return check_result(
        PROGRAMS_CHECK, "program", state, started,
        diagnose=lambda program, failure: diagnose(program, failure, tolerance, culprits=culprits_of[id(program)]),
    )


def run_checks(
    engine: CheckedEngine | object,
    ops: Sequence[str] | None = None,
    max_examples: int = DEFAULT_MAX_EXAMPLES,
    seed: int = 0,
    timeout: float | None = DEFAULT_TIMEOUT,
    on_start: Callable[[str], None] | None = None,
    on_finish: Callable[[CheckResult], None] | None = None,
    tolerances: Mapping[str, float | Tolerance] | None = None,
    programs: int = DEFAULT_PROGRAMS,
    *,
    program_ops: Sequence[str] | None = None,
    failed_ops: Iterable[str] = (),
    supported_params: Mapping[str, Any] | None = None,
    database: str | None = None,
    on_example: Callable[[], None] | None = None,
    order: int | None = None,
) -> Report:
    """Return the report of checking every op in ``ops`` (default: all) on ``engine``.

    ``engine`` is a ``gradcheck.engine.Engine`` or anything ``load_engine``
    accepts (a target string, a module, an object). After the single ops,
    ``programs`` composite programs are checked (0 skips them), built from
    ``program_ops`` (default: the checked ops the engine supports; given
    explicitly, a programs result is reported ``unsupported`` when the engine
    defines none of them). A program that fails only because of an op that
    failed its own check (here, or in ``failed_ops``) is not reported again.
    ``supported_params`` declares partial support as an engine's
    ``supported_params`` does (docs/contract.md, section 1), for engines that
    cannot be edited; for the ops it names it replaces the engine's own.
    ``database`` is a folder where each check stores its failing examples and
    replays them first the next time (``gradcheck._database``; None: none).
    ``on_start(check)``, ``on_finish(result)`` and ``on_example()`` (as each
    drawn example starts) report progress. ``order`` 2 also checks second
    derivatives (``OP (order 2)``, ``programs (order 2)``: the engine's
    ``grad`` must take ``create_graph``), 1 does not; None (the default) is 2
    where the engine's ``grad`` takes ``create_graph``, else 1. An engine with
    ``jvp`` is checked in forward mode too (``OP (forward)``).

    Interrupted (KeyboardInterrupt), it raises :class:`ChecksInterrupted`
    holding the report of the checks that finished, marked partial.
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
    modes = derived_modes(engine, order)
    given = _given_support(engine, supported_params)
    supported = engine.supported_params if given is None else {**engine.supported_params, **given}
    results: list[CheckResult] = []
    # The engine's checks never read another engine's failures, nor another dtype's.
    store = open_store(database, _engine_identity(engine), engine.name, engine.dtype.name)

    def report(**partial: Any) -> Report:
        return Report(
            target=engine.target,
            seed=seed,
            engine_name=engine.name,
            dtype=engine.dtype.name,
            max_examples=max_examples,
            programs=programs,
            ops=None if ops is None else names,
            results=tuple(results),
            notes=(() if engine.grad_takes_cotangent else (ONES_COTANGENT_NOTE,)) + tuple(engine.notes),
            tolerance=tolerance,
            engine_facts=EngineRecord(dict(engine.aliases), engine.grad_takes_cotangent),
            supported_params=None if given is None else supported_params_data(given),
            **partial,
        )

    try:
        _run_all(engine, names, results, max_examples=max_examples, seed=seed, timeout=timeout,
                 on_start=on_start, on_finish=on_finish, on_example=on_example, tolerance=tolerance,
                 programs=programs, program_ops=program_ops, failed_ops=failed_ops, supported=supported, store=store,
                 modes=modes)
    except BaseException as stop:
        if isinstance(stop, ChecksInterrupted) or not _interrupted(stop):
            raise
        done = {result.check for result in results}
        # An op the engine lacks needs no engine call: its result is known without running anything.
        results.extend(
            CheckResult(check=op, kind="op", status="unsupported", reason=_unsupported_reason(engine, op))
            for op in names if op not in done and not engine.supports(op)
        )
        planned = [check for base in [*names, PROGRAMS_CHECK] for check in (base, *derived_checks(base, modes))]
        position = {check: index for index, check in enumerate(planned)}
        results.sort(key=lambda result: position.get(result.check, len(position)))
        done = {result.check for result in results}
        would_program = programs and (program_ops is not None or any(engine.supports(op) for op in names))
        not_run = [op for op in names if op not in done]
        not_run += [PROGRAMS_CHECK] if would_program and PROGRAMS_CHECK not in done else []
        raise ChecksInterrupted(report(interrupted_by="SIGINT", not_run=tuple(not_run))) from stop
    return report()


def _run_all(
    engine: CheckedEngine,
    names: Sequence[str],
    results: list[CheckResult],
    *,
    max_examples: int,
    seed: int,
    timeout: float | None,
    on_start: Callable[[str], None] | None,
    on_finish: Callable[[CheckResult], None] | None,
    on_example: Callable[[], None] | None,
    tolerance: Tolerance,
    programs: int,
    program_ops: Sequence[str] | None,
    failed_ops: Iterable[str],
    supported: SupportedParams,
    store: FailureStore | None,
    modes: Sequence[str] = (),
) -> None:
    """Run ``run_checks``'s checks in order, appending each result to ``results`` as it finishes.

    After each op's own check come its derived ones (``modes``, gradcheck.higher), unless
    the op hung or crashed in its own check; after programs, the programs' derived ones.
    """
    from gradcheck.higher import ORDER2, check_name, has_second_order

    def record(check: str, run: Callable[[], CheckResult]) -> None:
        if on_start:
            on_start(check)
        result = run()
        results.append(result)
        if on_finish:
            on_finish(result)

    for op in names:
        refused = _form_refused(engine, op, timeout) if engine.supports(op) else None
        if refused is not None:
            record(op, functools.partial(CheckResult, check=op, kind="op", status="unsupported", reason=refused))
        elif engine.supports(op):
            record(op, functools.partial(
                check_op, engine, op, max_examples=max_examples, seed=seed, timeout=timeout, tolerance=tolerance,
                supported=supported, database=store, on_example=on_example,
            ))
            own = results[-1]
            if any(failure.category in COSTLY for failure in own.failures):
                continue  # it would hang or crash again in every mode, at full cost each time
            for mode in modes:
                if mode == ORDER2 and not has_second_order(op):
                    continue
                record(check_name(op, mode), functools.partial(
                    check_op, engine, op, max_examples=max_examples, seed=seed, timeout=timeout,
                    tolerance=tolerance, supported=supported, database=store, on_example=on_example, mode=mode,
                    first_order=own,
                ))
        else:
            record(op, functools.partial(
                CheckResult, check=op, kind="op", status="unsupported",
                reason=_unsupported_reason(engine, op),
            ))
    # An op that hung or crashed in its own check would do it again in programs, at full cost each time.
    costly = {result.check for result in results if any(f.category in COSTLY for f in result.failures)}
    usable = [
        op for op in (names if program_ops is None else resolve_ops(program_ops))
        if engine.supports(op) and op not in costly
    ]
    if programs and usable:
        failed = {*failed_ops, *(result.check for result in results if result.status == "failed")}
        record(PROGRAMS_CHECK, lambda: check_programs(
            engine, ops=usable, failed_ops=failed, max_examples=programs, seed=seed,
            timeout=timeout, tolerance=tolerance, supported=supported, database=store, on_example=on_example,
        ))
        for mode in modes:
            # A program fails in this mode for an op whose own check in it failed (in this run, or
            # named in failed_ops as "tanh (order 2)" by a caller that ran it before): not again.
            failed_here = {*failed, *(check.rsplit(" (", 1)[0] for check in failed if check.endswith(f" ({mode})"))}
            record(check_name(PROGRAMS_CHECK, mode), functools.partial(
                check_programs, engine, ops=usable, failed_ops=failed_here, max_examples=programs, seed=seed,
                timeout=timeout, tolerance=tolerance, supported=supported, database=store, on_example=on_example,
                mode=mode,
            ))
    elif programs and program_ops is not None:
        results.append(CheckResult(
            check=PROGRAMS_CHECK, kind="program", status="unsupported",
            reason="the engine defines none of the ops programs are built from" if not costly
            else "every op programs are built from timed out or crashed in its own check",
        ))


def derived_modes(engine: CheckedEngine, order: int | None) -> tuple[str, ...]:
    """Return the derived modes ``engine`` is checked in: order 2 as ``order`` says, forward with ``jvp``.

    ``order=2`` for an engine whose ``grad`` does not take ``create_graph`` is a usage error.
    """
    from gradcheck.higher import FORWARD, ORDER2

    if order not in (None, 1, 2):
        raise UsageError(f"order={order!r} is not an order gradcheck checks: use 1 (first derivatives) or 2 "
                         "(second derivatives too), or leave it out for 2 where the engine supports it.")
    if order == 2 and not engine.takes_create_graph:
        raise UsageError(
            f"order 2 asks for second derivatives, but engine {engine.name}'s grad does not take create_graph "
            "(grad(y, xs, cotangent, create_graph=False) returning the engine's own tensors when it is True, "
            "docs/contract.md, section 1). Pass order 1, or leave it out to check order 2 where the engine supports it."
        )
    second = engine.takes_create_graph if order is None else order == 2
    return (*((ORDER2,) if second else ()), *((FORWARD,) if engine.has_jvp else ()))


def derived_checks(check: str, modes: Sequence[str]) -> list[str]:
    """Return the names of the checks derived from ``check`` (an op, or programs) in ``modes``."""
    from gradcheck.higher import ORDER2, check_name, has_second_order

    return [check_name(check, mode) for mode in modes
            if not (mode == ORDER2 and check != PROGRAMS_CHECK and not has_second_order(check))]


def _derived(example: Any, mode: str) -> Any:
    """Return an example (a case, or a CaseBatch of them) derived in ``mode`` (gradcheck.higher)."""
    from gradcheck.case import CaseBatch
    from gradcheck.higher import derive

    if isinstance(example, CaseBatch):
        return CaseBatch(derive(case, mode) for case in example)
    return derive(example, mode)


def _interrupted(error: BaseException) -> bool:
    """Return whether ``error`` is a KeyboardInterrupt, or was raised while one was handled.

    A Ctrl-C that lands inside Hypothesis's own bookkeeping (not in the test
    it runs) can come out as another exception, an AssertionError of its
    state, whose context is the KeyboardInterrupt.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _engine_identity(engine: CheckedEngine) -> str:
    """Return what tells the engine apart in the failure store: its file, made absolute, or its target."""
    path, colon, name = str(engine.target).partition(":")
    if path.endswith((".py", ".ipynb")) and os.path.isfile(path):
        return os.path.abspath(path) + colon + name
    return str(engine.target)


def _form_refused(engine: CheckedEngine, op: str, timeout: float | None) -> str | None:
    """Return why ``engine`` does not take ``op``'s form of its function (None: it does, or ``op`` is no other form).

    ``pow_tensor`` calls the engine's ``pow`` with a tensor exponent, which the
    contract makes optional: an engine whose ``pow`` raises on the simplest
    such case, before any gradient, takes numbers only, and its tensor form
    is unsupported rather than failed. Run like any case (in the worker too).
    """
    from gradcheck.strategies import simplest_case

    spec = OPS[op]
    if spec.engine_function == op:
        return None
    case = simplest_case(op, engine.dtype.name, ones_cotangent=not engine.grad_takes_cotangent)
    outcome = engine.run(case, timeout, repeat=False)
    call = f"{spec.engine_function}()"
    if outcome.failure is None or outcome.failure[0] != "exception" or not outcome.failure[1].startswith(call):
        return None
    _, message, detail = outcome.failure
    # The detail's first line is the exception and its text, the message only its type.
    said = detail.strip().splitlines()[0] if detail and detail.strip() else message.removeprefix(f"{call} raised ")
    shapes = ", ".join(f"{name}: {shape}" for name, shape in zip(case.names, case.shapes))
    return (
        f"{spec.label}: the engine's {spec.call_text(list(case.names), case.params)} raised {said} "
        f"({shapes}): it does not take this form, which is not checked; the contract makes "
        "the form optional (docs/contract.md, section 1b)"
    )


def _unsupported_reason(engine: CheckedEngine, op: str) -> str:
    # An engine built from a class says why (gradcheck.classes: what probing found).
    probed = engine.unsupported_reasons.get(op)
    if probed:
        return f"probing the class: {probed}"
    return f"the engine defines no {op!r}" + _alias_hint(op)


def _given_support(engine: CheckedEngine, given: Mapping[str, Any] | None) -> SupportedParams | None:
    """Return the partial support ``given`` from outside the engine, checked against it (None: none given)."""
    if given is None:
        return None
    try:
        parsed = parse_supported_params(given, dict.fromkeys(op for op in OP_NAMES if engine.supports(op)))
    except ValueError as exc:
        raise UsageError(
            f"The supported_params given to gradcheck (--supported-params) cannot be used on engine "
            f"{engine.name}: {exc}. It maps an op to the values of its parameters the engine handles, e.g. "
            '{"sum": {"keepdims": [false]}, "softmax": {"axis": [-1]}} in JSON (docs/contract.md, section 1).'
        ) from None
    return parsed


def _alias_hint(op: str) -> str:
    aliases = [alias for alias, canonical in ALIASES.items() if canonical == op]
    return f" (nor {', '.join(repr(a) for a in aliases)})" if aliases else ""
