"""The files of ``gradcheck grade``: the gradebook, and a plain-text report per submission.

A ``gradcheck.results.Gradebook`` is written three ways, to the report folder:

* ``gradebook.csv``: one row per submission, one column per check, for a
  spreadsheet or the course's grading script;
* ``gradebook.json``: the same rows with the options, weights and seed of
  the run (``Gradebook.to_dict``), for programs;
* ``index.html``: the rows as a coloured table, each submission linking to
  its own report (HTML when there is one, else text).

With a roster (``grade --roster``) the CSV and JSON name each row's student,
and ``--format canvas`` adds ``canvas.csv``, Canvas's import
(``gradcheck.reports.lms``).

Next to them, each submission's folder gets the files its student reads
(``write_student_reports``): ``gradcheck.html``, ``gradcheck.txt`` and
``gradcheck.json``, scored with the weights, with relative names only, one
replay command of the failed ops and the hidden checks' details left out
(``gradcheck.reports.student``), and a reproducer per failed check that runs
beside the student's engine; or, for a submission that could not be checked,
the paragraph that says why. The TA's full record of each checked submission
goes to ``_ta/NAME/`` (``TA_FOLDER``), where the index's failed cells link.
``index.html`` leaves the checks of weight 0 out unless asked
(``IndexPage.show_unweighted``).

As in ``gradcheck.reports.html``, ``index_view`` first reduces the gradebook
to display strings (the view model) and ``templates/gradebook.html.j2`` only
lays them out, with autoescaping on: submission names, paths and load errors
are the students' text.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence, TextIO

import gradcheck
from gradcheck.reports import Format, write_format

if TYPE_CHECKING:
    from rich.console import Console

    from gradcheck.reports.lms import Grading
    from gradcheck.results import Gradebook, Report, Row

__all__ = [
    "CANVAS_FILE",
    "GRADEBOOK_FILES",
    "TA_FOLDER",
    "CellView",
    "IndexPage",
    "IndexView",
    "LinkView",
    "RowView",
    "index_view",
    "render_index",
    "write_csv",
    "write_gradebook",
    "write_gradebook_json",
    "write_student_reports",
    "write_text_reason",
    "write_text_report",
]

#: The gradebook's files, in the order they are written: JSON first, so that
#: a failing renderer cannot cost the machine-readable record.
GRADEBOOK_FILES = (
    Format("json", "gradcheck.reports.gradebook:write_gradebook_json", "gradebook.json"),
    Format("csv", "gradcheck.reports.gradebook:write_csv", "gradebook.csv"),
    Format("html", "gradcheck.reports.gradebook:render_index", "index.html"),
)

#: Width of the plain-text reports: fixed, so a file does not depend on the
#: terminal that happened to run the grading.
TEXT_WIDTH = 100

# Which report a submission's name links to, best first.
_LINK_ORDER = ("html", "text", "json")

#: The folder of the report folder that holds the TA's full record of each
#: submission (``_ta/NAME/gradcheck.json`` and ``.html``): hidden checks'
#: cases and the grading machine's paths, never handed to students. No
#: submission's folder name starts with ``_``.
TA_FOLDER = "_ta"


#: Canvas's gradebook import (``--format canvas``), written beside the gradebook.
CANVAS_FILE = Format("canvas", "gradcheck.reports.lms:write_canvas", "canvas.csv")


def write_gradebook(
    gradebook: "Gradebook", report_dir: str | Path, console: "Console | None" = None, *,
    canvas_assignment: str | None = None, show_unweighted: bool = False,
) -> list[Path]:
    """Write ``GRADEBOOK_FILES`` to ``report_dir``; say where on ``console``; return their paths.

    With ``canvas_assignment``, also ``canvas.csv``: Canvas's import, the
    points under a column of that name (``gradcheck.reports.lms``). The page
    leaves checks of weight 0 out unless ``show_unweighted``; the CSV and JSON
    have every check.
    """
    if console is None:
        from rich.console import Console

        console = Console()
    written = []
    files: list[tuple[Format, object]] = [
        (fmt, IndexPage(gradebook, show_unweighted) if fmt.name == "html" else gradebook) for fmt in GRADEBOOK_FILES
    ]
    if canvas_assignment is not None:
        from gradcheck.reports.lms import CanvasExport

        files.append((CANVAS_FILE, CanvasExport(gradebook, canvas_assignment)))
    for fmt, content in files:
        path = write_format(fmt, content, Path(report_dir))
        console.print(f"Wrote gradebook {fmt.name} to {path}", markup=False, highlight=False, soft_wrap=True)
        written.append(path)
    return written


# --- CSV and JSON ----------------------------------------------------------------


def write_csv(gradebook: "Gradebook", stream: TextIO) -> None:
    """Write one line per submission: name, path, status, score, points, one column per check, report, reason."""
    writer = csv.writer(stream, lineterminator="\n")
    # The roster's columns only when grading had one.
    roster = any(row.student_id is not None for row in gradebook.rows)
    writer.writerow(["submission", *(["student_id", "student_name"] if roster else []), "path", "status", "score",
                     "points", "max_points", *gradebook.checks, "report", "reason"])
    for row in gradebook.rows:
        data = row.to_dict()
        student = [row.student_id or "", row.student_name or ""] if roster else []
        writer.writerow([
            row.name, *student, row.path, row.status, data["score"], data["points"], data["max_points"],
            *(row.checks[check] for check in gradebook.checks), _main_report(row) or "", row.reason or "",
        ])


def write_gradebook_json(gradebook: "Gradebook", stream: TextIO) -> None:
    """Write ``gradebook.to_dict()`` as indented JSON."""
    json.dump(gradebook.to_dict(), stream, indent=2)
    stream.write("\n")


# --- Per-submission text --------------------------------------------------------


def write_text_report(report: "Report", stream: TextIO) -> None:
    """Write the terminal report of ``report`` to ``stream``, without colour."""
    from rich.console import Console

    from gradcheck.reports.text import render_text

    render_text(report, Console(file=stream, width=TEXT_WIDTH, color_system=None, force_terminal=False))


def write_text_reason(reason: str, stream: TextIO) -> None:
    """Write why a submission could not be checked, in place of its report."""
    stream.write(f"This submission could not be checked.\n\n{reason}\n")


def write_student_reports(
    report: Report, folder: Path, grading: "Grading", lms_formats: Sequence[str] = (), *,
    text_name: str = "gradcheck.txt", text_width: int = TEXT_WIDTH, record_folder: Path | None = None,
) -> dict[str, Path]:
    """Write one graded submission's files to ``folder``; return them by format (``json``, ``html``, ``text``, LMS).

    The reproducers first (from the facts the report carries), then the
    records: the TA's in ``record_folder`` (``gradcheck.json`` as the check
    sent it, hidden checks' cases and the grading machine's paths included)
    and the student's JSON, then the LMS files, then the student's pages;
    last the TA's page (``full``). What the student gets comes from
    ``student_report``: scored with ``grading``, relative names only, one
    short replay command, the checks in ``grading.hidden`` reduced to their
    status.
    """
    import io

    from rich.console import Console

    from gradcheck.reports import FORMATS, render_report, write_atomically
    from gradcheck.reports.html import render_html
    from gradcheck.reports.json import write_json
    from gradcheck.reports.student import student_report
    from gradcheck.reports.text import render_text

    folder.mkdir(parents=True, exist_ok=True)
    # The student's own folder too: a traceback then says engine.py:12, as the student has it.
    private = (*grading.private_paths, *([] if _engine_folder(report) == "." else [_engine_folder(report)]))
    reproducers = _write_student_reproducers(report, folder, private, grading.hidden)
    report = report.with_reproducers({check: str(path) for check, path in reproducers.items()})
    written: dict[str, Path] = {}
    # The records first: a failing renderer cannot cost them.
    if record_folder is not None:
        record_folder.mkdir(parents=True, exist_ok=True)
        write_atomically(record_folder / str(FORMATS["json"].filename), lambda stream: write_json(report, stream))
    student = student_report(report, private, grading.hidden)
    written["json"] = folder / str(FORMATS["json"].filename)
    write_atomically(written["json"], lambda stream: write_json(student, stream))
    if lms_formats:
        render_report(report, list(lms_formats), folder, console=Console(file=io.StringIO()), grading=grading)
        written.update({name: folder / str(FORMATS[name].filename) for name in lms_formats})
    written["html"] = folder / str(FORMATS["html"].filename)
    write_atomically(written["html"], lambda stream: render_html(student, stream, grading))
    written["text"] = folder / text_name
    write_atomically(written["text"], lambda stream: render_text(
        student, Console(file=stream, width=text_width, color_system=None, force_terminal=False), grading))
    if record_folder is not None:
        written["full"] = record_folder / str(FORMATS["html"].filename)
        write_atomically(written["full"], lambda stream: render_html(report, stream, grading))
    return written


def _engine_folder(report: "Report") -> str:
    """Return the folder of the engine file the check was given (absolute), or ``.`` for a module."""
    import os

    target = report.target.partition(":")[0]
    return os.path.dirname(target) if target.endswith(".py") and os.path.isabs(target) else "."


def _write_student_reproducers(
    report: "Report", folder: Path, private: Sequence[str], hidden: Iterable[str] = (),
) -> dict[str, Path]:
    """Write a reproducer per failed check, as the student runs it: ``pytest repro_matmul.py`` beside ``engine.py``.

    The engine is named as the student has it (its file name, or its module
    name, looked up from the current folder), and no folder of the grading
    machine is left in the file. A check in ``hidden`` gets none.
    """
    from gradcheck.reports import write_atomically
    from gradcheck.reports.reproducer import reproducer_path, reproducer_source
    from gradcheck.reports.student import scrub, student_report

    facts = report.engine_facts
    if facts is None:
        return {}
    # Where the student's engine file is: the relative name is found there.
    engine_folder = _engine_folder(report)
    student = student_report(report, hidden=hidden)
    written = {}
    for result in student.results:
        if result.status != "failed" or not result.failures or result.kind not in ("op", "program"):
            continue
        path = reproducer_path(folder, result.check)
        source = reproducer_source(student, result, facts, path=Path(path.name), checked_from=engine_folder)
        shown = scrub(source, private)
        write_atomically(path, lambda stream: stream.write(shown))
        written[result.check] = path
    return written


# --- The HTML index -------------------------------------------------------------


@dataclass(frozen=True)
class LinkView:
    """A link to one report file, relative to the index."""

    label: str
    href: str


@dataclass(frozen=True)
class CellView:
    """One check of one submission: its status (also the CSS class), what the cell says, a tooltip, a link.

    A failed cell says the categories of its failures and links to that
    check's panel in the submission's report.
    """

    status: str
    tooltip: str
    text: str = ""
    href: str | None = None


@dataclass(frozen=True)
class RowView:
    """One submission as the index shows it."""

    name: str
    path: str
    href: str | None
    links: list[LinkView]
    score: str
    points: str
    status: str
    cells: list[CellView]
    reason: str | None


@dataclass(frozen=True)
class IndexView:
    """Everything ``gradebook.html.j2`` shows, as display strings."""

    title: str
    facts: list[tuple[str, str]]
    columns: list[tuple[str, str]]  # (check, its weight)
    rows: list[RowView]
    # How scores are counted: what an unweighted op is worth, what an unsupported one earns.
    scoring: str = ""
    # Which zero-weight checks the page leaves out, and how to show them.
    left_out: str | None = None


@dataclass(frozen=True)
class IndexPage:
    """What ``index.html`` is written from: the gradebook, and whether it shows checks of weight 0."""

    gradebook: "Gradebook"
    show_unweighted: bool = False


# What a cell of each status says; a failed cell says its categories instead.
_CELL_TEXT = {"passed": "✓", "unsupported": "–", "error": "error", "failed": "failed"}


def index_view(gradebook: "Gradebook", show_unweighted: bool = False) -> IndexView:
    """Return the view model of the HTML index of ``gradebook``.

    Checks of weight 0 count for nothing, so they are left out of the table
    unless ``show_unweighted`` (``grade --show-unweighted``); the page says which.
    """
    from gradcheck.reports.html import failure_anchor

    options = gradebook.options
    weights = gradebook.weights
    facts = [
        ("submissions", str(len(gradebook.rows))),
        ("seed", str(options.seed)),
        ("examples per op", str(options.max_examples)),
        ("programs", str(options.programs)),
        ("time limit per call", f"{options.timeout:g} s"),
        ("weights", weights.source or "every check weighs 1"),
        ("workers", str(gradebook.workers)),
        ("gradcheck", gradcheck.__version__),
    ]
    unweighted = [check for check in gradebook.checks if not weights.of(check)]
    shown = [check for check in gradebook.checks if show_unweighted or weights.of(check)]
    scoring = (
        f"Score = points of the passed checks / points of all {len(gradebook.checks)} checks. "
        f"A check not listed in the weights weighs {_number(weights.default)}; "
        "a failed, unsupported or error check earns 0 of its weight."
    )
    left_out = None
    if unweighted and not show_unweighted:
        left_out = (f"Not shown: {len(unweighted)} check(s) of weight 0 ({', '.join(unweighted)}); "
                    "they count for nothing (gradcheck grade --show-unweighted shows them).")
    columns = [(check, _number(weights.of(check))) for check in shown]
    rows = [
        RowView(
            name=row.name,
            path=row.path,
            href=_main_report(row),
            links=[LinkView(name, path) for name, path in row.reports.items()],
            score=f"{row.score:.0%}",
            points=f"{_number(row.points)} / {_number(row.max_points)}",
            status=row.status,
            cells=[_cell(row, check, failure_anchor(check)) for check in shown],
            reason=row.reason,
        )
        for row in gradebook.rows
    ]
    return IndexView(title=f"gradcheck gradebook ({len(rows)} submissions)", facts=facts, columns=columns,
                     rows=rows, scoring=scoring, left_out=left_out)


def _cell(row: "Row", check: str, anchor: str) -> CellView:
    status = row.checks[check]
    categories = row.failures.get(check, [])
    text = ", ".join(categories) if status == "failed" and categories else _CELL_TEXT.get(status, status)
    tooltip = f"{row.name}: {check} {status}" + (f" ({', '.join(categories)})" if categories else "")
    href = None
    if status == "failed":
        # The check's panel in the TA's full page (a hidden check's is only
        # there), else in the student's; the text report has no anchors.
        page = row.reports.get("full", row.reports.get("html"))
        href = f"{page}#{anchor}" if page else _main_report(row)
    return CellView(status, tooltip, text, href)


def render_index(content: "Gradebook | IndexPage", stream: TextIO) -> None:
    """Write the HTML index of a gradebook (an ``IndexPage``, or a gradebook with its defaults) to ``stream``."""
    import jinja2

    page = content if isinstance(content, IndexPage) else IndexPage(content)
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("gradcheck.reports", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    stream.write(environment.get_template("gradebook.html.j2").render(
        view=index_view(page.gradebook, page.show_unweighted)))


def _main_report(row: "Row") -> str | None:
    return next((row.reports[name] for name in _LINK_ORDER if name in row.reports), None)


def _number(value: float) -> str:
    return f"{value:g}"
