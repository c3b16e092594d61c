"""The terminal report: a summary table, then one panel per failure.

Each panel is meant to be read on one screen by the student whose engine
failed: what went wrong, the minimal inputs, the parameters and cotangent,
expected against actual, the worst entry, a guess at the bug, and the command
that replays the search. Rich drops colour when the output is not a terminal,
so the same renderer writes plain text to a pipe or a CI log.

All text taken from the report is passed as ``rich.text.Text``, never as
markup: an array such as ``[b 1.]`` must not be read as a style tag.
"""

from __future__ import annotations

import io
import textwrap
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np
from rich import box
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from gradcheck.reports.display import (
    also_seen_as_lines,
    array_text,
    check_notes,
    check_title,
    comparison_title,
    detail_text,
    directions_title,
    examples_text,
    params_text,
    partial_text,
    replay_command,
    shape_text,
    status_text,
    summary_text,
    worst_entry_text,
)
from gradcheck.reports.student import check_points, failed_replay, score_text, statuses
from gradcheck.results import ArrayRecord, CheckResult, Failure, Report

if TYPE_CHECKING:
    from gradcheck.reports.lms import Grading

__all__ = ["render_check_text", "render_text", "summary_line"]

STATUS_STYLES = {"passed": "green", "failed": "bold red", "unsupported": "dim"}

# With more unsupported checks than this, they are listed on one line instead
# of one table row each: an engine that defines three ops should not push its
# results off the screen with twenty-five "unsupported" rows.
COLLAPSE_UNSUPPORTED_AFTER = 3

# Columns a panel takes around its content (border and padding on each side),
# and the gap between the label column and the values.
_PANEL_FRAME = 4
_LABEL_GAP = 2
# Columns between expected and actual when they fit side by side.
_SIDE_BY_SIDE_GAP = 4
# The widest label column: "second derivative w.r.t. x0" fits, a longer label wraps.
_LONGEST_LABEL = 28


def render_text(report: Report, console: Console, grading: "Grading | None" = None) -> None:
    """Print ``report`` on ``console``: header, summary table, notes, failures, summary line.

    With ``grading`` (``gradcheck grade``'s student reports), the score comes
    first and the table says what each check was worth and earned.
    """
    width = console.width
    partial = partial_text(report)
    if partial is not None:  # first: whoever reads on must know what is missing
        console.print(_hanging([("", partial)], width, style="bold yellow"))
    console.print(_header(report, width))
    points = None if grading is None else check_points(grading.weights, statuses(report, grading.checks))
    if points is not None:
        earned, possible = (sum(pair[i] for pair in points.values()) for i in (0, 1))
        console.print(Text(score_text(earned, possible), style="bold"))
    console.print()
    console.print(_summary_table(report, points))
    collapsed = _collapsed_unsupported(report)
    if collapsed:
        console.print(_hanging([("unsupported", ", ".join(collapsed))], width, style="dim"))
    notes = check_notes(report)
    if notes:
        console.print()
        console.print(_hanging(notes, width))
    for result in report.results:
        for number, failure in enumerate(result.failures, start=1):
            console.print()
            console.print(_failure_panel(report, result, failure, number, width))
    replay = failed_replay(report)
    if replay is not None:
        console.print()
        # soft_wrap: a command broken over two lines cannot be copied.
        console.print(Text(f"replay the failed checks:\n  {replay}", style="cyan"), soft_wrap=True)
    console.print()
    console.print(summary_line(report))


def render_check_text(report: Report, result: CheckResult, width: int = 80) -> str:
    """Return the failure panels of one check as plain text, ``width`` columns wide.

    The same panels ``render_text`` prints, without colour: for places that
    take a string, such as a pytest failure report or an assertion message.
    Empty when ``result`` has no failure.
    """
    stream = io.StringIO()
    console = Console(file=stream, width=width, color_system=None, force_terminal=False,
                      legacy_windows=False)
    for number, failure in enumerate(result.failures, start=1):
        if number > 1:
            console.print()
        console.print(_failure_panel(report, result, failure, number, width))
    return stream.getvalue()


def summary_line(report: Report) -> Text:
    """Return the closing line: ``1 passed, 2 failed, 1 unsupported (seed 0)``."""
    style = "bold red" if report.summary["failed"] else "bold green"
    return Text.assemble((summary_text(report), style), f" (seed {report.seed})")


def _header(report: Report, width: int) -> Text:
    facts = [f"engine {report.engine_name}"] if report.engine_name else []
    if report.dtype:
        facts.append(report.dtype)
    examples = examples_text(report)
    if examples is not None:
        facts.append(examples)
    facts.append(f"seed {report.seed}")
    return Text.assemble(
        ("gradcheck ", "bold"), (report.target, "bold cyan"), "\n",
        _hanging([("", " · ".join(facts))], width, style="dim"),
    )


def _collapsed_unsupported(report: Report) -> list[str]:
    unsupported = [result.check for result in report.results if result.status == "unsupported"]
    return unsupported if len(unsupported) > COLLAPSE_UNSUPPORTED_AFTER else []


def _summary_table(report: Report, points: dict[str, tuple[float, float]] | None = None) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("check")
    table.add_column("kind")
    table.add_column("status")
    table.add_column("examples", justify="right")
    table.add_column("seconds", justify="right")
    if points is not None:
        table.add_column("points", justify="right")
    collapsed = set(_collapsed_unsupported(report))
    for result in report.results:
        if result.check in collapsed:
            continue
        ran = result.status != "unsupported"
        table.add_row(
            Text(result.check),
            result.kind,
            Text(status_text(result), style=STATUS_STYLES[result.status]),
            str(result.examples) if ran else "-",
            f"{result.seconds:.2f}" if ran else "-",
            *([] if points is None else [_points_text(points.get(result.check))]),
            style=None if ran else "dim",
        )
    return table


def _points_text(pair: tuple[float, float] | None) -> str:
    return "" if pair is None else f"{pair[0]:g} / {pair[1]:g}"


def _hanging(rows: list[tuple[str, str]], width: int, style: str = "") -> Text:
    """Return ``label  sentence`` paragraphs, each sentence wrapped under itself.

    textwrap rather than rich's wrapping or a grid: those pad or leave blanks
    at the end of wrapped lines, which end up in logs and gold files.
    """
    indent = max(len(label) for label, _ in rows)
    indent += _LABEL_GAP if indent else 0
    paragraphs = [
        textwrap.fill(text, width=width, initial_indent=label.ljust(indent),
                      subsequent_indent=" " * indent, break_on_hyphens=False)
        for label, text in rows
    ]
    return Text("\n".join(paragraphs), style=style)


def _label_grid(rows: Iterable[tuple[str, RenderableType | None]], label_width: int | None = None) -> Table:
    """Return a two-column grid: a bold label, then its content (wrapped under itself).

    Labels longer than ``label_width`` (when given) wrap at their spaces.
    """
    grid = Table.grid(padding=(0, _LABEL_GAP))
    grid.add_column(style="bold", no_wrap=label_width is None, max_width=label_width)
    # fold, not the default ellipsis: an exception text or a path must never lose characters.
    grid.add_column(overflow="fold")
    for label, content in rows:
        if content is not None:
            grid.add_row(Text(label), content)
    return grid


def _failure_panel(
    report: Report, result: CheckResult, failure: Failure, number: int, width: int
) -> Panel:
    """Return the panel of one failure: headline, then one labelled row per thing known."""
    comparison = comparison_title(failure)
    directions = directions_title(failure) or "directions"
    labels = ("program", "inputs", "params", "cotangent", directions, comparison, "worst entry",
              "diagnosis", "also seen as", "detail", "reproducer", "replay")
    # Room left for values once the panel frame and the label column are drawn
    # (sized for the longest label, present or not: arrays never overflow). A
    # derived check's long comparison (``gradient w.r.t. x0 made with
    # create_graph=True``) wraps rather than narrowing every value.
    label_width = max(map(len, labels))
    wrapped = label_width > _LONGEST_LABEL
    label_width = min(label_width, _LONGEST_LABEL)
    room = width - _PANEL_FRAME - label_width - _LABEL_GAP
    rows = zip(labels, (
        _optional(failure.program),
        _inputs(failure.inputs, room),
        _optional(params_text(failure.params)),
        _array_block(None, failure.cotangent, room),
        _inputs(failure.directions, room),
        _comparison(failure, room),
        _optional(worst_entry_text(failure)),
        _optional(failure.diagnosis, style="yellow"),
        _optional("\n".join(also_seen_as_lines(failure))),
        _optional(detail_text(failure.detail)),
        _optional(failure.reproducer),
        Text(replay_command(report, result), style="cyan"),
    ))
    title = f"{check_title(result.check)} · {failure.category}"
    if len(result.failures) > 1:
        title += f" ({number} of {len(result.failures)})"
    body = Group(Text(failure.message, style="bold"), Text(), _label_grid(rows, label_width if wrapped else None))
    return Panel(body, title=Text(title), title_align="left", border_style="red", box=box.ROUNDED)


def _optional(text: str | None, style: str = "") -> Text | None:
    return Text(text, style=style) if text else None


def _inputs(inputs: Sequence[ArrayRecord], room: int) -> Text | None:
    if not inputs:
        return None
    blocks = [_array_block(f"{record.name}  {shape_text(record.shape)}  {record.dtype}",
                           record.values, room) for record in inputs]
    return Text("\n").join(block for block in blocks if block is not None)


def _headed(heading: str, body: str) -> Text:
    return Text.assemble((heading, "dim"), "\n", body)


def _array_block(heading: str | None, values: np.ndarray | None, room: int) -> Text | None:
    """Return an array under a heading (default heading: its shape)."""
    if values is None:
        return None
    return _headed(heading or shape_text(np.shape(values)), array_text(values, max_line_width=room))


def _comparison(failure: Failure, room: int) -> Text | None:
    """Return expected and actual side by side when both fit in ``room``, else stacked."""
    blocks = [
        (f"{name}  {shape_text(np.shape(values))}", array_text(values, max_line_width=room))
        for name, values in (("expected", failure.expected), ("actual", failure.actual))
        if values is not None
    ]
    if not blocks:
        return None
    columns = [[heading, *body.splitlines()] for heading, body in blocks]
    widths = [max(map(len, lines)) for lines in columns]
    if len(columns) == 1 or sum(widths) + _SIDE_BY_SIDE_GAP > room:
        return Text("\n").join(_headed(heading, body) for heading, body in blocks)
    left, right = columns
    height = max(len(left), len(right))
    left += [""] * (height - len(left))
    right += [""] * (height - len(right))
    return Text("\n").join(
        Text.assemble(
            (left_line.ljust(widths[0] + _SIDE_BY_SIDE_GAP), "dim" if row == 0 else ""),
            (right_line, "dim" if row == 0 else ""),
        )
        for row, (left_line, right_line) in enumerate(zip(left, right))
    )
