"""Live progress while checks run: one line per finished check, and a bar for the current one.

Shown on stderr, and only when stderr is a terminal: a CI log or a pipe gets
the report and nothing else. Used by ``gradcheck check`` and ``gradcheck demo``.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Callable, Iterator

if TYPE_CHECKING:
    from rich.console import Console

    from gradcheck.results import CheckResult

__all__ = ["Callbacks", "progress_callbacks"]

#: ``(on_start, on_finish)`` as ``run_checks`` takes them; ``(None, None)`` when quiet.
Callbacks = tuple["Callable[[str], None] | None", "Callable[[CheckResult], None] | None"]


@contextlib.contextmanager
def progress_callbacks(total: int, console: "Console | None" = None) -> Iterator[Callbacks]:
    """Yield ``run_checks`` callbacks that show progress over ``total`` checks on ``console``.

    ``console`` defaults to a rich Console on stderr. When it is not a
    terminal the callbacks are ``None``: nothing is shown.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.text import Text

    from gradcheck.reports.display import status_text
    from gradcheck.reports.text import STATUS_STYLES

    console = console or Console(stderr=True)
    if not console.is_terminal:
        yield None, None
        return

    columns = (TextColumn("checking {task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    # transient: the bar goes away at the end, the per-check lines stay above it.
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("", total=total)

        def on_start(check: str) -> None:
            progress.update(task, description=check)

        def on_finish(result: "CheckResult") -> None:
            timing = f"  {result.examples} examples  {result.seconds:.2f} s" if result.examples else ""
            progress.console.print(Text.assemble(
                (f"{result.check:<18}", "bold"),
                (status_text(result), STATUS_STYLES[result.status]),
                (timing, "dim"),
            ))
            progress.advance(task)

        yield on_start, on_finish
