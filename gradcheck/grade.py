"""Grade many submissions at once: one isolated check each, one gradebook for all.

``gradcheck grade alice/ bob.py carol/ --workers 4`` finds the engine in each
submission (``find_submissions``), checks every one with the same seed and
options (``grade``), scores each with per-check weights (``load_weights``) and
returns a ``Gradebook``: plain data that ``gradcheck.reports.gradebook``
writes as ``gradebook.csv``, ``gradebook.json`` and ``index.html``.

How a submission is run, and why: each one is a child process running
``python -m gradcheck check TARGET --isolate --format json ...`` into its own
report folder, and the gradebook reads the JSON back. That child is the whole
check of one student, so nothing a submission does (a crash, a hang, a
monkeypatched NumPy, an import that kills the interpreter) can reach the
grader or another submission; ``--isolate`` moreover puts the engine in a
worker of its own, so one op that crashes costs that op, not the student's
other checks. A fresh interpreter per submission also means no fork of a
process that has TensorFlow loaded, and the row of a submission is exactly
what ``gradcheck check`` would tell that student. The grader itself only
waits, so a thread pool of ``workers`` threads, each waiting on one child,
is all the parallelism needed.

Scores::

    score = sum of the weights of the passed checks / sum of the weights of all checks

An ``unsupported`` check is not passed: an engine that leaves an op out
loses that op's weight, as if it had failed it. A submission that could not
be loaded scores 0, every check ``error``.
"""

from __future__ import annotations

import ast
import collections
import concurrent.futures
import difflib
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence, TextIO

import gradcheck
from gradcheck._tracebacks import display_path
from gradcheck.errors import UsageError
from gradcheck.ops import ALIASES, OP_NAMES, canonical_op
# Re-exported: the gradebook is part of the result model.
from gradcheck.results import ERROR, Gradebook, Row
from gradcheck.runner import PROGRAMS_CHECK
from gradcheck.settings import (
    DEFAULT_MAX_EXAMPLES,
    DEFAULT_MEMORY_MB,
    DEFAULT_PROGRAMS,
    DEFAULT_SEED,
    DEFAULT_SUBMISSION_TIMEOUT,
    DEFAULT_TIMEOUT,
)

__all__ = [
    "DEFAULT_MEMORY_MB",
    "DEFAULT_SUBMISSION_TIMEOUT",
    "ERROR",
    "GradeOptions",
    "Gradebook",
    "Row",
    "Submission",
    "Weights",
    "find_submissions",
    "grade",
    "load_weights",
]

#: The key of the weight every check without its own weight gets.
DEFAULT_WEIGHT_KEY = "default"

# The per-submission files the child writes: the machine record first, the
# page a student reads when this gradecheck has the HTML renderer.
_CHILD_FORMATS = ("json", "html")
TEXT_REPORT = "gradcheck.txt"

# Many small checks run side by side: a thread pool per process would only
# fight the other processes for the cores. Set unless the user chose already.
_ONE_THREAD_ENV = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
)

# How long a child stopped with SIGINT gets to stop its engine worker cleanly
# before it is killed.
_STOP_GRACE = 10.0
# How much of what a dead child printed goes into its row's reason.
_OUTPUT_TAIL = 1500


# --- Submissions ---------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    """One student's submission: where it is, and what ``gradcheck check`` is given.

    ``target`` is None when no engine was found; ``problem`` then says why.
    ``cwd`` is the folder the check runs in: a package is imported by name
    from its parent folder, so that its relative imports work.
    """

    name: str
    path: Path
    target: str | None = None
    cwd: Path | None = None
    problem: str | None = None


# Files in a folder that are never the engine: packaging, tests, private helpers.
_NOT_ENGINE_FILES = re.compile(r"(__init__|setup|conftest|test_.*|.*_test|_.*)\.py")
# A file that defines or binds one of these names may hold an engine: every
# engine has ``grad`` (docs/contract.md, section 1), and ``engine`` is the usual attribute.
_ENGINE_NAMES = frozenset({"grad", "engine"})


def find_submissions(paths: Iterable[str | os.PathLike[str]]) -> list[Submission]:
    """Return the ``Submission`` of each path (a ``.py`` file or a folder), with unique names.

    A folder's engine is its ``engine.py``; else its one Python file that may
    define an engine (judged from the source, never run); else the folder
    itself as a package. In a package folder, that file is imported as a
    module of the package. A folder where none of these applies is still a
    submission, with ``problem`` saying what is missing. The same path given
    twice is graded once. Raises ``UsageError`` for a path that does not exist.

    .. code-block:: pycon

        >>> [s.name for s in find_submissions(["subs/alice", "subs/bob/engine.py"])]  # doctest: +SKIP
        ['alice', 'engine']
    """
    resolved: dict[Path, str] = {}
    for given in paths:
        path = Path(given).expanduser()
        if not path.exists():
            raise UsageError(
                f"SUBMISSION={os.fspath(given)!r} does not exist (looked in {os.getcwd()}); "
                "give the path of each submission, a .py file or a folder, e.g. submissions/*."
            )
        resolved.setdefault(path.resolve(), os.fspath(given))
    names = _unique_names(list(resolved))
    return [_locate_engine(name, path) for name, path in zip(names, resolved)]


def _locate_engine(name: str, path: Path) -> Submission:
    # File targets as the user would type them (relative to here when inside):
    # the check runs in this folder, and its messages and report show them.
    if path.is_file():
        return Submission(name, path, target=display_path(path))
    found, problem = _engine_file(path)
    if found is None:
        return Submission(name, path, problem=problem)
    if (path / "__init__.py").is_file() and path.name.isidentifier() and found.stem.isidentifier():
        # A package: its modules are imported by name, from the folder above,
        # so that their relative imports (from .rules import ...) work.
        module = path.name if found.name == "__init__.py" else f"{path.name}.{found.stem}"
        return Submission(name, path, target=module, cwd=path.parent)
    return Submission(name, path, target=display_path(found))


def _engine_file(folder: Path) -> tuple[Path | None, str | None]:
    """Return the file of ``folder`` that holds the engine, or None and why there is none."""
    if (folder / "engine.py").is_file():
        return folder / "engine.py", None
    files = sorted(p for p in folder.glob("*.py") if p.is_file())
    candidates = [p for p in files if not _NOT_ENGINE_FILES.fullmatch(p.name) and _may_define_engine(p)]
    if len(candidates) == 1:
        return candidates[0], None
    if (folder / "__init__.py") in files and _may_define_engine(folder / "__init__.py"):
        return folder / "__init__.py", None
    shown = display_path(folder)
    listed = ", ".join(p.name for p in (candidates or files)[:12])
    if len(candidates) > 1:
        return None, (
            f"{shown} has several Python files that may define the engine ({listed}) and no "
            "engine.py, so gradcheck cannot tell which one to grade. Name the engine's file "
            "engine.py, or give that file itself as the submission."
        )
    if files:
        return None, (
            f"{shown} has Python files ({listed}) but none of them defines an engine (nothing "
            f"there is named grad or engine). Put the engine in {display_path(folder / 'engine.py')}."
        )
    return None, (
        f"{shown} is a folder with no Python file in it, so there is no engine to grade. "
        "A submission is a .py file that defines the engine, or a folder holding engine.py."
    )


def _may_define_engine(path: Path) -> bool:
    """Return whether the source of ``path`` may define an engine, without running it."""
    try:
        tree = ast.parse(path.read_bytes())
    except (SyntaxError, ValueError):
        # Grade it anyway: "line 3 has a syntax error" helps the student more
        # than "no engine found".
        return True
    except OSError:
        return False
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound = node.name
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound = node.id
        elif isinstance(node, ast.alias):
            if node.name == "*":
                return True  # anything may come in
            bound = node.asname or node.name.rpartition(".")[2]
        else:
            continue
        if bound in _ENGINE_NAMES:
            return True
    return False


def _unique_names(paths: Sequence[Path]) -> list[str]:
    """Return a folder name for each path: its last part, with as many parents as tell it apart.

    ``a.py, b/`` -> ``a, b``; ``alice/engine.py, bob/engine.py`` -> ``alice-engine, bob-engine``.
    """
    parts = [(*path.parent.parts, path.stem) if path.is_file() else path.parts for path in paths]
    parts = [tuple(part for part in whole if part.strip(os.sep)) or ("submission",) for whole in parts]
    depth = [1] * len(paths)
    while True:
        names = [_safe_name("-".join(whole[-d:])) for whole, d in zip(parts, depth)]
        counts = collections.Counter(names)
        clashing = [i for i, name in enumerate(names) if counts[name] > 1 and depth[i] < len(parts[i])]
        if not clashing:
            break
        for i in clashing:
            depth[i] += 1
    # Names equal after cleaning up characters, with no parent left to add.
    seen: collections.Counter[str] = collections.Counter()
    for i, name in enumerate(names):
        seen[name] += 1
        if seen[name] > 1:
            names[i] = f"{name}-{seen[name]}"
    return names


def _safe_name(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", text).strip("._") or "submission"


# --- Weights -------------------------------------------------------------------


@dataclass(frozen=True)
class Weights:
    """How much each check counts towards a score; ``default`` for the checks not listed."""

    by_check: Mapping[str, float] = field(default_factory=dict)
    default: float = 1.0
    source: str | None = None

    def of(self, check: str) -> float:
        """Return the weight of ``check`` (an op's canonical name or ``programs``)."""
        return self.by_check.get(check, self.default)

    def points(self, statuses: Mapping[str, str]) -> tuple[float, float]:
        """Return ``(earned, possible)`` for a row's ``{check: status}``: the module's score rule."""
        earned = sum(self.of(check) for check, status in statuses.items() if status == "passed")
        return earned, sum(self.of(check) for check in statuses)


def load_weights(path: str | os.PathLike[str], checks: Sequence[str] | None = None) -> Weights:
    """Return the weights in the TOML file at ``path`` (for the columns ``checks``, when given).

    The file has one table, ``[weights]``, mapping check names (ops, their
    aliases, ``programs``) and ``default`` to non-negative numbers::

        [weights]
        matmul = 3
        programs = 5
        default = 1

    A known check that is not among ``checks`` (an op left out by ``--ops``)
    is accepted and unused, so one file serves every selection of ops.
    Raises ``UsageError`` naming the problem: unreadable or invalid TOML, a
    missing table, an unknown check name, a weight that is not a number >= 0,
    or weights that give ``checks`` nothing to score.
    Needs Python 3.11's ``tomllib`` (or the ``tomli`` package).
    """
    shown = f"--weights={os.fspath(path)}"
    try:
        if sys.version_info >= (3, 11):
            import tomllib
        else:
            import tomli as tomllib
    except ModuleNotFoundError:  # Python 3.10 without tomli
        raise UsageError(
            f"{shown} needs a TOML reader, which Python "
            f"{sys.version_info.major}.{sys.version_info.minor} does not have (tomllib came in 3.11). "
            "Run gradcheck with Python 3.11 or later, install tomli, or grade without --weights "
            "(every check then weighs 1)."
        ) from None
    example = "e.g.\n[weights]\nmatmul = 3\nprograms = 5\ndefault = 1"
    try:
        with open(path, "rb") as stream:
            document = tomllib.load(stream)
    except OSError as error:
        raise UsageError(
            f"{shown} cannot be read: {error.strerror or error}. Give the path of a TOML file with "
            f"a [weights] table, {example}"
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"{shown} is not valid TOML ({error}). Fix the file; it should look like this, {example}") from None
    table = document.get("weights")
    others = sorted(set(document) - {"weights"})
    if not isinstance(table, dict) or others:
        found = f"it has {', '.join(others)}" if others else "it has no [weights] table"
        raise UsageError(f"{shown} must hold one table, [weights], but {found}; {example}")
    known = [*OP_NAMES, *ALIASES, PROGRAMS_CHECK, DEFAULT_WEIGHT_KEY]
    weights: dict[str, float] = {}
    for key, value in table.items():
        check = key if key in (PROGRAMS_CHECK, DEFAULT_WEIGHT_KEY) else canonical_op(key)
        if check is None:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UsageError(
                f"{shown}: {key!r} is not a check gradcheck grades.{hint} Weights are given to ops "
                f"({', '.join(OP_NAMES)}), to {PROGRAMS_CHECK!r}, and to {DEFAULT_WEIGHT_KEY!r} for "
                "every check not listed."
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise UsageError(
                f"{shown}: {key} = {value!r} is not a weight; a weight is a number of at least 0, "
                f"e.g. {key} = 2."
            )
        if check in weights:
            raise UsageError(f"{shown} gives {check!r} two weights (once under an alias); keep one.")
        weights[check] = float(value)
    default = weights.pop(DEFAULT_WEIGHT_KEY, 1.0)
    loaded = Weights(by_check=weights, default=default, source=os.fspath(path))
    if checks is not None and not any(loaded.of(check) for check in checks):
        raise UsageError(
            f"{shown} gives weight 0 to every check graded ({', '.join(checks)}), so no score can be "
            f"computed; give at least one of them a positive weight, e.g. {DEFAULT_WEIGHT_KEY} = 1."
        )
    return loaded


# --- Grading -------------------------------------------------------------------


@dataclass(frozen=True)
class GradeOptions:
    """The options every submission is checked with: one set for all, for fairness."""

    ops: tuple[str, ...] = OP_NAMES
    max_examples: int = DEFAULT_MAX_EXAMPLES
    programs: int = DEFAULT_PROGRAMS
    seed: int = DEFAULT_SEED
    timeout: float = DEFAULT_TIMEOUT
    memory_mb: int | None = DEFAULT_MEMORY_MB
    python: str | None = None
    submission_timeout: float = DEFAULT_SUBMISSION_TIMEOUT

    @property
    def checks(self) -> tuple[str, ...]:
        """Return the gradebook's columns: every op, then ``programs`` when programs are drawn."""
        return self.ops + ((PROGRAMS_CHECK,) if self.programs else ())

    def check_arguments(self) -> list[str]:
        """Return the ``gradcheck check`` options that apply these to one submission."""
        arguments = [
            "--isolate",
            "--ops", ",".join(self.ops),
            "--max-examples", str(self.max_examples),
            "--programs", str(self.programs),
            "--seed", str(self.seed),
            "--timeout", repr(self.timeout),
        ]
        if self.memory_mb:
            arguments += ["--memory-mb", str(self.memory_mb)]
        if self.python:
            arguments += ["--python", self.python]
        return arguments

    def to_dict(self) -> dict[str, Any]:
        return {
            "ops": list(self.ops),
            "max_examples": self.max_examples,
            "programs": self.programs,
            "seed": self.seed,
            "timeout": self.timeout,
            "memory_mb": self.memory_mb,
            "python": self.python,
            "submission_timeout": self.submission_timeout,
        }


def grade(
    submissions: Sequence[Submission],
    options: GradeOptions,
    report_dir: str | os.PathLike[str],
    *,
    weights: Weights | None = None,
    workers: int = 1,
    on_finish: Callable[[Row], None] | None = None,
) -> Gradebook:
    """Check every submission with ``options``, ``workers`` at a time; return the gradebook.

    Each submission's reports go to ``report_dir/<name>/``. ``on_finish`` is
    called with each row as it is done (in the order they finish); the
    gradebook keeps the order of ``submissions``. No submission can stop
    the others: one that cannot be loaded, crashes or hangs is an ``error``
    row. Writing the gradebook files is ``gradcheck.reports.gradebook``'s job.
    """
    weights = weights or Weights()
    # Absolute: a package submission's check runs in another folder.
    report_dir = Path(report_dir).absolute()
    started = time.perf_counter()
    children = _Children()
    workers = max(1, min(workers, len(submissions)))
    rows: dict[str, Row] = {}
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gradcheck-grade")
    try:
        futures = [
            executor.submit(_grade_one, submission, options, weights, report_dir, children)
            for submission in submissions
        ]
        for future in concurrent.futures.as_completed(futures):
            row = future.result()
            rows[row.name] = row
            if on_finish:
                on_finish(row)
    except BaseException:
        # Ctrl-C, or a bug here: start nothing new, stop what runs (each child
        # then stops its engine worker), and wait for the threads to see it.
        executor.shutdown(wait=False, cancel_futures=True)
        children.stop_all()
        raise
    finally:
        executor.shutdown(wait=True)
    return Gradebook(
        options=options,
        weights=weights,
        workers=workers,
        rows=[rows[submission.name] for submission in submissions],
        seconds=time.perf_counter() - started,
    )


class _Children:
    """The child processes running now, so that an interrupted grading can stop them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[str]] = set()
        self._stopping = False

    def start(self, command: list[str], cwd: Path | None) -> subprocess.Popen[str] | None:
        """Start ``command``; return None once ``stop_all`` was called."""
        with self._lock:
            if self._stopping:
                return None
            process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                cwd=cwd, env=_child_environment(),
            )
            self._running.add(process)
            return process

    def done(self, process: subprocess.Popen[str]) -> None:
        with self._lock:
            self._running.discard(process)

    def stop_all(self) -> None:
        with self._lock:
            self._stopping = True
            running = list(self._running)
        for process in running:
            _interrupt(process)


def _interrupt(process: subprocess.Popen[str]) -> None:
    # SIGINT, not SIGKILL: the check then closes its engine worker, which
    # lives in a session of its own and would outlive a killed parent.
    if process.poll() is None:
        try:
            process.send_signal(signal.SIGINT)
        except ProcessLookupError:
            pass


def _child_environment() -> dict[str, str]:
    environment = dict(os.environ)
    # The child must import this very gradcheck, installed or not.
    package_root = str(Path(gradcheck.__file__).resolve().parent.parent)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, environment.get("PYTHONPATH")]))
    for name in _ONE_THREAD_ENV:
        environment.setdefault(name, "1")
    return environment


def _grade_one(
    submission: Submission, options: GradeOptions, weights: Weights, report_dir: Path, children: _Children,
) -> Row:
    """Check one submission in a child process; return its row. Never raises for the submission's sake."""
    started = time.perf_counter()
    folder = report_dir / submission.name
    _clear_reports(folder)
    reason = _run_check(submission, options, folder, children)
    reports: dict[str, str] = {}
    from gradcheck.reports import gradebook

    if reason is None:
        from gradcheck.reports.json import load_report

        try:
            report = load_report(folder / "gradcheck.json")
        except UsageError as error:
            reason = f"the check ran but its report cannot be read back: {error}"
    if reason is None:
        statuses = {result.check: result.status for result in report.results}
        # The runner draws no program when the engine supports none of the
        # ops: that column is as unsupported as the ops themselves.
        checks = {check: statuses.get(check, "unsupported") for check in options.checks}
        status, written = "graded", _write_text(gradebook.write_text_report, report, folder)
    else:
        checks = dict.fromkeys(options.checks, ERROR)
        status, written = ERROR, _write_text(gradebook.write_text_reason, reason, folder)
    for name, path in [*_existing_reports(folder), ("text", written)]:
        reports[name] = path.relative_to(report_dir).as_posix()
    points, max_points = weights.points(checks)
    return Row(
        name=submission.name,
        path=display_path(submission.path),
        target=submission.target,
        status=status,
        checks=checks,
        points=points,
        max_points=max_points,
        reports=reports,
        reason=reason,
        seconds=time.perf_counter() - started,
    )


def _run_check(submission: Submission, options: GradeOptions, folder: Path, children: _Children) -> str | None:
    """Run ``gradcheck check`` on the submission; return None when it ran, else why it could not."""
    if submission.target is None:
        return submission.problem or "no engine found"
    formats = [name for name in _CHILD_FORMATS if name in _file_formats()]
    command = [
        sys.executable, "-m", "gradcheck", "check", submission.target,
        *options.check_arguments(), "--format", ",".join(formats), "--report-dir", str(folder),
    ]
    process = children.start(command, submission.cwd)
    if process is None:
        return "grading was interrupted before this submission was checked"
    try:
        try:
            _, errors = process.communicate(timeout=options.submission_timeout)
        except subprocess.TimeoutExpired:
            _interrupt(process)
            try:
                process.communicate(timeout=_STOP_GRACE)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
            return (
                f"checking this submission took longer than --submission-timeout={options.submission_timeout:g} "
                "seconds and was stopped; its engine is probably very slow or stuck outside an op call. "
                "Grade it alone with a longer limit."
            )
    finally:
        children.done(process)
    code = process.returncode
    # 0: every check passed, 1: some check failed; but a crash of gradcheck
    # itself also exits with 1, so only the report tells that the check ran.
    if code in (0, 1) and (folder / "gradcheck.json").is_file():
        return None
    marker = "gradcheck: error: "
    if code == 2 and marker in errors:
        return errors[errors.rindex(marker) + len(marker):].strip()
    how = f"was killed by {_signal_name(-code)}" if code < 0 else f"exited with status {code}"
    tail = errors.strip()[-_OUTPUT_TAIL:]
    return f"the check of this submission {how} without writing its report. What it printed: {tail or 'nothing'}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _file_formats() -> dict[str, Any]:
    from gradcheck.reports import FORMATS

    return {name: fmt for name, fmt in FORMATS.items() if not fmt.on_terminal}


def _clear_reports(folder: Path) -> None:
    # A report left by an earlier run must not be linked as this run's.
    for fmt in _file_formats().values():
        (folder / fmt.filename).unlink(missing_ok=True)
    (folder / TEXT_REPORT).unlink(missing_ok=True)


def _existing_reports(folder: Path) -> list[tuple[str, Path]]:
    return [(name, folder / fmt.filename) for name, fmt in _file_formats().items() if (folder / fmt.filename).is_file()]


def _write_text(write: Callable[[Any, TextIO], None], content: Any, folder: Path) -> Path:
    """Write ``folder/gradcheck.txt`` with ``write(content, stream)``; return its path."""
    from gradcheck.reports import write_atomically

    # The same atomic write as every other report file.
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / TEXT_REPORT
    write_atomically(path, lambda stream: write(content, stream))
    return path
