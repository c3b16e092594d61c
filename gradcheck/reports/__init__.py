"""Report formats, and the one function that owns their output: ``render_report``.

Each format is one module of this package (``text``, ``json``, later ``html``,
``junit``, ``md``) exposing one renderer function; ``FORMATS`` is the table
that names them. A renderer only formats a ``gradcheck.results.Report``: it
never computes, and never decides where output goes. ``render_report`` does
that for all of them: it validates the format names, creates the report
folder, writes each file, removes a half-written one when a renderer fails,
and says where each file went::

    Wrote json to reports/gradcheck.json

Renderer modules are imported only when their format is rendered, so that
validating ``--format`` on the command line costs nothing and a format whose
dependencies are heavy (Jinja2 for HTML) is paid for only when asked for.

.. code-block:: pycon

    >>> from gradcheck.reports import render_report
    >>> render_report(report, ["text", "json"], "reports")
    [PosixPath('reports/gradcheck.json')]
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, TYPE_CHECKING, TextIO

from gradcheck.errors import UsageError
from gradcheck.settings import DEFAULT_FORMATS, DEFAULT_REPORT_DIR  # re-exported

if TYPE_CHECKING:  # rich is imported only when something is rendered.
    from rich.console import Console

    from gradcheck.reports.lms import Grading
    from gradcheck.reports.reproducer import EngineFacts
    from gradcheck.results import Report

__all__ = [
    "write_atomically",
    "write_format",
    "DEFAULT_FORMATS",
    "DEFAULT_REPORT_DIR",
    "FORMATS",
    "GRADEBOOK_FORMATS",
    "PLANNED_FORMATS",
    "Format",
    "parse_formats",
    "render_report",
    "render_unchecked",
]



@dataclass(frozen=True)
class Format:
    """One report format: where its renderer lives and where its output goes.

    ``renderer`` is ``"module:function"``. A terminal format (``filename`` is
    None) is called as ``function(report, console)`` with a rich Console; a
    file format as ``function(report, stream)`` with a text stream opened on
    ``DIR/filename``.
    """

    name: str
    renderer: str
    filename: str | None = None
    # An LMS format (``gradcheck.reports.lms``): its renderer takes a
    # ``GradedReport`` (the report with its weights and hidden checks).
    graded: bool = False

    @property
    def on_terminal(self) -> bool:
        return self.filename is None

    def load(self) -> Callable[..., Any]:
        """Return the renderer function, importing its module now."""
        module_name, function_name = self.renderer.split(":")
        return getattr(importlib.import_module(module_name), function_name)


#: Every format gradcheck can render, by the name ``--format`` takes. Files
#: are written in this order, before terminal output; keep ``json`` the first
#: file format, so that a bug in any later renderer cannot cost the
#: machine-readable record of the run.
FORMATS: dict[str, Format] = {
    fmt.name: fmt
    for fmt in (
        Format("text", "gradcheck.reports.text:render_text"),
        Format("json", "gradcheck.reports.json:write_json", "gradcheck.json"),
        Format("html", "gradcheck.reports.html:render_html", "gradcheck.html"),
        Format("junit", "gradcheck.reports.junit:write_junit", "gradcheck.xml"),
        Format("md", "gradcheck.reports.markdown:render_markdown", "gradcheck.md"),
        Format("gradescope", "gradcheck.reports.lms:write_gradescope", "results.json", graded=True),
        Format("classroom", "gradcheck.reports.lms:write_classroom", "classroom.json", graded=True),
    )
}

#: Formats of a whole gradebook, written by ``gradcheck grade`` only, and why a single check has none.
GRADEBOOK_FORMATS: dict[str, str] = {
    "canvas": "Canvas's import holds one line per student, so it is written by "
              "`gradcheck grade SUBMISSION... --roster ROSTER.csv --format canvas`",
}

#: Formats the contract (docs/contract.md, section 2) names that this version does not render yet: none left.
#: Kept so that a future planned format gets the "not available yet" message.
PLANNED_FORMATS: tuple[str, ...] = ()


def parse_formats(formats: str | Iterable[str]) -> list[Format]:
    """Return the ``Format`` rows for ``formats`` (names, or one comma-separated string).

    Duplicates are dropped; order does not matter (``render_report`` fixes
    it). Raises ``UsageError`` naming the first unknown or unavailable format.

    .. code-block:: pycon

        >>> [fmt.name for fmt in parse_formats("json,text")]
        ['text', 'json']
    """
    names = formats.split(",") if isinstance(formats, str) else list(formats)
    names = [name.strip() for name in names if name.strip()]
    if not names:
        raise UsageError(
            f"--format={formats!r} names no format; give one or more of "
            f"{_available()} separated by commas, e.g. --format text,json."
        )
    for name in names:
        if name in FORMATS:
            continue
        if name in GRADEBOOK_FORMATS:
            raise UsageError(
                f"--format={name} is not a report of one check: {GRADEBOOK_FORMATS[name]}. "
                f"The formats of one check are {_available()}."
            )
        if name in PLANNED_FORMATS:
            raise UsageError(
                f"--format={name} is not available in this version of gradcheck yet; "
                f"the formats it can write are {_available()}."
            )
        raise UsageError(
            f"--format={name} is not a report format gradcheck knows; "
            f"choose from {_available()} (separate several with commas)."
        )
    return [fmt for fmt in FORMATS.values() if fmt.name in names]


def _available() -> str:
    return ", ".join(FORMATS)


def render_report(
    report: "Report",
    formats: str | Iterable[str],
    report_dir: str | os.PathLike[str] = DEFAULT_REPORT_DIR,
    *,
    console: "Console | None" = None,
    engine: "EngineFacts | None" = None,
    grading: "Grading | None" = None,
) -> list[Path]:
    """Render ``report`` in each of ``formats``; return the paths of the files written.

    File formats go to ``report_dir`` (created if missing); terminal formats
    and the "Wrote FORMAT to PATH" lines go to ``console`` (default: a rich
    Console on stdout). Given the ``engine`` the report was made with (a live
    run, not a stored report), a reproducer is first written for each failed
    check (``gradcheck.reports.reproducer``), and every format names it. A
    renderer that raises leaves no file behind and does not stop the other
    formats: they are all rendered, then the first error is raised again.
    The LMS formats (``gradescope``, ``classroom``) score the report with
    ``grading`` (default: every check weighs 1, none hidden).
    """
    chosen = parse_formats(formats)
    if console is None:
        from rich.console import Console

        console = Console()
    written: list[tuple[Format, Path]] = []
    errors: list[BaseException] = []
    reproducers: dict[str, Path] = {}
    if engine is not None:
        from gradcheck.reports.reproducer import write_reproducers

        try:
            reproducers = write_reproducers(report, report_dir, engine)
        except OSError as error:  # the reports still go out: the run's results are not lost
            errors.append(error)
        report = report.with_reproducers({check: str(path) for check, path in reproducers.items()})
    # Files first (FORMATS order, JSON leading), the terminal last: its output
    # is what the user reads, and the "Wrote" lines then follow it.
    for fmt in sorted(chosen, key=lambda fmt: fmt.on_terminal):
        try:
            if fmt.on_terminal:
                fmt.load()(report, console)
            else:
                content: Any = report
                if fmt.graded:
                    from gradcheck.reports.lms import GradedReport, Grading

                    content = GradedReport.of(report, grading or Grading())
                written.append((fmt, write_format(fmt, content, Path(report_dir))))
        except Exception as error:  # noqa: BLE001 - re-raised below, after the other formats
            errors.append(error)
    shown = [(fmt.name, path) for fmt, path in written] + [("reproducer", path) for path in reproducers.values()]
    for name, path in shown:
        # soft_wrap: a path broken over two lines cannot be copied.
        console.print(f"Wrote {name} to {path}", markup=False, highlight=False, soft_wrap=True)
    if errors:
        first = errors[0]
        if hasattr(first, "add_note"):  # Python 3.11+
            done = ", ".join(fmt.name for fmt, _ in written) or "none"
            first.add_note(f"gradcheck: other report files written: {done}")
        raise first
    return [path for _, path in written] + list(reproducers.values())


def render_unchecked(
    reason: str,
    formats: str | Iterable[str],
    report_dir: str | os.PathLike[str],
    grading: "Grading",
    *,
    console: "Console | None" = None,
) -> list[Path]:
    """Write the LMS formats among ``formats`` for a run that could not check anything; return their paths.

    An engine that cannot be loaded still gets its ``results.json`` (every
    check of ``grading.checks`` scores 0, the output says ``reason``), so an
    LMS shows the student why instead of an autograder failure. The other
    formats have no report to render and are skipped.
    """
    from gradcheck.reports.lms import GradedReport

    if console is None:
        from rich.console import Console

        console = Console()
    graded = GradedReport(None, grading, grading.checks or (), reason)
    written = []
    for fmt in parse_formats(formats):
        if fmt.graded:
            path = write_format(fmt, graded, Path(report_dir))
            console.print(f"Wrote {fmt.name} to {path}", markup=False, highlight=False, soft_wrap=True)
            written.append(path)
    return written


def write_format(fmt: Format, report: Any, report_dir: Path) -> Path:
    """Write one file format to ``report_dir``; never leave a half-written file.

    The renderer writes to a temporary file next to the target, which replaces
    the target only once complete: a renderer that fails midway removes its
    temporary file and leaves the previous report (or nothing) in place.
    """
    if fmt.filename is None:
        raise ValueError(f"{fmt.name} is a terminal format: it has no file to write")
    renderer = fmt.load()
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / fmt.filename
    write_atomically(path, lambda stream: renderer(report, stream))
    return path


def write_atomically(path: Path, write: "Callable[[TextIO], object]") -> None:
    """Write a text file through a temporary file beside it; never leave a half-written file.

    ``write(stream)`` fills the temporary file, which replaces ``path`` only
    once complete: a writer that fails midway removes its temporary file and
    leaves the previous file (or nothing) in place.
    """
    # Not tempfile.mkstemp: its files are private (0600), and the report should
    # get the permissions any file the user writes gets.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        with open(temporary, "w", encoding="utf-8", newline="\n") as stream:
            write(stream)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
