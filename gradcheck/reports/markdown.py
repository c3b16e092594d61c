"""The Markdown summary, ``DIR/gradcheck.md``, for CI step summaries and PR comments.

Short by design: a title with the counts, one table row per check that ran,
then for each failure its headline, the minimal case in a fenced block
(program, inputs, parameters, cotangent, expected and actual), the diagnosis
and the command that replays it. Arrays are printed on one line and cut past
``MAX_VALUE_CHARS``; past ``MAX_FAILURES`` blocks the rest are only counted
(a GitHub comment holds 65536 characters). The HTML, text and JSON reports
have everything.

Text the engine produced (its name, messages, exception text) is escaped or
fenced, so it can neither break the table nor turn into HTML on GitHub.
gradcheck's own diagnoses are written with Markdown's backticks and
asterisks, and are kept as they are.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, TextIO

import numpy as np

from gradcheck.reports.display import (
    also_seen_as_lines,
    array_text,
    check_notes,
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
from gradcheck.results import CheckResult, Failure, Report

__all__ = ["MAX_FAILURES", "MAX_VALUE_CHARS", "markdown_text", "render_markdown"]

#: Longest array (or other value) shown, in characters; longer ones end in "…".
MAX_VALUE_CHARS = 200
#: Most failure blocks written; a long list would overflow a PR comment.
MAX_FAILURES = 10
#: Lines of exception text kept per failure.
DETAIL_LINES = 4

_STATUS_MARKS = {"passed": "✅", "failed": "❌", "unsupported": "➖"}

# Characters that would start emphasis, code, a link, raw HTML, a table cell
# or strikethrough in CommonMark/GitHub inline text.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


def render_markdown(report: Report, stream: TextIO) -> None:
    """Write ``report`` to ``stream`` as a short Markdown summary."""
    stream.write(markdown_text(report))


def markdown_text(report: Report) -> str:
    """Return the Markdown summary of ``report``, ending with a newline."""
    partial = partial_text(report)
    blocks = [*([f"> **{_escape(partial)}**"] if partial else []), _title(report), _table(report)]
    unsupported = [result.check for result in report.results if result.status == "unsupported"]
    if unsupported:
        blocks.append(f"{_STATUS_MARKS['unsupported']} Not supported by the engine (not failures): "
                      + ", ".join(_escape(check) for check in unsupported) + ".")
    notes = check_notes(report)
    if notes:
        blocks.append("\n".join(f"- **{_escape(subject)}**: {_escape(text)}" for subject, text in notes))
    failures = [(result, number, failure) for result in report.results
                for number, failure in enumerate(result.failures, start=1)]
    blocks += [_failure_block(report, *item) for item in failures[:MAX_FAILURES]]
    if len(failures) > MAX_FAILURES:
        blocks.append(f"_{len(failures) - MAX_FAILURES} more failure(s) not shown here: "
                      "see the text, HTML or JSON report._")
    return "\n\n".join(blocks) + "\n"


def _title(report: Report) -> str:
    mark = _STATUS_MARKS["passed" if report.ok else "failed"]
    facts = [f"engine {_escape(report.engine_name)}"] if report.engine_name else []
    if report.dtype:
        facts.append(report.dtype)
    facts.append(f"seed {report.seed}")
    examples = examples_text(report)
    if examples is not None:
        facts.append(examples)
    return (f"## {mark} gradcheck {_code_span(report.target)}: {summary_text(report)}\n\n"
            + " · ".join(facts))


def _table(report: Report) -> str:
    lines = ["| check | kind | status | examples |", "|---|---|---|---:|"]
    for result in report.results:
        if result.status == "unsupported":
            continue
        status = f"{_STATUS_MARKS[result.status]} {status_text(result)}"
        lines.append(f"| {_escape(result.check)} | {result.kind} | {status} | {result.examples} |")
    return "\n".join(lines)


def _failure_block(report: Report, result: CheckResult, number: int, failure: Failure) -> str:
    heading = f"### {_escape(result.check)} · {failure.category}"
    if len(result.failures) > 1:
        heading += f" ({number} of {len(result.failures)})"
    parts = [heading, f"**{_escape(failure.message)}**", _fenced(_case_text(failure))]
    if failure.diagnosis:
        parts.append(f"**Diagnosis:** {_one_line(failure.diagnosis)}")
    also = also_seen_as_lines(failure)
    if also:
        parts.append("**Also seen as** (the same bug):\n\n" + "\n".join(f"- {_escape(_one_line(line))}" for line in also))
    replay = f"Replay: {_code_span(replay_command(report, result))}"
    if failure.reproducer:
        replay += f" · reproducer {_code_span(failure.reproducer)}"
    parts.append(replay)
    return "\n\n".join(parts)


def _case_text(failure: Failure) -> str:
    """Return the minimal case as aligned ``label  value`` lines, the program first."""
    rows: list[tuple[str, str]] = [
        (f"{record.name} {shape_text(record.shape)} {record.dtype}", _compact(record.values))
        for record in failure.inputs
    ]
    if failure.params:
        rows.append(("params", _clip(params_text(failure.params))))
    if failure.cotangent is not None:
        rows.append((f"cotangent {shape_text(np.shape(failure.cotangent))}", _compact(failure.cotangent)))
    directions = directions_title(failure)
    if directions is not None:
        # A derived check's: one line per input, as the inputs are.
        rows.append((directions, "\n".join(f"{record.name} {shape_text(record.shape)} {_compact(record.values)}"
                                            for record in failure.directions)))
    if failure.mode is not None and (failure.expected is not None or failure.actual is not None):
        # Which array of a derived check differed (its message says it in a sentence), as the other formats name it.
        rows.append(("compared", comparison_title(failure)))
    for label, values in (("expected", failure.expected), ("actual", failure.actual)):
        if values is not None:
            rows.append((f"{label} {shape_text(np.shape(values))}", _compact(values)))
    worst = worst_entry_text(failure)
    if worst:
        rows.append(("worst entry", worst))
    detail = detail_text(failure.detail, limit=DETAIL_LINES)
    if detail:
        rows.append(("detail", "\n".join(_clip(line) for line in detail.splitlines())))
    text = "\n".join(_aligned(rows))
    return f"{failure.program}\n\n{text}" if failure.program else text


def _aligned(rows: list[tuple[str, str]]) -> Iterable[str]:
    width = max((len(label) for label, _ in rows), default=0) + 2
    for label, value in rows:
        first, *rest = value.splitlines() or [""]
        yield f"{label.ljust(width)}{first}".rstrip()
        yield from (" " * width + line for line in rest)


def _compact(values: Any) -> str:
    """Return an array on one line (``[[1.5 1.5] [1. 1.]]``), cut past ``MAX_VALUE_CHARS``."""
    one_line = " ".join(array_text(values).split())
    # NumPy pads columns to line up across rows; on one line the padding only
    # leaves "[ 0.5 -1. ]" gaps inside the brackets.
    return _clip(re.sub(r"\s+\]", "]", re.sub(r"\[\s+", "[", one_line)))


def _clip(text: str) -> str:
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def _one_line(text: str) -> str:
    # A blank line inside a diagnosis would end the paragraph and could start a list.
    return " ".join(text.split())


def _escape(text: str) -> str:
    """Return untrusted ``text`` as literal inline Markdown, on one line."""
    text = _one_line(text).replace("&", "&amp;")
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)


def _code_span(text: str) -> str:
    """Return ``text`` as an inline code span that no backtick in it can close."""
    ticks = "`" * (_longest_backtick_run(text) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{_one_line(text)}{pad}{ticks}"


def _fenced(text: str) -> str:
    """Return ``text`` in a fenced code block longer than any backtick run inside it."""
    fence = "`" * max(3, _longest_backtick_run(text) + 1)
    return f"{fence}text\n{text}\n{fence}"
