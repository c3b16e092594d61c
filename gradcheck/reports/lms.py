"""Results for a course's LMS: Gradescope's ``results.json``, GitHub Classroom's runner result, Canvas's CSV.

Each output says the same thing as the text report, in the shape one LMS
reads, scored by the one rule of the gradebook (``gradcheck.results.Weights``):
a passed check earns its weight, any other status nothing.

* ``gradescope`` (``results.json``): Gradescope's autograder output
  (https://gradescope-autograders.readthedocs.io/en/latest/specs/): a
  top-level ``score``, ``output``, ``execution_time``, ``stdout_visibility``
  and one test per check with ``name``, ``score``, ``max_score``,
  ``status`` (``passed``/``failed``), ``output`` (the check's panel text, as a
  student can act on it) and ``visibility``.
* ``classroom`` (``classroom.json``): the runner result the GitHub Classroom
  autograding reporter (``classroom-resources/autograding-grading-reporter``)
  reads, base64-encoded, from ``<RUNNER>_RESULTS``: ``version`` 1, ``status``
  (``pass``/``fail``/``error``), ``max_score`` and ``tests`` each with
  ``name``, ``status``, ``score``, ``message``, ``test_code``, ``filename``,
  ``line_no`` and ``duration`` (ms). The reporter records the sum of the
  tests' ``score`` out of ``max_score`` with Classroom and fails the job when
  ``status`` is ``fail`` or ``error``.
* ``canvas`` (``canvas.csv``, ``gradcheck grade`` only): Canvas's gradebook
  import, one line per student of the roster: ``Student``, ``ID``,
  ``SIS User ID``, ``SIS Login ID``, ``Section`` and one assignment column of
  points.

Students read ``output``: it carries no absolute path of the grader's
machine (``Grading.private_paths`` are cut from every text, the target and
reproducers are named by their file name), and a check in
``Grading.hidden`` gets Gradescope's ``after_published`` visibility (the
details are shown once the TA publishes the grades) and, in the Classroom
result, no details at all (Classroom shows everything to the student).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence, TextIO

from gradcheck.reports.display import (
    check_notes,
    partial_text,
    replay_command,
    status_text,
    summary_text,
)
from gradcheck.reports.student import HIDDEN_MESSAGE, failed_replay, relative_names, scrub
from gradcheck.reports.text import render_check_text
from gradcheck.results import ERROR, Report, Weights

if TYPE_CHECKING:
    from gradcheck.results import CheckResult, Gradebook

__all__ = [
    "CANVAS_COLUMNS",
    "CanvasExport",
    "DEFAULT_ASSIGNMENT",
    "HIDDEN_VISIBILITY",
    "GradedReport",
    "Grading",
    "classroom_result",
    "gradescope_results",
    "write_canvas",
    "write_classroom",
    "write_gradescope",
]

#: Gradescope's visibility of a hidden check: shown once the TA publishes the
#: grades. Not ``hidden`` (never shown): Gradescope keeps that for tests worth
#: no points, and a student should learn in the end why points were lost.
HIDDEN_VISIBILITY = "after_published"

#: The student columns of Canvas's gradebook import, before the assignment's column.
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
#: The assignment column's name in ``canvas.csv`` when ``--assignment`` gives none.
DEFAULT_ASSIGNMENT = "gradcheck"

#: Columns of the panels in a check's ``output``.
PANEL_WIDTH = 100


@dataclass(frozen=True)
class Grading:
    """How a report is graded for an LMS: weights, hidden checks, and paths students must not see."""

    weights: Weights = field(default_factory=Weights)
    hidden: frozenset[str] = frozenset()
    # Absolute folders of the grader's machine: cut from every text a student reads.
    private_paths: tuple[str, ...] = ()
    # The checks scored, in order (a gradebook's columns); None: the report's results.
    checks: tuple[str, ...] | None = None

    def visibility(self, check: str) -> str:
        """Return Gradescope's visibility of ``check``."""
        return HIDDEN_VISIBILITY if check in self.hidden else "visible"


@dataclass(frozen=True)
class GradedReport:
    """A run as an LMS output shows it: the report (None when it could not run), its columns, the grading."""

    report: Report | None
    grading: Grading
    # The checks scored, in order: a report's results, or a gradebook's columns.
    checks: tuple[str, ...]
    # Why there is no report (a submission that could not be checked).
    reason: str | None = None

    @classmethod
    def of(cls, report: Report, grading: Grading) -> "GradedReport":
        return cls(report, grading, grading.checks or tuple(result.check for result in report.results))

    def statuses(self) -> dict[str, str]:
        """Return every column's status: the report's, ``unsupported`` for a column it lacks, else ``error``."""
        if self.report is None:
            return dict.fromkeys(self.checks, ERROR)
        found = {result.check: result.status for result in self.report.results}
        # No program is drawn for an engine that supports none of the ops: that column is unsupported.
        return {check: found.get(check, "unsupported") for check in self.checks}


# --- Student-facing text ------------------------------------------------------------


def _student_report(graded: GradedReport) -> Report:
    """Return the report as a student may see it: the target and reproducers by their file names."""
    assert graded.report is not None
    return relative_names(graded.report)


def _scrub(text: str, grading: Grading) -> str:
    """Return ``text`` without the grader's absolute folders."""
    return scrub(text, grading.private_paths)


def check_output(graded: GradedReport, check: str) -> str:
    """Return what a student reads for one check: its status and points, then its panels or why it was not run."""
    grading = graded.grading
    weight = grading.weights.of(check)
    status = graded.statuses()[check]
    earned = weight if status == "passed" else 0.0
    points = f"{_number(earned)} / {_number(weight)} points"
    if graded.report is None:
        return f"{check}: not checked, {points}: the submission could not be checked (the message above says why)."
    from gradcheck.higher import ORDER2, base_check, mode_of_check

    result = _result(graded.report, check)
    if result is None and mode_of_check(check) == ORDER2:
        # An order-2 column follows its op's own check, when the engine's grad takes create_graph.
        base = _result(graded.report, base_check(check))
        if base is None or base.status == "unsupported":
            why = f"{base_check(check)} is not checked (see {base_check(check)})"
        elif not any(other.order == 2 for other in graded.report.results):
            why = "the engine's grad does not take create_graph (docs/contract.md, section 1)"
        else:
            why = f"{base.check} timed out or crashed in its own check"
        return f"{check}: not checked, {points}: {why}."
    if result is None:
        return f"{check}: not run (no op the engine supports could be drawn into it), {points}."
    if result.status == "unsupported":
        return _scrub(f"{check}: unsupported, {points}. {result.reason or ''}".strip(), grading)
    if result.status == "passed":
        return f"{check}: passed, {points} ({result.cases} cases checked)."
    report = _student_report(graded)
    student_result = _result(report, check)
    assert student_result is not None
    panels = render_check_text(report, student_result, width=PANEL_WIDTH)
    return _scrub(f"{check}: {status_text(result)}, {points}.\n\n{panels}", grading)


def _summary(graded: GradedReport) -> str:
    """Return the text about the whole run: score, what was checked, the notes."""
    earned, possible = graded.grading.weights.points(graded.statuses())
    score = f"Score: {_number(earned)} / {_number(possible)} points."
    report = graded.report
    if report is None:
        return _scrub(f"{score}\n\nThis submission could not be checked.\n\n{graded.reason or ''}", graded.grading)
    lines = [score, f"gradcheck {_student_report(graded).target}: {summary_text(report)} (seed {report.seed})."]
    partial = partial_text(report)
    if partial:
        lines += ["", partial]
    # A hidden check's notes would tell what its details do not.
    notes = [(subject, text) for subject, text in check_notes(report) if subject not in graded.grading.hidden]
    if notes:
        lines += [""] + [f"{subject}: {text}" for subject, text in notes]
    failed = [result.check for result in report.results
              if result.status == "failed" and result.check not in graded.grading.hidden]
    if failed:
        # One command for every failed check shown: what the student runs to see them again.
        lines += ["", "Replay the failed checks: " + _replay_failed(graded, failed)]
    return _scrub("\n".join(lines), graded.grading)


def _replay_failed(graded: GradedReport, failed: Sequence[str]) -> str:
    """Return one command replaying every failed op (else the failed programs), as the student types it."""
    hidden = [result.check for result in _student_report(graded).results if result.check not in failed]
    return failed_replay(_student_report(graded), hidden) or ""


def _result(report: Report, check: str) -> "CheckResult | None":
    return next((result for result in report.results if result.check == check), None)


# --- Gradescope -----------------------------------------------------------------------


def gradescope_results(graded: GradedReport) -> dict[str, Any]:
    """Return Gradescope's ``results.json`` of ``graded`` as data."""
    grading = graded.grading
    statuses = graded.statuses()
    earned, _ = grading.weights.points(statuses)
    report = graded.report
    seconds = sum(result.seconds for result in report.results) if report is not None else 0.0
    return {
        "score": _number_value(earned),
        "execution_time": int(round(seconds)),
        "output": _summary(graded),
        "output_format": "text",
        "stdout_visibility": "hidden",
        "tests": [
            {
                "name": check,
                "score": _number_value(grading.weights.of(check) if status == "passed" else 0),
                "max_score": _number_value(grading.weights.of(check)),
                "status": "passed" if status == "passed" else "failed",
                "output": check_output(graded, check),
                "visibility": grading.visibility(check),
            }
            for check, status in statuses.items()
        ],
    }


def write_gradescope(graded: GradedReport, stream: TextIO) -> None:
    """Write ``results.json`` for a Gradescope autograder."""
    json.dump(gradescope_results(graded), stream, indent=2)
    stream.write("\n")


# --- GitHub Classroom -------------------------------------------------------------------


def classroom_result(graded: GradedReport) -> dict[str, Any]:
    """Return the runner result GitHub Classroom's autograding reporter reads, as data."""
    grading = graded.grading
    statuses = graded.statuses()
    _, possible = grading.weights.points(statuses)
    report = graded.report
    tests = []
    for check, status in statuses.items():
        outcome = "pass" if status == "passed" else ERROR if status == ERROR else "fail"
        result = _result(report, check) if report is not None else None
        hidden = check in grading.hidden
        tests.append({
            "name": check,
            "status": outcome,
            "score": _number_value(grading.weights.of(check) if status == "passed" else 0),
            "message": f"{check}: {HIDDEN_MESSAGE}" if hidden else check_output(graded, check),
            "test_code": "" if hidden or report is None or result is None or result.status != "failed"
            else replay_command(_student_report(graded), _result(_student_report(graded), check) or result),
            "filename": "",
            "line_no": 0,
            "duration": int(round(1000 * result.seconds)) if result is not None else 0,
        })
    overall = ERROR if report is None else "fail" if any(test["status"] != "pass" for test in tests) else "pass"
    return {"version": 1, "status": overall, "max_score": _number_value(possible), "tests": tests}


def write_classroom(graded: GradedReport, stream: TextIO) -> None:
    """Write ``classroom.json``: the runner result to hand the reporter base64-encoded."""
    json.dump(classroom_result(graded), stream, indent=2)
    stream.write("\n")


# --- Canvas ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CanvasExport:
    """A gradebook as Canvas imports it, under the name of its assignment column."""

    gradebook: "Gradebook"
    assignment: str = DEFAULT_ASSIGNMENT


def write_canvas(export: CanvasExport, stream: TextIO) -> None:
    """Write Canvas's gradebook import: one line per student of the roster, the points earned."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow([*CANVAS_COLUMNS, export.assignment])
    for row in export.gradebook.rows:
        if row.student_id is None:
            continue  # checked by the roster: every row of a graded roster has an id
        writer.writerow([row.student_name or "", "", row.student_id, "", "", _number(row.points)])


def _number(value: float) -> str:
    return f"{value:g}"


def _number_value(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(float(value), 6)

