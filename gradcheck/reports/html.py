"""The HTML report: one self-contained page, ``DIR/gradcheck.html``.

Built like coverage.py's HTML report: ``report_view`` first turns a
``Report`` into plain dataclasses that hold nothing but display strings and
colours (the *view model*), then ``templates/report.html.j2`` lays them out.
All the deciding (which slice, which colour, which cell is the worst) happens
in Python, where it is tested; the template only loops and prints.

The page needs no network, no fonts and no script: its stylesheet is inlined
and a Content-Security-Policy forbids everything else. Jinja2's autoescaping
is on for every value, because everything that comes from the engine (its
name, exception messages, what it printed) is untrusted text.

Arrays are drawn as colour-scaled tables, one per 2-D slice, so that the
*pattern* of a wrong gradient shows before any number is read: a transposed
rule gives a mirrored difference, an unsummed broadcast a stripe.

.. code-block:: pycon

    >>> import io
    >>> stream = io.StringIO()
    >>> render_html(report, stream)
    >>> stream.getvalue()[:15]
    '<!DOCTYPE html>'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence, TextIO

import jinja2
import numpy as np

import gradcheck
from gradcheck.reports.display import (
    also_seen_as_lines,
    check_notes,
    comparison_title,
    detail_text,
    directions_title,
    examples_text,
    number_text,
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

__all__ = [
    "ArrayView",
    "CellView",
    "CheckRowView",
    "ComparisonView",
    "FailureView",
    "ReportView",
    "SliceView",
    "check_anchor",
    "failure_anchor",
    "render_html",
    "report_view",
]

#: Largest side of a 2-D slice drawn in full, and most slices drawn per array.
#: Minimal failing cases are far smaller; the limits keep a page readable when
#: a case could not shrink. The JSON report always has every value.
MAX_SIDE = 16
MAX_SLICES = 8

# Colour scales as (position in [0, 1], "#rrggbb") stops, from ColorBrewer.
# Values use a sequential purple ramp; the difference a diverging blue-white-red
# one (RdBu) centred on zero, so "actual too small" and "actual too large" read
# as opposite colours and a correct entry is white. Purple, not blue or red, so
# a value table is never mistaken for a difference table.
SEQUENTIAL = ((0.0, "#fcfbfd"), (0.5, "#bcbddc"), (1.0, "#54278f"))
DIVERGING = (
    (0.0, "#2166ac"), (0.25, "#92c5de"), (0.5, "#f7f7f7"), (0.75, "#f4a582"), (1.0, "#b2182b"),
)
# Text on a cell whose background is darker than this (relative luminance) is white.
_DARK_BACKGROUND = 0.4

_TEMPLATE = "report.html.j2"


# --- the view model -------------------------------------------------------------


@dataclass(frozen=True)
class CellView:
    """One entry of an array table: its text, its colours, and whether it is the worst."""

    text: str
    background: str
    foreground: str
    # The full index with the array's name, shown as a tooltip: ``b[0, 1] = 3``.
    tooltip: str
    worst: bool = False
    nonfinite: bool = False

    @property
    def css_class(self) -> str:
        """Return the cell's classes for the stylesheet (``worst``, ``nonfinite``), or ``""``."""
        return " ".join(name for name, on in (("worst", self.worst), ("nonfinite", self.nonfinite)) if on)


@dataclass(frozen=True)
class SliceView:
    """One 2-D table; ``label`` names the slice (``[1, :, :]``) when the array has more axes."""

    label: str | None
    rows: list[list[CellView]]


@dataclass(frozen=True)
class ArrayView:
    """An array drawn as tables: a caption, its shape and dtype, its slices."""

    caption: str
    shape: str
    dtype: str | None
    slices: list[SliceView]
    # Says what was left out (slices, rows, columns), or that the array is empty.
    omitted: str | None = None
    # "difference" arrays get the diverging legend; values the sequential one.
    difference: bool = False


@dataclass(frozen=True)
class ComparisonView:
    """Expected against actual (and their difference when the shapes agree)."""

    title: str
    arrays: list[ArrayView]
    # Why there is no difference table, when there is none.
    note: str | None
    worst: str | None
    # The ends of the two colour scales, for the legends: the values (light to
    # dark) and the largest |actual - expected| (None without a difference table).
    value_range: tuple[str, str]
    difference_limit: str | None


@dataclass(frozen=True)
class FailureView:
    """Everything known about one failure of one check, as display strings."""

    anchor: str
    check: str
    category: str
    # "1 of 3" when the check failed in several ways, else None.
    position: str | None
    message: str
    program: str | None
    inputs: list[ArrayView]
    params: str | None
    cotangent: ArrayView | None
    comparison: ComparisonView | None
    # The diagnosis as (kind, text) runs, kind "text", "code" or "em": see _prose.
    diagnosis: list[tuple[str, str]] | None
    # Other failures the same bug explains: "shape on (a: (2, 1, 2, 1), b: (1, 1, 1)): ...".
    also_seen_as: list[str]
    detail: str | None
    reproducer: str | None
    replay: str
    # A derived check's (gradcheck.higher) directions (order 2) or tangents (forward), one per input,
    # under that title; empty for a first-order failure.
    directions: list[ArrayView] = field(default_factory=list)
    directions_title: str | None = None


@dataclass(frozen=True)
class CheckRowView:
    """One row of the summary table; ``anchor`` links a failed check to its first failure."""

    check: str
    kind: str
    status: str
    status_text: str
    examples: str
    seconds: str
    anchor: str | None
    # The row's own id (``check_anchor``), and, in a graded report, "earned / worth" points.
    id: str = ""
    points: str | None = None


@dataclass(frozen=True)
class ReportView:
    """The whole page."""

    title: str
    target: str
    facts: list[tuple[str, str]]
    summary: str
    ok: bool
    rows: list[CheckRowView]
    notes: list[tuple[str, str]]
    failures: list[FailureView]
    # A graded report (``grade``): "Score 7.5 / 10 (75%)", and the rows carry points.
    score: str | None = None
    # One command replaying every failed op (only those), when something failed.
    replay_failed: str | None = None
    # A run stopped by a signal: what the report lacks, shown above everything.
    partial: str | None = None
    # CSS gradients of the two colour scales, for the legends.
    value_ramp: str = field(default_factory=lambda: _css_gradient(SEQUENTIAL))
    difference_ramp: str = field(default_factory=lambda: _css_gradient(DIVERGING))
    generator: str = field(default_factory=lambda: f"gradcheck {gradcheck.__version__}")


# --- building the view model ----------------------------------------------------


def report_view(report: Report, grading: "Grading | None" = None) -> ReportView:
    """Return the view model of ``report``: plain strings, colours and tables, nothing to compute.

    With ``grading`` (``gradcheck grade``'s student reports), the page says
    the score and what each check was worth and earned.
    """
    failures: list[FailureView] = []
    rows = []
    points = None if grading is None else check_points(grading.weights, statuses(report, grading.checks))
    for result in report.results:
        views = [_failure_view(report, result, failure, number)
                 for number, failure in enumerate(result.failures, start=1)]
        failures += views
        earned_worth = None if points is None else points.get(result.check)
        rows.append(_row_view(result, views[0].anchor if views else None,
                              None if earned_worth is None else f"{earned_worth[0]:g} / {earned_worth[1]:g}"))
    summary = summary_text(report)
    score = None
    if points is not None:
        score = score_text(sum(earned for earned, _ in points.values()), sum(worth for _, worth in points.values()))
    return ReportView(
        title=f"gradcheck {report.target}: {summary}",
        target=report.target,
        facts=_facts(report),
        summary=summary,
        ok=report.ok,
        rows=rows,
        notes=check_notes(report),
        failures=failures,
        score=score,
        replay_failed=failed_replay(report),
        partial=partial_text(report),
    )


def _facts(report: Report) -> list[tuple[str, str]]:
    facts = [("engine", report.engine_name), ("dtype", report.dtype), ("seed", str(report.seed))]
    examples = examples_text(report)
    if examples is not None:
        facts.append(("examples", examples))
    if report.programs is not None:
        facts.append(("programs", str(report.programs)))
    return [(label, value) for label, value in facts if value]


def _row_view(result: CheckResult, anchor: str | None, points: str | None = None) -> CheckRowView:
    ran = result.status != "unsupported"
    return CheckRowView(
        check=result.check,
        kind=result.kind,
        status=result.status,
        # An unsupported op is not a failure: the row says why instead.
        status_text=status_text(result) if ran or not result.reason else f"unsupported ({result.reason})",
        examples=str(result.examples) if ran else "-",
        seconds=f"{result.seconds:.2f}" if ran else "-",
        anchor=anchor,
        id=check_anchor(result.check),
        points=points,
    )


def check_anchor(check: str) -> str:
    """Return the id of ``check``'s row in the page (``check-matmul``): a gradebook links to it."""
    return f"check-{_id_part(check)}"


def failure_anchor(check: str, number: int = 1) -> str:
    """Return the id of ``check``'s ``number``-th failure panel (``failure-matmul-1``)."""
    return f"failure-{_id_part(check)}-{number}"


def _id_part(check: str) -> str:
    # Check names are op names today, but an id must stay valid whatever they become.
    return re.sub(r"[^A-Za-z0-9_-]+", "-", check)


def _failure_view(report: Report, result: CheckResult, failure: Failure, number: int) -> FailureView:
    position = f"{number} of {len(result.failures)}" if len(result.failures) > 1 else None
    cotangent = None
    if failure.cotangent is not None:
        cotangent = _array_view("cotangent", failure.cotangent, None, _value_scale(failure.cotangent))
    return FailureView(
        anchor=failure_anchor(result.check, number),
        check=result.check,
        category=failure.category,
        position=position,
        message=failure.message,
        program=failure.program,
        inputs=[_input_view(record) for record in failure.inputs],
        params=params_text(failure.params) or None,
        cotangent=cotangent,
        comparison=_comparison_view(failure),
        diagnosis=_prose(failure.diagnosis),
        also_seen_as=also_seen_as_lines(failure),
        detail=detail_text(failure.detail),
        reproducer=failure.reproducer,
        replay=replay_command(report, result),
        directions=[_input_view(record) for record in failure.directions] if directions_title(failure) else [],
        directions_title=directions_title(failure),
    )


# `code` and *emphasis*: the only markup gradcheck's own diagnoses use.
_INLINE_MARKUP = re.compile(r"`([^`]+)`|\*([^*\s][^*]*?)\*")


def _prose(text: str | None) -> list[tuple[str, str]] | None:
    """Return gradcheck-written prose as ``(kind, text)`` runs for the template.

    Diagnoses mark code with backticks and stress with asterisks, which the
    terminal shows as typed; here they become ``<code>`` and ``<em>``. Splitting
    into runs, rather than producing HTML, keeps every character escaped.
    """
    if not text:
        return None
    runs: list[tuple[str, str]] = []
    end = 0
    for match in _INLINE_MARKUP.finditer(text):
        if match.start() > end:
            runs.append(("text", text[end:match.start()]))
        code, stressed = match.groups()
        runs.append(("code", code) if code is not None else ("em", stressed))
        end = match.end()
    if end < len(text):
        runs.append(("text", text[end:]))
    return runs


def _input_view(record: ArrayRecord) -> ArrayView:
    return _array_view(record.name, record.values, record.dtype, _value_scale(record.values))


def _comparison_view(failure: Failure) -> ComparisonView | None:
    """Return expected, actual and (same shapes only) their difference, on shared scales."""
    if failure.expected is None and failure.actual is None:
        return None
    expected = None if failure.expected is None else np.asarray(failure.expected, dtype=np.float64)
    actual = None if failure.actual is None else np.asarray(failure.actual, dtype=np.float64)
    present = [(name, values) for name, values in (("expected", expected), ("actual", actual))
               if values is not None]
    # One scale for both, so equal numbers get equal colours across the two tables.
    scale = _value_scale(*(values for _, values in present))
    paired = expected is not None and actual is not None and expected.shape == actual.shape
    worst = tuple(failure.worst_index) if paired and failure.worst_index is not None else None
    subject = failure.wrt or "output"
    arrays = [_array_view(name, values, None, scale, subject=subject, worst=worst)
              for name, values in present]
    note = limit = None
    if paired and expected is not None and actual is not None:
        with np.errstate(invalid="ignore", over="ignore"):
            difference = actual - expected
        difference_scale = _difference_scale(difference)
        limit = number_text(difference_scale.high)
        arrays.append(_array_view("actual − expected", difference, None, difference_scale,
                                  subject=subject, worst=worst, difference=True))
    elif expected is not None and actual is not None:
        note = (
            f"No difference table: actual has shape {shape_text(actual.shape)} where "
            f"{shape_text(expected.shape)} is expected, so their entries cannot be paired."
        )
    return ComparisonView(
        title=comparison_title(failure),
        arrays=arrays,
        note=note,
        worst=worst_entry_text(failure),
        value_range=(number_text(scale.low), number_text(scale.high)),
        difference_limit=limit,
    )


# --- colour scales --------------------------------------------------------------


@dataclass(frozen=True)
class _Scale:
    """A linear map from ``[low, high]`` onto a colour ramp."""

    stops: Sequence[tuple[float, str]]
    low: float
    high: float
    # Where a constant array lands: the light end of a sequential ramp, the
    # white middle ("no difference") of a diverging one.
    flat: float = 0.0

    def position(self, value: float) -> float:
        if self.high <= self.low:
            return self.flat
        return min(1.0, max(0.0, (value - self.low) / (self.high - self.low)))

    def colours(self, value: float) -> tuple[str, str]:
        """Return ``(background, text colour)`` for ``value``."""
        background = _interpolate(self.stops, self.position(value))
        foreground = "#ffffff" if _luminance(background) < _DARK_BACKGROUND else "#1a1a1a"
        return background, foreground


def _finite(*arrays: np.ndarray) -> np.ndarray:
    values = np.concatenate([np.ravel(np.asarray(a, dtype=np.float64)) for a in arrays])
    return values[np.isfinite(values)]


def _value_scale(*arrays: Any) -> _Scale:
    finite = _finite(*arrays)
    if finite.size == 0:
        return _Scale(SEQUENTIAL, 0.0, 0.0)
    return _Scale(SEQUENTIAL, float(finite.min()), float(finite.max()))


def _difference_scale(difference: np.ndarray) -> _Scale:
    # Symmetric around zero: the same error reads as the same strength of colour
    # whichever its sign, and a zero difference is always white.
    finite = _finite(difference)
    limit = float(np.abs(finite).max()) if finite.size else 0.0
    return _Scale(DIVERGING, -limit, limit, flat=0.5)


def _interpolate(stops: Sequence[tuple[float, str]], position: float) -> str:
    for (left, left_colour), (right, right_colour) in zip(stops, stops[1:]):
        if position <= right:
            weight = (position - left) / (right - left)
            mixed = [round(a + (b - a) * weight) for a, b in zip(_rgb(left_colour), _rgb(right_colour))]
            return "#{:02x}{:02x}{:02x}".format(*mixed)
    return stops[-1][1]


def _css_gradient(stops: Sequence[tuple[float, str]]) -> str:
    """Return a left-to-right CSS gradient through ``stops``, for a legend."""
    return "linear-gradient(to right, " + ", ".join(
        f"{colour} {position:.0%}" for position, colour in stops) + ")"


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _luminance(colour: str) -> float:
    """Return the WCAG relative luminance of ``#rrggbb`` (0 black, 1 white)."""
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(channel) for channel in _rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


# --- arrays as tables ---------------------------------------------------------------


def _array_view(
    caption: str,
    values: Any,
    dtype: str | None,
    scale: _Scale,
    *,
    subject: str | None = None,
    worst: tuple[int, ...] | None = None,
    difference: bool = False,
) -> ArrayView:
    """Return ``values`` as colour-scaled tables, one per 2-D slice.

    A 0-d array is one cell, a 1-D array one row, a 2-D array one table; more
    axes iterate the leading indices, each table labelled like ``[1, :, :]``.
    ``subject`` names the array in tooltips (``b[0, 1]``; default the caption).
    """
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return ArrayView(caption, shape_text(array.shape), dtype, [], "empty: no entries", difference)
    # Every slice is the same table: a 0-d array is one row of one column.
    rows = array.shape[-2] if array.ndim >= 2 else 1
    columns = array.shape[-1] if array.ndim >= 1 else 1
    leading = list(np.ndindex(array.shape[:-2])) if array.ndim > 2 else [()]
    omitted = [
        f"{count - limit} more {what}"
        for count, limit, what in ((len(leading), MAX_SLICES, "slice(s)"), (rows, MAX_SIDE, "row(s)"),
                                   (columns, MAX_SIDE, "column(s)"))
        if count > limit
    ]
    shown = (range(min(rows, MAX_SIDE)), range(min(columns, MAX_SIDE)))
    slices = [_slice_view(array, lead, *shown, scale, subject or caption, worst)
              for lead in leading[:MAX_SLICES]]
    note = f"not shown: {'; '.join(omitted)} (the JSON report has every value)" if omitted else None
    return ArrayView(caption, shape_text(array.shape), dtype, slices, note, difference)


def _slice_view(
    array: np.ndarray,
    lead: tuple[int, ...],
    rows: range,
    columns: range,
    scale: _Scale,
    subject: str,
    worst: tuple[int, ...] | None,
) -> SliceView:
    """Return the table of ``array[lead]`` (rows and columns as given): cells by full index."""
    # Full indices, whatever the rank, so that a cell and the worst index are
    # compared one way: () for 0-d, (column,) for 1-D, lead + (row, column) above.
    def index(row: int, column: int) -> tuple[int, ...]:
        return (lead + (row, column))[-array.ndim:] if array.ndim else ()

    label = f"[{', '.join(map(str, lead))}, :, :]" if lead else None
    return SliceView(label, [[_cell(array, index(row, column), scale, subject, worst) for column in columns]
                             for row in rows])


def _cell(
    array: np.ndarray, index: tuple[int, ...], scale: _Scale, subject: str, worst: tuple[int, ...] | None
) -> CellView:
    value = float(array[index])
    text = number_text(value)
    where = f"{subject}[{', '.join(map(str, index))}]" if index else subject
    if not np.isfinite(value):
        # NaN and inf sit outside every scale; the stylesheet marks them instead.
        return CellView(text, "#000000", "#ffd400", f"{where} = {text}", index == worst, nonfinite=True)
    background, foreground = scale.colours(value)
    return CellView(text, background, foreground, f"{where} = {text}", index == worst)


# --- rendering -----------------------------------------------------------------------


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("gradcheck.reports", "templates"),
        # On for every template whatever its name: engine text is untrusted.
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_html(report: Report, stream: TextIO, grading: "Grading | None" = None) -> None:
    """Write ``report`` to ``stream`` as one self-contained HTML page (scored with ``grading`` when given)."""
    stream.write(_environment().get_template(_TEMPLATE).render(view=report_view(report, grading)))
