"""Live progress while checks run, on stderr: a line per finished check, and on a terminal a bar.

On a terminal, each finished check prints a line above a bar that counts the
examples drawn (not only the checks) and estimates the time left. Anywhere
else (a CI log, a pipe, a file) each check that ran prints one plain line as
it finishes, flushed at once, so a long run is never silent::

    gradcheck: matmul passed (100 examples, 1.3 s) [3/6]

An op the engine does not define prints no line of its own there (the
report lists them); the count is of the checks that run. ``gradcheck check
--quiet`` shows nothing. Used by ``gradcheck check``, ``check-function`` and
``demo``; the report itself goes to stdout either way.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Callable, Iterator, Mapping, NamedTuple, Sequence

if TYPE_CHECKING:
    from rich.console import Console

    from gradcheck.engine import CheckedEngine
    from gradcheck.results import CheckResult

__all__ = ["Callbacks", "check_plan", "plain_line", "progress_callbacks"]


class Callbacks(NamedTuple):
    """What ``run_checks`` takes to report progress; every one None when nothing is shown."""

    on_start: "Callable[[str], None] | None" = None
    on_finish: "Callable[[CheckResult], None] | None" = None
    on_example: "Callable[[], None] | None" = None


def check_plan(
    engine: "CheckedEngine", ops: Sequence[str], max_examples: int, programs: int, order: int | None = None,
) -> dict[str, int]:
    """Return the examples each check of a run is to draw, in check order (0: an op the engine lacks).

    An estimate for progress only: the runner decides what actually runs. Each op's
    derived checks (order 2, forward mode: ``runner.derived_modes``) follow it.
    """
    from gradcheck.errors import UsageError
    from gradcheck.runner import PROGRAMS_CHECK, derived_checks, derived_modes

    try:
        modes = derived_modes(engine, order)
    except UsageError:
        modes = ()  # the runner says so
    plan: dict[str, int] = {}
    for op in ops:
        plan[op] = max_examples if engine.supports(op) else 0
        for check in derived_checks(op, modes) if engine.supports(op) else ():
            plan[check] = max_examples
    if programs and any(plan.values()):
        plan[PROGRAMS_CHECK] = programs
        for check in derived_checks(PROGRAMS_CHECK, modes):
            plan[check] = programs
    return plan


def plain_line(result: "CheckResult", done: int, total: int) -> str:
    """Return the line a finished check prints outside a terminal: ``gradcheck: matmul passed (100 examples, 1.3 s) [3/6]``."""
    from gradcheck.reports.display import status_text

    spent = f" ({result.examples} examples, {result.seconds:.1f} s)" if result.examples else ""
    return f"gradcheck: {result.check} {status_text(result)}{spent} [{done}/{total}]"


@contextlib.contextmanager
def progress_callbacks(
    plan: Mapping[str, int], console: "Console | None" = None, *, quiet: bool = False
) -> Iterator[Callbacks]:
    """Yield ``run_checks`` callbacks that show the progress of ``plan`` (check -> examples, see ``check_plan``).

    ``console`` defaults to a rich Console on stderr: on a terminal a bar of
    examples with an estimate of the time left, elsewhere one plain line per
    check that ran. ``quiet``: nothing is shown (every callback is None).
    """
    from rich.console import Console

    console = console or Console(stderr=True)
    if quiet:
        yield Callbacks()
    elif console.is_terminal:
        with _bar(plan, console) as callbacks:
            yield callbacks
    else:
        yield _plain(plan, console)


def _plain(plan: Mapping[str, int], console: "Console") -> Callbacks:
    total = sum(1 for examples in plan.values() if examples)
    done = 0

    def on_finish(result: "CheckResult") -> None:
        nonlocal done
        if not plan.get(result.check, 1) and result.status == "unsupported":
            return  # an op the engine lacks: the report lists them all at once
        done += 1
        console.print(plain_line(result, done, max(total, done)), markup=False, highlight=False, soft_wrap=True)
        console.file.flush()  # a CI log shows the line now, not when a buffer fills

    return Callbacks(on_finish=on_finish)


@contextlib.contextmanager
def _bar(plan: Mapping[str, int], console: "Console") -> Iterator[Callbacks]:
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    from gradcheck.reports.display import status_text
    from gradcheck.reports.text import STATUS_STYLES

    columns = (TextColumn("checking {task.description}"), BarColumn(), TaskProgressColumn(),
               TextColumn("{task.completed:.0f}/{task.total:.0f} examples"), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn())
    # Examples finished checks had to spare, and the current check's so far: a check that
    # stops early (a failure found, a small search space) jumps the bar to its end.
    finished, current, budget = 0, 0, 0
    # transient: the bar goes away at the end, the per-check lines stay above it.
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("", total=sum(plan.values()))

        def on_start(check: str) -> None:
            nonlocal current, budget
            current, budget = 0, plan.get(check, 0)
            progress.update(task, description=check)

        def on_example() -> None:
            nonlocal current
            if current < budget:  # shrinking draws more examples than the budget
                current += 1
                progress.update(task, completed=finished + current)

        def on_finish(result: "CheckResult") -> None:
            nonlocal finished
            finished += plan.get(result.check, 0)
            timing = f"  {result.examples} examples  {result.seconds:.2f} s" if result.examples else ""
            progress.console.print(Text.assemble(
                (f"{result.check:<18}", "bold"),
                (status_text(result), STATUS_STYLES[result.status]),
                (timing, "dim"),
            ))
            progress.update(task, completed=finished)

        yield Callbacks(on_start, on_finish, on_example)
