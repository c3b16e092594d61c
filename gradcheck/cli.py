"""The command line: ``gradcheck check``, ``inspect``, ``report``, ``grade``, ``check-function``, ``demo``.

The names, options and exit codes are the contract's (docs/contract.md, section 2).

::

    gradcheck check TARGET [--ops OP,OP...] [--max-examples N] [--seed S] [--programs N | --no-programs]
                           [--report-dir DIR] [--format FMT,FMT...] [--timeout SECONDS]
                           [--in-process | --isolate [--memory-mb N] [--python PATH] [--no-sandbox]]
                           [--weights weights.toml] [--hidden CHECK,CHECK...]
    gradcheck report reports/gradcheck.json [--format FMT,FMT...] [--report-dir DIR]
    gradcheck inspect TARGET
    gradcheck grade SUBMISSION... [--workers N] [--weights weights.toml] [--hidden CHECK,...]
                                  [--format gradescope,classroom,canvas] [--roster roster.csv]
                                  [--assignment NAME] [check options] [--report-dir DIR] [--show-unweighted]
    gradcheck grade [SUBMISSION...] --regrade NAME [--regrade NAME...] [--force] [same options]
    gradcheck check-function FN [--grad GRAD_FN] [--reference REF_FN] --shapes SPEC [--dtype D]
                             [--domain=LOW,HIGH ...] [--rtol R] [--max-examples N] [--seed S]
                             [--timeout SECONDS] [--format FMT,FMT...] [--report-dir DIR]
    gradcheck demo
    gradcheck --version

Exit status: 0 every supported check passed, 1 at least one failed, 2 the
target or the arguments are wrong (one paragraph on stderr says what to fix),
130 / 143 ``check`` stopped by SIGINT / SIGTERM (the reports of the checks
that finished are written, marked partial).

This module imports only the standard library at import time: ``gradcheck
--help`` must answer at once, so TensorFlow, Hypothesis, rich and the runner
are imported inside the command that needs them. Every argument is validated
before the engine is loaded, so a typo costs nothing to find out about.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import signal
import sys
import time
from typing import TYPE_CHECKING, Any, NoReturn, Sequence

from gradcheck import __version__
from gradcheck._glossary import EPILOG, HelpFormatter
from gradcheck.errors import GradcheckError, UsageError
from gradcheck.settings import (
    DEFAULT_DATABASE,
    DEFAULT_FORMATS,
    DEFAULT_REPORT_DIR,
    DTYPES,
    MAX_EXAMPLES,
    MEMORY_MB,
    RANDOM,
    SEED,
    SUBMISSION_TIMEOUT,
    TIMEOUT,
    TOLERANCE,
    WORKERS,
    CheckSettings,
    add_check_options,
    add_database_options,
    comma_list,
    read_check_options,
    read_database_options,
)

if TYPE_CHECKING:  # the engine modules are imported by the command that loads one
    from gradcheck.engine import Engine
    from gradcheck.isolation import IsolatedEngine

__all__ = ["build_parser", "main"]

EXIT_PASSED, EXIT_FAILED = 0, 1
#: A signal this soon after the one that stopped ``check`` is not raised again (docs/contract.md, section 2).
_SIGNAL_GRACE_SECONDS = 2.0


class _Stopped(KeyboardInterrupt):
    """Signal ``number`` (SIGINT, SIGTERM) stopped ``gradcheck check``; exit status 128 + number."""

    def __init__(self, number: int) -> None:
        super().__init__(number)
        self.number = number


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one paragraph, like gradcheck's own."""

    def error(self, message: str) -> NoReturn:
        if "--domain" in message and "expected one argument" in message:
            # argparse reads `--domain -1,1` as two options.
            message += " (a negative LOW needs '=': --domain=-1,1)"
        self.exit(2, f"{self.prog}: error: {message}. Run `{self.prog} --help` for the options.\n")


def _add_format_options(parser: argparse.ArgumentParser) -> None:
    # Shared by `check` and `report`: both end by rendering a Report.
    parser.add_argument(
        "--format", action="append", metavar="FMT,FMT...",
        help="report formats: text (terminal), json, html, junit, md, gradescope (results.json), "
             f"classroom (classroom.json) (default: {','.join(DEFAULT_FORMATS)})",
    )
    parser.add_argument(
        "--report-dir", default=DEFAULT_REPORT_DIR, metavar="DIR",
        help=f"folder for report files (default: {DEFAULT_REPORT_DIR}/)",
    )


def _add_grading_options(parser: argparse.ArgumentParser) -> Any:
    # Shared by `check` and `grade`: how checks are scored and shown in an LMS (gradcheck.reports.lms).
    group = parser.add_argument_group(
        "grading for an LMS",
        "Points and visibility of --format gradescope and classroom (and the gradebook's scores).",
    )
    group.add_argument("--weights", metavar="FILE",
                       help="TOML file with a [weights] table: check = weight, and default = weight "
                            "for the rest (default: every check weighs 1)")
    group.add_argument("--hidden", action="append", metavar="CHECK,CHECK...",
                       help="checks whose details students see only once grades are published "
                            "(Gradescope visibility after_published; no details in the Classroom result)")
    return group


def _grading(args: argparse.Namespace, checks: Sequence[str], private_paths: Sequence[str] = ()) -> Any:
    """Return the ``Grading`` of ``--weights`` and ``--hidden``, validated against the checks run."""
    from gradcheck.grade import load_weights
    from gradcheck.reports.lms import Grading
    from gradcheck.results import Weights
    from gradcheck.runner import PROGRAMS_CHECK, resolve_ops

    weights = load_weights(args.weights, checks) if args.weights else Weights()
    names = comma_list(args.hidden)
    if args.hidden is not None and not names:
        raise UsageError(
            f"--hidden={','.join(args.hidden)!r} names no check; give ops (or programs) separated by "
            "commas, e.g. --hidden matmul,programs, or leave --hidden out to show every check."
        )
    try:
        hidden = set(resolve_ops([name for name in names if name != PROGRAMS_CHECK]))
    except UsageError as error:
        raise UsageError(f"--hidden: {error}") from None
    hidden |= {PROGRAMS_CHECK} & set(names)
    left_out = sorted(hidden - set(checks))
    if left_out:
        raise UsageError(
            f"--hidden names {', '.join(left_out)}, which this run does not check "
            f"(it checks {', '.join(checks)}); hide only checks of the run, or add them to --ops."
        )
    return Grading(weights=weights, hidden=frozenset(hidden), private_paths=tuple(private_paths), checks=tuple(checks))


def _add_search_options(parser: argparse.ArgumentParser, *, help: dict[str, str]) -> None:
    # Shared by `check` and `grade`, and with the pytest plugin: what to search, how long, with which seed.
    programs = parser.add_mutually_exclusive_group()

    def add_option(option: str, **kwargs: Any) -> None:
        (programs if option == "--programs" else parser).add_argument(option, **kwargs)

    add_check_options(add_option, help=help)
    programs.add_argument("--no-programs", dest="programs", action="store_const", const="0",
                          help="check single ops only")


def _option_value(args: argparse.Namespace) -> Any:
    """Return a function giving an option's value (``--seed`` -> ``args.seed``)."""
    return lambda option: getattr(args, option.lstrip("-").replace("-", "_"))


def _check_options(args: argparse.Namespace) -> tuple[list[str] | None, CheckSettings]:
    """Return the ops (None: every op) and the settings of ``_add_search_options``'s options, validated.

    A seed drawn for ``--seed random`` is said on stderr at once, before the
    search: a run stopped early can still be replayed with it.
    """
    given = read_check_options(_option_value(args))
    ops = given.pop("ops", None)
    settings = CheckSettings(**given)
    _say_drawn_seed(args.seed, settings.seed)
    return ops, settings


def _say_drawn_seed(option: str | None, seed: int) -> None:
    """Print the seed ``--seed random`` drew (``option`` is ``--seed``'s text), to replay the run with."""
    if option is not None and option.strip() == RANDOM:
        print(f"gradcheck: --seed random drew seed {seed}; replay this search with --seed {seed}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``gradcheck`` command."""
    parser = _Parser(
        prog="gradcheck",
        description="Property-based gradient checks for hand-written autodiff engines.",
        epilog="Exit status: 0 all supported checks passed, 1 a check failed, "
               "2 the target or the arguments are wrong, 130 (Ctrl-C) or 143 (SIGTERM) stopped, "
               "with partial reports of the checks that finished.",
    )
    parser.add_argument("--version", action="version", version=f"gradcheck {__version__}")
    commands = parser.add_subparsers(title="commands", dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser(
        "check", help="check the gradients of an engine",
        description="Search for inputs on which the engine's gradients are wrong, "
                    "and report the smallest one found for each op.",
        epilog=EPILOG, formatter_class=HelpFormatter,
    )
    check.add_argument(
        "target", metavar="TARGET",
        help="the engine: path/to/file.py, path/to/file.py:NAME, package.module or package.module:NAME",
    )
    _add_search_options(check, help={
        # The default's words are the plugin's (gradcheck.settings); what --ops names is this command's.
        "ops": "ops to check, by name or alias; naming one the engine does not define is an error "
               "(default: every op gradcheck knows; those the engine does not define are reported unsupported)",
        "seed": "random seed; the report prints it for replay",
    })
    check.add_argument("--quiet", "-q", action="store_true",
                       help="show no progress on stderr (by default: a bar of examples with the time left on a "
                            "terminal, else one line per finished check)")
    isolation = check.add_argument_group(
        "where the engine runs",
        "By default the engine runs in a worker process: a hang, a crash, os._exit or a segfault is "
        "reported as a failure of that op, with its case, and the run goes on. --isolate also "
        "confines the worker in a sandbox, for engines you do not trust.",
    )
    isolation.add_argument("--in-process", action="store_true",
                           help="run the engine in gradcheck's own process, for debugging (breakpoints, "
                                "pdb): an engine that ends its process then ends gradcheck, with no report")
    isolation.add_argument("--isolate", action="store_true",
                           help="run the engine's worker in the bubblewrap sandbox (gradcheck.sandbox; "
                                "implied by the two below)")
    isolation.add_argument(MEMORY_MB.option(), metavar=MEMORY_MB.metavar, default=None,
                           help="memory limit for the engine worker, in MiB")
    isolation.add_argument("--python", metavar="PATH", default=None,
                           help="run the worker with this interpreter (e.g. the student's own "
                                "environment); it needs only NumPy and the engine's dependencies")
    isolation.add_argument("--no-sandbox", action="store_true",
                           help="run the worker of --isolate, --memory-mb or --python without the sandbox "
                                "that otherwise confines it: only for engines you trust, or machines "
                                "without bwrap")
    add_database_options(check.add_argument, default=f"{DEFAULT_DATABASE}/, none with --isolate")
    _add_format_options(check)
    _add_grading_options(check)
    # `gradcheck grade` only: the report goes to this pipe, framed with a
    # nonce read from stdin, and no file is written (gradcheck.grade).
    check.add_argument("--report-fd", type=int, default=None, help=argparse.SUPPRESS)
    check.set_defaults(run=_run_check)

    report = commands.add_parser(
        "report", help="re-render a stored JSON report",
        description="Render a gradcheck.json written by `gradcheck check --format json` "
                    "again, in any format, without re-running anything.",
    )
    report.add_argument("path", metavar="REPORT.json", help="a gradcheck.json file")
    _add_format_options(report)
    _add_grading_options(report)
    report.set_defaults(run=_run_report)

    inspect = commands.add_parser(
        "inspect", help="show how gradcheck calls each op of an engine, or why it is unsupported",
        description="Load the engine (a module, an object, or a Tensor or Value class) and list, per op, "
                    "how gradcheck calls it or why it is unsupported; nothing is checked.",
    )
    inspect.add_argument(
        "target", metavar="TARGET",
        help="the engine: path/to/file.py, path/to/file.py:NAME, package.module or package.module:NAME",
    )
    inspect.set_defaults(run=_run_inspect)

    _add_grade_command(commands)
    _add_check_function_command(commands)

    demo = commands.add_parser(
        "demo", help="run gradcheck on the bundled example engines",
        description="Check a correct engine, the question's buggy tape and its "
                    "accepted fix, and explain what each report shows.",
    )
    demo.set_defaults(run=_run_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gradcheck`` command line on ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except GradcheckError as error:
        print(f"gradcheck: error: {error}", file=sys.stderr)
        return error.exit_code
    except _Stopped as stopped:  # while the engine was loading, before any report was made
        print(f"gradcheck: stopped by {signal.Signals(stopped.number).name} before a report could be made; "
              "none was written.", file=sys.stderr)
        return 128 + stopped.number
    except KeyboardInterrupt:
        print("gradcheck: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``gradcheck check ... | head``): stop quietly,
        # and keep Python from complaining again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _formats(args: argparse.Namespace) -> list[Any]:
    from gradcheck.reports import parse_formats

    return parse_formats(comma_list(args.format) if args.format else list(DEFAULT_FORMATS))


def _exit_status(report: Any) -> int:
    return EXIT_PASSED if report.ok else EXIT_FAILED


def _render(report: Any, formats: list[Any], report_dir: str, engine: Any = None, grading: Any = None) -> None:
    """Render ``report`` on stdout and in ``report_dir``; end with the summary line either way.

    With the ``engine`` the report was made with (a check, not a stored
    report), ``render_report`` also writes a reproducer per failed check.
    """
    from rich.console import Console

    from gradcheck.reports import render_report
    from gradcheck.reports.text import summary_line

    console = Console()
    problem: OSError | None = None
    try:
        render_report(report, [fmt.name for fmt in formats], report_dir, console=console, engine=engine,
                      grading=grading)
    except OSError as error:
        problem = error  # every report that could be shown was
    if not any(fmt.on_terminal for fmt in formats):
        # Files only (a CI job): still say in one line how the run went.
        console.print(summary_line(report))
    if problem is not None:
        raise UsageError(
            f"Cannot write to --report-dir {report_dir!r}: {problem.strerror or problem} "
            f"({problem.filename or report_dir}). Every report that could be shown was; "
            "choose a folder you can write to and run again."
        )


def _run_check(args: argparse.Namespace) -> int:
    from gradcheck.runner import resolve_ops

    names, settings = _check_options(args)
    memory_mb = MEMORY_MB.parse(args.memory_mb) if args.memory_mb is not None else None
    confined = bool(args.isolate or memory_mb or args.python)
    if args.in_process and (confined or args.no_sandbox):
        given = [option for option, value in (("--isolate", args.isolate), ("--memory-mb", memory_mb),
                                              ("--python", args.python), ("--no-sandbox", args.no_sandbox)) if value]
        raise UsageError(
            f"--in-process runs the engine in gradcheck's own process, so it cannot go with "
            f"{', '.join(given)}, which are about its worker process; drop one or the other."
        )
    # Grading (--report-fd) and --isolate keep no failing example: they must not write in a student's folder.
    database = read_database_options(_option_value(args), default=None if confined or args.report_fd is not None
                                     else DEFAULT_DATABASE)
    formats = _formats(args)
    ops = resolve_ops(names)
    from gradcheck.runner import PROGRAMS_CHECK

    checks = [*ops, *([PROGRAMS_CHECK] if settings.programs else [])]
    # The folders a student must not see in an LMS output: where grading runs, and the target's.
    target_file = args.target.partition(":")[0] if args.target.partition(":")[0].endswith((".py", ".ipynb")) else None
    private = [os.getcwd(), *([os.path.dirname(os.path.abspath(target_file))] if target_file else [])]
    grading = _grading(args, checks, private)
    # Read before any engine runs: only this process ever sees the nonce.
    nonce = sys.stdin.readline().strip() if args.report_fd is not None else None

    # Only now, with every argument known to be good, pay for the engine.
    from gradcheck._progress import check_plan, progress_callbacks
    from gradcheck.engine import load_engine
    from gradcheck.runner import ChecksInterrupted, missing_ops, run_checks

    engine: Engine | IsolatedEngine
    stopped_by: list[int] = []
    checking = [True]  # until the checks end: then the report is written, whole or partial
    raised = [-math.inf]

    def on_signal(number: int, frame: Any) -> None:
        stopped_by.append(number)
        # A second Ctrl-C right after the first would cut the writing of the partial report
        # short; one later means the first was lost (an engine's bare `except:` in process).
        if checking[0] and time.monotonic() - raised[0] > _SIGNAL_GRACE_SECONDS:
            raised[0] = time.monotonic()
            raise _Stopped(number)

    # SIGINT and SIGTERM stop the checks; the reports of those that finished are
    # written, marked partial (docs/contract.md, section 2). Not in a grade's check:
    # its grader stops it and keeps the gradebook's rows.
    handled = (signal.SIGINT, signal.SIGTERM) if nonce is None else ()
    with contextlib.ExitStack() as stack, _unchecked_files(args, formats, grading, nonce):
        for number in handled:
            stack.enter_context(_signal_handler(number, on_signal))
        if args.in_process:
            engine = load_engine(args.target)
        else:
            from gradcheck.isolation import IsolatedEngine

            # A plain worker by default: the user's own engine, run as it would run in
            # process, needs no sandbox (nor bubblewrap); --isolate asks for one.
            engine = stack.enter_context(IsolatedEngine(
                args.target, python=args.python or sys.executable, memory_mb=memory_mb,
                sandbox=confined and not args.no_sandbox,
            ))
        # A grade names every op for every submission; a missing one scores per the weights.
        missing = missing_ops(engine, ops) if names is not None and nonce is None else None
        if missing is not None:
            raise UsageError(missing)
        plan = check_plan(engine, ops, settings.max_examples, settings.programs, settings.order)
        with progress_callbacks(plan, quiet=args.quiet or nonce is not None) as progress:
            try:
                report = run_checks(
                    engine, ops=ops, max_examples=settings.max_examples, seed=settings.seed,
                    timeout=settings.timeout, programs=settings.programs, supported_params=settings.supported_params,
                    on_start=progress.on_start, on_finish=progress.on_finish, on_example=progress.on_example,
                    database=database, order=settings.order,
                )
                checking[0] = False
            except ChecksInterrupted as stopped:
                checking[0] = False
                if not stopped_by:  # a KeyboardInterrupt of our own signal handlers' making only
                    raise
                report = dataclasses.replace(stopped.report, interrupted_by=signal.Signals(stopped_by[0]).name)
    if report.partial:
        from gradcheck.reports.display import summary_text

        print(f"gradcheck: stopped by {report.interrupted_by}; the reports below are partial: "
              f"{summary_text(report)}.", file=sys.stderr, flush=True)
        _render(report, formats, args.report_dir, engine, grading)
        return 128 + stopped_by[0]
    if nonce is not None:
        from gradcheck.grade import send_report

        send_report(report, args.report_fd, nonce)
    else:
        _render(report, formats, args.report_dir, engine, grading)
    return _exit_status(report)


@contextlib.contextmanager
def _unchecked_files(args: argparse.Namespace, formats: list[Any], grading: Any, nonce: str | None) -> Any:
    """On an engine that cannot be loaded, still write the LMS files (0 points, and why), then fail as before."""
    from gradcheck.errors import TargetError

    try:
        yield
    except TargetError as error:
        if nonce is None and any(fmt.graded for fmt in formats):
            from gradcheck.reports import render_unchecked

            with contextlib.suppress(OSError):  # the error below is what matters
                render_unchecked(str(error), [fmt.name for fmt in formats], args.report_dir, grading)
        raise


def _run_inspect(args: argparse.Namespace) -> int:
    from gradcheck.classes import ClassEngine, describe_mapping
    from gradcheck.engine import load_engine
    from gradcheck.ops import OP_NAMES, OPS

    engine = load_engine(args.target)
    if isinstance(engine.obj, ClassEngine):
        print(describe_mapping(engine.obj))
        return EXIT_PASSED
    width = max(len(op) for op in OP_NAMES)
    print(f"{engine.name}: an engine object, {engine.dtype.name}")
    for op in OP_NAMES:
        if op in engine.ops:
            spelled = engine.aliases.get(op, OPS[op].engine_function)
            print(f"  {op:<{width}}  engine.{spelled}(...)")
        else:
            print(f"  {op:<{width}}  unsupported: the engine defines no {OPS[op].engine_function!r}")
    return EXIT_PASSED


def _supported_params_text(declared: Any) -> str | None:
    """Return ``--supported-params`` as JSON for each submission's check, once checked without an engine."""
    if declared is None:
        return None
    from gradcheck.support import parse_supported_params

    try:
        parse_supported_params(declared)
    except ValueError as exc:
        raise UsageError(
            f"--supported-params cannot be used: {exc}. It maps an op to the values of its parameters "
            'the engines handle, e.g. \'{"sum": {"keepdims": [false]}}\' (docs/contract.md, section 1).'
        ) from None
    return json.dumps(declared)


def _run_report(args: argparse.Namespace) -> int:
    from gradcheck.reports.json import load_report

    formats = _formats(args)
    report = load_report(args.path)
    _render(report, formats, args.report_dir, grading=_grading(args, [result.check for result in report.results]))
    return _exit_status(report)


def _add_grade_command(commands: Any) -> None:
    grade = commands.add_parser(
        "grade", help="check many submissions and write a gradebook",
        description="Check every submission (a .py file, or a folder with engine.py) in its own "
                    "process, several at once, all with the same seed; write each one's reports to "
                    "DIR/NAME/ and the gradebook to DIR/gradebook.csv, DIR/gradebook.json and "
                    "DIR/index.html. A submission that cannot be loaded, crashes or hangs is a row "
                    "with status 'error'; the others are graded anyway.",
        epilog="Score: the sum of the weights of the passed checks over the sum of the weights of "
               "all checks; an unsupported op is not passed. Exit status: 0 the grading ran "
               "(whatever the results), 2 the arguments are wrong.\n\n" + EPILOG,
        formatter_class=HelpFormatter,
    )
    grade.add_argument("submissions", nargs="*", metavar="SUBMISSION",
                       help="a .py file or a folder holding the engine (engine.py, a single .py file, or a package)")
    WORKERS.add_option(grade.add_argument)
    lms = _add_grading_options(grade)
    lms.add_argument("--format", action="append", metavar="FMT,FMT...",
                     help="LMS files besides the gradebook: gradescope (NAME/results.json per submission), "
                          "classroom (NAME/classroom.json), canvas (canvas.csv, needs --roster)")
    lms.add_argument("--roster", metavar="FILE",
                     help="CSV file, one line per submission: folder,student_id[,name]; "
                          "the gradebook and canvas.csv then name each submission's student")
    lms.add_argument("--assignment", metavar="NAME", default=None,
                     help="the assignment's column in canvas.csv (default: gradcheck; Canvas matches "
                          "an existing assignment by 'Name (id)' as its export writes it)")
    _add_search_options(grade, help={
        "ops": "ops to check, by name or alias, a gradebook column each; an op a submission does not define "
               "earns none of its points (default: every op gradcheck knows; those the engine does not define "
               "are reported unsupported)",
        "programs": "composite programs drawn per submission",
        "seed": "random seed, the same for every submission",
        "order": "2: a column per order-2 check too, each submission checked at order 2 where its grad takes "
                 "create_graph (an engine without it earns none of those points); default 1, first derivatives",
    })
    SUBMISSION_TIMEOUT.add_option(grade.add_argument)
    MEMORY_MB.add_option(grade.add_argument)
    grade.add_argument("--python", metavar="PATH", default=None,
                       help="run the engine workers with this interpreter; it needs only NumPy "
                            "and the engines' dependencies")
    grade.add_argument("--no-sandbox", action="store_true",
                       help="run the engine workers without the bubblewrap sandbox that otherwise confines "
                            "each submission: only for submissions you trust")
    grade.add_argument("--report-dir", default=DEFAULT_REPORT_DIR, metavar="DIR",
                       help=f"folder for the gradebook and the per-submission reports (default: {DEFAULT_REPORT_DIR}/)")
    grade.add_argument("--executor", metavar="dask://HOST:PORT", default=None,
                       help="check the submissions on the workers of this Dask scheduler (they need the same "
                            "gradcheck; pip install 'gradcheck[dask]'); --workers then defaults to, and is "
                            "capped at, the cluster's worker threads (default: this machine)")
    grade.add_argument("--show-unweighted", action="store_true",
                       help="show the checks of weight 0 in index.html too (the CSV and JSON always have them)")
    grade.add_argument("--regrade", action="append", metavar="NAME",
                       help="check again only this submission of the gradebook in --report-dir (repeat for "
                            "several) and update its row; the other rows are kept. The options must be the "
                            "gradebook's")
    grade.add_argument("--force", action="store_true",
                       help="with --regrade: regrade even with options or weights other than the gradebook's")
    grade.set_defaults(run=_run_grade)


def _run_grade(args: argparse.Namespace) -> int:
    import io
    import shutil
    import time
    from pathlib import Path

    from gradcheck.runner import resolve_ops

    workers = WORKERS.parse(args.workers) if args.workers is not None else os.cpu_count() or 1
    names, settings = _check_options(args)

    from gradcheck.grade import GradeOptions, find_submissions, grade, load_roster

    # The command line has no spelling for "no limit" (None comes from Python only).
    assert settings.timeout is not None
    options = GradeOptions(
        ops=tuple(resolve_ops(names)),
        max_examples=settings.max_examples,
        programs=settings.programs,
        seed=settings.seed,
        timeout=settings.timeout,
        memory_mb=MEMORY_MB.read(args.memory_mb),
        # Absolute: a package submission's check runs in another folder.
        python=os.path.abspath(shutil.which(args.python) or args.python) if args.python else None,
        submission_timeout=SUBMISSION_TIMEOUT.read(args.submission_timeout),
        sandbox=not args.no_sandbox,
        supported_params=_supported_params_text(settings.supported_params),
        order=2 if settings.order == 2 else None,  # 1 is the default: one spelling, for regrade's comparison
    )
    if args.executor is not None:
        from gradcheck.executors import scheduler_address

        scheduler_address(args.executor)  # a bad URL is refused before anything else
    # With --executor the sandbox is made on the workers, and checked there when connecting.
    if options.sandbox and args.executor is None:
        from gradcheck.sandbox import available

        reason = available()
        if reason is not None:
            # Said once, before any submission runs, instead of as every row's error.
            raise UsageError(f"Cannot grade in a sandbox: {reason}")
    lms_formats = _grade_formats(args)
    grading = _grading(args, options.checks)
    weights = grading.weights
    regrading = _regrading(args, options, weights)
    if "canvas" in lms_formats and not args.roster and not (regrading and regrading[0].rows
                                                            and all(row.student_id for row in regrading[0].rows)):
        raise UsageError(
            "--format canvas writes one line per student id, and without --roster gradcheck knows no "
            "student id; give --roster ROSTER.csv (lines folder,student_id[,name])."
        )
    if args.assignment is not None and "canvas" not in lms_formats:
        raise UsageError("--assignment names the column of canvas.csv; it goes with --format canvas.")
    # With --executor the interpreter is looked for on the workers, when connecting.
    if args.python and args.executor is None and shutil.which(args.python) is None:
        raise UsageError(
            f"--python={args.python!r} is not an interpreter gradcheck can run (no such executable); "
            "give the path of a Python that has NumPy installed, e.g. --python ~/venv/bin/python."
        )
    if regrading:
        from gradcheck.regrade import regrade_submissions, students_of

        submissions = regrade_submissions(args.regrade, args.submissions, regrading[0])
        students: dict[str, Any] | None = students_of(regrading[0])
    else:
        submissions = find_submissions(args.submissions)
        students = load_roster(args.roster, submissions) if args.roster else None
    canvas_assignment = (args.assignment or "gradcheck") if "canvas" in lms_formats else None
    report_dir = Path(args.report_dir)
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(
            f"--report-dir={args.report_dir!r} cannot be created: {error.strerror or error}. "
            "Give a folder gradcheck may write to."
        ) from None

    # Only now, with every argument known to be good, pay for the grading.
    remote = contextlib.ExitStack()
    check = None
    if args.executor is not None:
        from gradcheck.executors import open_executor

        check = remote.enter_context(open_executor(args.executor, options))
        workers = min(workers if args.workers is not None else check.slots, check.slots)
    from rich.console import Console

    from gradcheck.reports.gradebook import write_gradebook

    console, progress = Console(), Console(stderr=True, highlight=False)
    total, done = len(submissions), 0
    progress.print(
        f"Grading {total} submission{'s' if total != 1 else ''} with seed {options.seed}, "
        f"{min(workers, total)} at a time{f' on the workers of {args.executor}' if args.executor else ''}; "
        f"reports in {report_dir}/", markup=False, soft_wrap=True,
    )

    def on_finish(row: Any) -> None:
        nonlocal done
        done += 1
        progress.print(f"[{done:>{len(str(total))}}/{total}] {row.name}: {row.summary()}", markup=False, soft_wrap=True)

    def on_update(book: Any) -> None:
        # The gradebook so far, after every row: a grading that is stopped or
        # dies still leaves the rows it finished.
        try:
            write_gradebook(merged(book), report_dir, Console(file=io.StringIO()), canvas_assignment=canvas_assignment,
                            show_unweighted=args.show_unweighted)
        except OSError as error:
            progress.print(f"gradcheck: cannot write the gradebook yet ({error}); grading goes on",
                           markup=False, soft_wrap=True)

    from gradcheck.grade import GradingStopped

    def merged(book: Any) -> Any:
        # A regrade writes the whole gradebook: the stored rows, the regraded ones in their place.
        if not regrading:
            return book
        from gradcheck.regrade import merge

        return merge(regrading[0], book, options, weights, regrading[1])

    started = time.perf_counter()
    stopped_by: list[int] = []

    def on_terminate(number: int, frame: Any) -> None:
        stopped_by.append(number)
        raise KeyboardInterrupt

    # SIGINT too, explicitly: a grader started with SIGINT ignored (by a parent
    # that ignores it, as pytest-xdist's workers and background jobs of some
    # shells do) must still stop on it with a partial gradebook.
    with remote, _signal_handler(signal.SIGTERM, on_terminate), _signal_handler(signal.SIGINT, on_terminate):
        try:
            gradebook = grade(submissions, options, report_dir, weights=weights, workers=workers,
                              on_finish=on_finish, on_update=on_update,
                              formats=[name for name in lms_formats if name != "canvas"],
                              hidden=grading.hidden, students=students, check=check)
        except GradingStopped as stopped:
            gradebook = stopped.gradebook
            stopped_by.append(stopped_by[0] if stopped_by else signal.SIGINT)
    gradebook = merged(gradebook)
    try:
        write_gradebook(gradebook, report_dir, console, canvas_assignment=canvas_assignment,
                        show_unweighted=args.show_unweighted)
    except OSError as error:
        print(f"gradcheck: error: cannot write the gradebook to {report_dir}: {error.strerror or error}. "
              "The gradebook written as rows finished, if any, is still there.", file=sys.stderr)
        return EXIT_FAILED
    if stopped_by:
        print(f"gradcheck: grading stopped by {signal.Signals(stopped_by[0]).name}; "
              f"{len(gradebook.not_graded)} submission(s) not graded: {', '.join(gradebook.not_graded)}",
              file=sys.stderr)
        return 128 + stopped_by[0]
    if regrading:
        rows = {row.name: row for row in gradebook.rows}
        for submission in submissions:
            console.print(f"Regraded {submission.name}: {rows[submission.name].summary()}",
                          markup=False, highlight=False, soft_wrap=True)
        return EXIT_PASSED
    graded = [row for row in gradebook.rows if row.status == "graded"]
    mean = sum(row.score for row in graded) / len(graded) if graded else 0.0
    console.print(
        f"Graded {total} submission{'s' if total != 1 else ''} in {time.perf_counter() - started:.1f} s "
        f"with seed {options.seed}: {len(graded)} checked (mean score {mean:.0%}), "
        f"{total - len(graded)} could not be checked.", markup=False, highlight=False, soft_wrap=True,
    )
    return EXIT_PASSED


def _regrading(args: argparse.Namespace, options: Any, weights: Any) -> Any:
    """Return ``(stored gradebook, differences)`` for ``grade --regrade``, None without it; validated."""
    if not args.regrade:
        if args.force:
            raise UsageError("--force lets --regrade use other options than the gradebook's; it goes with --regrade.")
        if not args.submissions:
            raise UsageError("gradcheck grade needs the submissions to grade: give SUBMISSION... "
                             "(a .py file or a folder each), e.g. gradcheck grade submissions/*.")
        return None
    if args.roster:
        raise UsageError(
            "--regrade keeps each row's student from the gradebook, so it takes no --roster; leave it out "
            "(to change the roster, grade everyone again)."
        )
    from gradcheck.regrade import checked_differences, stored_gradebook

    stored = stored_gradebook(args.report_dir)
    return stored, checked_differences(stored, options, weights, args.force)


#: What ``grade --format`` writes besides the gradebook (it always writes json, csv, html and text).
GRADE_FORMATS = ("gradescope", "classroom", "canvas")


def _grade_formats(args: argparse.Namespace) -> list[str]:
    """Return the LMS formats of ``grade --format``, validated."""
    names = comma_list(args.format)
    if args.format is not None and not names:
        raise UsageError(f"--format={','.join(args.format)!r} names no format; give one or more of "
                         f"{', '.join(GRADE_FORMATS)} separated by commas.")
    for name in names:
        if name not in GRADE_FORMATS:
            raise UsageError(
                f"--format={name} is not a format of gradcheck grade; it writes the gradebook (json, csv, "
                f"html) and each submission's reports always, and on request {', '.join(GRADE_FORMATS)}."
            )
    return list(dict.fromkeys(names))


@contextlib.contextmanager
def _signal_handler(number: int, handler: Any) -> Any:
    """Handle signal ``number`` with ``handler`` inside the block (main thread only, else unchanged)."""
    try:
        previous = signal.signal(number, handler)
    except ValueError:  # not the main thread: signals are not ours to take
        yield
        return
    try:
        yield
    finally:
        signal.signal(number, previous)


def _add_check_function_command(commands: Any) -> None:
    command = commands.add_parser(
        "check-function", help="check one function's hand-written gradient",
        description="Search for inputs on which a function's own gradient is wrong: a VJP given with "
                    "--grad, or else the function's TensorFlow tape gradient (a tf.custom_gradient). "
                    "The references are finite differences of the function in float64 and, where it "
                    "is TensorFlow code, TensorFlow's gradient of it.",
        epilog="SPEC is a literal, one shape per array, such as '(2, 3), (3,)'; or array, nonscalar, "
               "matrix, matmul, same:N or broadcast:N (N arrays); or FILE.py:NAME / module:NAME naming "
               "a Hypothesis strategy of tuples of shapes. Exit status: 0 the gradient passed, 1 it "
               "failed, 2 a target or an argument is wrong.",
    )
    command.add_argument("target", metavar="FN",
                         help="the function, fn(*arrays) -> array: path/to/file.py:NAME or package.module:NAME")
    command.add_argument("--grad", metavar="GRAD_FN",
                         help="its gradient, grad_fn(*arrays, cotangent) -> one gradient per array "
                              "(default: TensorFlow's tape gradient of FN, e.g. its tf.custom_gradient)")
    command.add_argument("--reference", metavar="REF_FN",
                         help="a NumPy float64 version of FN, to check its forward values too")
    command.add_argument("--shapes", required=True, metavar="SPEC",
                         help="the shapes of FN's arrays (see below)")
    command.add_argument("--dtype", choices=DTYPES, default="float64",
                         help="dtype the arrays are handed to FN and GRAD_FN in (default: float64)")
    command.add_argument("--domain", action="append", metavar="LOW,HIGH",
                         help="where the values lie: once for every array, or once per array "
                              "(default: -3,3); keep away from kinks and poles of FN")
    TOLERANCE.add_option(command.add_argument)
    MAX_EXAMPLES.add_option(command.add_argument, help="cases drawn")
    SEED.add_option(command.add_argument, help="random seed; the report prints it for replay")
    TIMEOUT.add_option(command.add_argument, help="time limit for one call of FN or GRAD_FN")
    _add_format_options(command)
    command.add_argument("--quiet", "-q", action="store_true", help="show no progress on stderr")
    command.set_defaults(run=_run_check_function)


def _run_check_function(args: argparse.Namespace) -> int:
    from gradcheck.function import (
        check_user_function,
        parse_domain_option,
        parse_shapes,
        user_function,
    )

    max_examples = MAX_EXAMPLES.read(args.max_examples)
    seed = SEED.read(args.seed)
    _say_drawn_seed(args.seed, seed)
    timeout = TIMEOUT.read(args.timeout)
    rtol = TOLERANCE.read(args.rtol)
    formats = _formats(args)
    domains = [parse_domain_option(text) for text in args.domain or ()]
    try:
        shapes = parse_shapes(args.shapes)  # a bad spec is reported before the functions are loaded
    except UsageError as error:
        raise UsageError(f"--{error}" if str(error).startswith("shapes=") else str(error)) from None

    # Only now, with every argument known to be good, pay for the functions.
    from gradcheck._progress import progress_callbacks

    function = user_function(args.target, args.grad, reference_fn=args.reference, tolerance=rtol, timeout=timeout)
    with progress_callbacks({function.name: max_examples}, quiet=args.quiet) as progress:
        if progress.on_start:
            progress.on_start(function.name)
        report = check_user_function(
            function, shapes=shapes, dtype=args.dtype, max_examples=max_examples, seed=seed,
            domain=None if not domains else domains[0] if len(domains) == 1 else domains,
            on_example=progress.on_example,
        )
        if progress.on_finish:
            progress.on_finish(report.results[0])
    _render(report, formats, args.report_dir, function)
    return _exit_status(report)


def _run_demo(args: argparse.Namespace) -> int:
    from rich.console import Console

    from gradcheck.demo import run_demo

    return run_demo(Console())
