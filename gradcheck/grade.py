"""Grade many submissions at once: one isolated check each, one gradebook for all.

``gradcheck grade alice/ bob.py carol/ --workers 4`` finds the engine in each
submission (``find_submissions``), checks every one with the same seed and
options (``grade``), scores each with per-check weights (``load_weights``) and
returns a ``Gradebook``: plain data that ``gradcheck.reports.gradebook``
writes as ``gradebook.csv``, ``gradebook.json`` and ``index.html``.

How a submission is run, and why: by a *grading worker*, one per
``--workers``: a long-lived ``python -I -c ... gradcheck._grading_worker``
process, started in an empty folder of the grader's, that imports TensorFlow
and the oracles once and then checks submission after submission, each
exactly as ``gradcheck check TARGET --isolate --report-fd FD`` would (it runs
that command's code). It runs trusted gradcheck code only: the engine is
loaded, probed and run in a sandboxed, NumPy-only engine worker of that
check (``gradcheck.isolation.IsolatedEngine``), so one op that crashes costs
that op, not the student's other checks, and no fork of a process that has
TensorFlow loaded is ever needed. The grader hands a worker one submission at
a time on a Unix socket only the two of them hold, with three pipes of that
submission's own (stdout, stderr, the report), and the worker answers
``done STATUS``; the JSON report comes back on the report pipe, framed with
a nonce sent along (``send_report``). So the row of a submission is exactly
what ``gradcheck check`` would tell that student, with the same seed and
cases for all. A submission that outlasts ``--submission-timeout``, or whose
check kills the worker, costs that submission and that worker: its process
group is killed and the thread's next submission gets a fresh worker, whose
start (TensorFlow's import) counts against no submission's time limit. The
grader itself only waits, so a thread pool of ``workers`` threads, each
owning one worker, is all the parallelism needed; ``_run_check`` checks one
submission on its own.

What a submission may attempt, and what stops it: the grader never reads a
file a submission could write (the report arrives on the pipe, is size
capped, parsed and validated, and the grader writes the report files from
it); every wait ends at ``--submission-timeout``, after which the grading
worker's process group is killed (a sandboxed engine worker dies with it)
and pipes a leftover daemon holds are let go; what a check prints is kept to
its head and tail, per submission; processes it leaves behind are
re-parented to the grader (a Linux child subreaper) and killed before the
worker takes its next submission; a failure to write one submission's files
is that submission's ``error`` row; nothing in a submission folder is on the
grading worker's import path; and every string from a submission goes
through ``reports.display.printable``. Without the sandbox (``--no-sandbox``,
trusted code) an engine runs as the grader's user and could reach the
grading worker, which outlives its submission: keep the sandbox on for
untrusted submissions.

Scores::

    score = sum of the weights of the passed checks / sum of the weights of all checks

An ``unsupported`` check is not passed: an engine that leaves an op out
loses that op's weight, as if it had failed it. A submission that could not
be loaded scores 0, every check ``error``.
"""

from __future__ import annotations

import ast
import atexit
import collections
import concurrent.futures
import contextlib
import csv
import dataclasses
import difflib
import io
import json
import math
import os
import re
import secrets
import select
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence, TextIO

import gradcheck
from gradcheck._notebooks import is_notebook, read_notebook
from gradcheck._tracebacks import display_path
from gradcheck.errors import UsageError
from gradcheck.ops import ALIASES, OP_NAMES, canonical_op
from gradcheck.reports.display import printable
from gradcheck.reports.student import scrub
# Re-exported: the gradebook is part of the result model.
from gradcheck.results import CATEGORIES, ERROR, STATUSES, Gradebook, Report, Row, Weights
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
    "GradingStopped",
    "Row",
    "Student",
    "Submission",
    "Weights",
    "check_submission",
    "find_submissions",
    "grade",
    "load_roster",
    "load_weights",
    "send_report",
    "validated_report",
]

#: The key of the weight every check without its own weight gets.
DEFAULT_WEIGHT_KEY = "default"

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


# --- Submissions ---------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    """One student's submission: where it is, and what ``gradcheck check`` is given.

    ``target`` is None when no engine was found; ``problem`` then says why.
    ``import_path`` is the folder a package is imported from by name (its
    parent, so that its relative imports work); it is given to the engine
    worker explicitly, never as the current folder.
    """

    name: str
    path: Path
    target: str | None = None
    import_path: Path | None = None
    problem: str | None = None


# Files in a folder that are never the engine: packaging, tests, private helpers.
_NOT_ENGINE_FILES = re.compile(r"(__init__|setup|conftest|test_.*|.*_test|_.*)\.py")
# A file that defines or binds one of these names may hold an engine: every
# engine has ``grad`` (docs/contract.md, section 1), and ``engine`` is the usual attribute.
_ENGINE_NAMES = frozenset({"grad", "engine"})


def find_submissions(paths: Iterable[str | os.PathLike[str]]) -> list[Submission]:
    """Return the ``Submission`` of each path (a ``.py`` or ``.ipynb`` file or a folder), with unique names.

    A folder's engine is its ``engine.py`` (or ``engine.ipynb``); else its one
    Python file or notebook that may define an engine (judged from the source,
    never run); else the folder itself as a package. In a package folder, a
    Python file is imported as a module of the package. A folder where none of these applies is still a
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
                "give the path of each submission, a .py or .ipynb file or a folder, e.g. submissions/*."
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
    if found.suffix == ".py" and (path / "__init__.py").is_file() and path.name.isidentifier() and found.stem.isidentifier():
        # A package: its modules are imported by name, from the folder above,
        # so that their relative imports (from .rules import ...) work.
        module = path.name if found.name == "__init__.py" else f"{path.name}.{found.stem}"
        return Submission(name, path, target=module, import_path=path.parent)
    return Submission(name, path, target=display_path(found))


def _engine_file(folder: Path) -> tuple[Path | None, str | None]:
    """Return the file of ``folder`` that holds the engine, or None and why there is none."""
    for name in ("engine.py", "engine.ipynb"):
        if (folder / name).is_file():
            return folder / name, None
    files = sorted(p for p in folder.glob("*.py") if p.is_file())
    candidates = [p for p in files if not _NOT_ENGINE_FILES.fullmatch(p.name) and _may_define_engine(p)]
    notebooks = sorted(p for p in folder.glob("*.ipynb") if p.is_file() and not p.name.startswith(("_", ".")))
    candidates += [p for p in notebooks if _may_define_engine(p)]
    files += notebooks
    if len(candidates) == 1:
        return candidates[0], None
    if (folder / "__init__.py") in files and _may_define_engine(folder / "__init__.py"):
        return folder / "__init__.py", None
    shown = display_path(folder)
    listed = ", ".join(p.name for p in (candidates or files)[:12])
    if len(candidates) > 1:
        return None, (
            f"{shown} has several Python files or notebooks that may define the engine ({listed}) and no "
            "engine.py, so gradcheck cannot tell which one to grade. Name the engine's file "
            "engine.py (a notebook engine.ipynb), or give that file itself as the submission."
        )
    if files:
        return None, (
            f"{shown} has Python files or notebooks ({listed}) but none of them defines an engine (nothing "
            f"there is named grad or engine). Put the engine in {display_path(folder / 'engine.py')}."
        )
    return None, (
        f"{shown} is a folder with no Python file in it (nor a notebook), so there is no engine to grade. "
        "A submission is a .py file (or .ipynb notebook) that defines the engine, or a folder holding engine.py."
    )


def _may_define_engine(path: Path) -> bool:
    """Return whether the source of ``path`` may define an engine, without running it."""
    try:
        tree = ast.parse(read_notebook(path).text if is_notebook(path) else path.read_bytes())
    except (SyntaxError, ValueError):  # NotebookError is a ValueError
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
    from gradcheck.higher import MODES, check_name
    from gradcheck.runner import derived_checks

    bases = [*OP_NAMES, PROGRAMS_CHECK]
    known = [*bases, *ALIASES, *(derived for base in bases for derived in derived_checks(base, MODES)),
             DEFAULT_WEIGHT_KEY]
    weights: dict[str, float] = {}
    for key, value in table.items():
        check = _weighed_check(key)
        if check is None:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UsageError(
                f"{shown}: {key!r} is not a check gradcheck grades.{hint} Weights are given to ops "
                f"({', '.join(OP_NAMES)}), to {PROGRAMS_CHECK!r}, to their order-2 and forward-mode checks, "
                f"quoted ({check_name('tanh', MODES[0])!r} = 2), and to {DEFAULT_WEIGHT_KEY!r} for every check "
                "not listed."
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


def _weighed_check(key: str) -> str | None:
    """Return the check a weights key names (an alias as its op, ``"tan (order 2)"`` too), or None if none."""
    from gradcheck.higher import base_check, check_name, mode_of_check
    from gradcheck.runner import derived_checks

    base, mode = base_check(key), mode_of_check(key)
    if base in (PROGRAMS_CHECK, DEFAULT_WEIGHT_KEY):
        check: str | None = base
    else:
        check = canonical_op(base)
    if check is None or mode is None:
        return check
    # An op whose second derivative is zero everywhere has no order-2 check to weigh.
    return check_name(check, mode) if check != DEFAULT_WEIGHT_KEY and derived_checks(check, [mode]) else None


# --- Roster --------------------------------------------------------------------


@dataclass(frozen=True)
class Student:
    """Who handed a submission in, from the roster: an id for the LMS and an optional name."""

    student_id: str
    name: str | None = None


_ROSTER_HEADER = ("folder", "student_id", "name")


def load_roster(path: str | os.PathLike[str], submissions: Sequence[Submission]) -> dict[str, Student]:
    """Return the student of each submission (by its name) from the CSV roster at ``path``.

    Each line is ``folder,student_id[,name]`` (a first line ``folder,student_id,name``
    is a header). ``folder`` is a submission as given on the command line, or
    its last part (``alice`` for ``submissions/alice/``, ``bob.py`` or
    ``bob`` for ``submissions/bob.py``). Raises ``UsageError`` naming the
    problem: an unreadable file, a line without a student id, a folder or id
    listed twice, a folder that is none of the submissions, or a submission
    the roster misses; nothing is graded then.

    .. code-block:: pycon

        >>> load_roster("roster.csv", find_submissions(["subs/alice"]))  # doctest: +SKIP
        {'alice': Student(student_id='s1001', name='Alice Liddell')}
    """
    shown = f"--roster={os.fspath(path)}"
    try:
        with open(path, newline="", encoding="utf-8-sig") as stream:
            lines = [(number, [cell.strip() for cell in line]) for number, line in enumerate(csv.reader(stream), 1)]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        why = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise UsageError(
            f"{shown} cannot be read: {why}. Give a CSV file with one line per submission, "
            "folder,student_id[,name], e.g. alice,s1001,Alice Liddell."
        ) from None
    lines = [(number, cells) for number, cells in lines if any(cells)]
    if lines and tuple(cell.lower() for cell in lines[0][1][:3]) in (_ROSTER_HEADER, _ROSTER_HEADER[:2]):
        lines = lines[1:]
    by_key: dict[str, Submission] = {}
    for submission in submissions:
        keys = {submission.name, submission.path.name, submission.path.stem if submission.path.is_file() else ""}
        keys |= {os.path.normpath(os.path.relpath(submission.path)), str(submission.path.resolve())}
        for key in keys - {""}:
            by_key.setdefault(key, submission)
    students: dict[str, Student] = {}
    folders: dict[str, int] = {}
    ids: dict[str, int] = {}
    for number, cells in lines:
        folder = cells[0].rstrip("/" + os.sep) if cells else ""
        student_id = cells[1] if len(cells) > 1 else ""
        if not folder or not student_id or len(cells) > 3:
            raise UsageError(
                f"{shown}, line {number}: {','.join(cells)!r} is not folder,student_id[,name]; "
                "every line names a submission folder and the student's id, e.g. alice,s1001,Alice Liddell."
            )
        for seen, value, what in ((folders, folder, "folder"), (ids, student_id, "student id")):
            if value in seen:
                raise UsageError(
                    f"{shown} lists the {what} {value!r} twice (lines {seen[value]} and {number}); "
                    "each submission has one line, and each student one submission."
                )
            seen[value] = number
        key = folder if folder in by_key else os.path.normpath(folder)
        found = by_key.get(key) or by_key.get(str(Path(folder).resolve()))
        if found is None:
            raise UsageError(
                f"{shown}, line {number}: the folder {folder!r} is none of the submissions being graded "
                f"({_listed([s.name for s in submissions])}); fix the roster, or give that submission too."
            )
        if found.name in students:
            raise UsageError(
                f"{shown}, line {number}: {folder!r} is the submission {found.name!r} again; "
                "give each submission one line."
            )
        students[found.name] = Student(student_id, (cells[2] if len(cells) > 2 else "") or None)
    missing = [submission.name for submission in submissions if submission.name not in students]
    if missing:
        raise UsageError(
            f"{shown} has no line for {_listed(missing)}, so their grades would belong to nobody; "
            "add a line folder,student_id[,name] for each, or leave those submissions out."
        )
    return students


def _listed(names: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


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
    # Each engine worker in a bubblewrap sandbox (gradcheck.sandbox); off only for trusted code.
    sandbox: bool = True
    # Declared partial support for every submission (``--supported-params``), as JSON text.
    supported_params: str | None = None
    # 2: order-2 columns, each submission checked at order 2 where its grad takes create_graph;
    # 1 or None: first derivatives (a gradebook's columns are the same for every submission).
    order: int | None = None

    @property
    def checks(self) -> tuple[str, ...]:
        """Return the gradebook's columns: every op and its order-2 check (``order=2``), then programs' likewise."""
        from gradcheck.higher import ORDER2
        from gradcheck.runner import derived_checks

        bases = self.ops + ((PROGRAMS_CHECK,) if self.programs else ())
        modes = (ORDER2,) if self.order == 2 else ()
        return tuple(check for base in bases for check in (base, *derived_checks(base, modes)))

    @property
    def reported_checks(self) -> frozenset[str]:
        """Return the checks a submission's report may hold: the columns, and forward mode's for an engine with jvp."""
        from gradcheck.higher import MODES
        from gradcheck.runner import derived_checks

        return frozenset(self.checks).union(*(derived_checks(check, MODES) for check in self.checks))

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
        if not self.sandbox:
            arguments.append("--no-sandbox")
        if self.supported_params is not None:
            arguments += ["--supported-params", self.supported_params]
        if self.order != 2:
            # Order 2 is asked of no engine by name: one without create_graph gets its order-2 columns unsupported.
            arguments += ["--order", "1"]
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
            "sandbox": self.sandbox,
            **({} if self.supported_params is None else {"supported_params": self.supported_params}),
            **({} if self.order is None else {"order": self.order}),
        }


class GradingStopped(Exception):
    """Grading was interrupted (SIGINT, SIGTERM); ``gradebook`` holds the rows finished before."""

    def __init__(self, gradebook: Gradebook) -> None:
        super().__init__(f"grading stopped with {len(gradebook.not_graded)} submissions not graded")
        self.gradebook = gradebook


def grade(
    submissions: Sequence[Submission],
    options: GradeOptions,
    report_dir: str | os.PathLike[str],
    *,
    weights: Weights | None = None,
    workers: int = 1,
    on_finish: Callable[[Row], None] | None = None,
    on_update: Callable[[Gradebook], None] | None = None,
    formats: Sequence[str] = (),
    hidden: Iterable[str] = (),
    students: Mapping[str, Student] | None = None,
    check: Callable[[Submission, GradeOptions, threading.Event], Report | str | None] | None = None,
) -> Gradebook:
    """Check every submission with ``options``, ``workers`` at a time; return the gradebook.

    Each submission's reports go to ``report_dir/<name>/``, written here from
    the report its check sent back (never read from a folder the submission
    could write to). ``on_finish`` is called with each row as it is done (in
    the order they finish), then ``on_update`` with the gradebook so far (its
    ``not_graded`` naming the rest), so that it can be written as grading
    goes; the gradebook keeps the order of ``submissions``. No submission
    can stop the others: one that cannot be loaded, crashes, hangs, or whose
    files cannot be written is an ``error`` row. On KeyboardInterrupt the
    running checks are stopped and ``GradingStopped`` carries the partial
    gradebook. Writing the gradebook files is ``gradcheck.reports.gradebook``'s job.

    ``formats`` adds LMS files to each submission's folder (``gradescope``:
    ``results.json``, ``classroom``: ``classroom.json``; ``gradcheck.reports.lms``),
    scored with ``weights``, the checks in ``hidden`` hidden from students.
    ``students`` (``load_roster``) gives each row its student, by submission name.
    ``check`` checks one submission elsewhere (``gradcheck.executors``) instead
    of in a child here: it returns the validated report, why there is none, or
    None once the event it is given is set (grading stopped); the rows and
    files are then written here exactly as for a local check.
    """
    weights = weights or Weights()
    lms = _LmsFiles(tuple(formats), frozenset(hidden), weights)
    students = students or {}
    report_dir = Path(report_dir).absolute()
    started = time.perf_counter()
    workers = max(1, min(workers, len(submissions)))
    rows: dict[str, Row] = {}

    def gradebook() -> Gradebook:
        return Gradebook(
            options=options, weights=weights, workers=workers,
            rows=[rows[submission.name] for submission in submissions if submission.name in rows],
            seconds=time.perf_counter() - started,
            not_graded=[submission.name for submission in submissions if submission.name not in rows],
        )

    # The checks run in an empty folder of their own: nothing in a submission
    # folder can be imported in place of gradcheck.
    workdir = Path(tempfile.mkdtemp(prefix="gradcheck-grade-"))
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gradcheck-grade")
    with _Children(workdir) as children:
        try:
            futures = {
                executor.submit(_grade_one, submission, options, lms, report_dir, children, check): submission
                for submission in submissions
            }
            for future in concurrent.futures.as_completed(futures):
                submission = futures[future]
                try:
                    row = future.result()
                except Exception as error:  # noqa: BLE001 - a bug here costs this row only
                    row = _error_row(submission, options, weights, f"gradcheck failed while grading it: {error!r}")
                if row is None:  # stopped by an interruption
                    continue
                row = _with_student(row, students)
                rows[row.name] = row
                if on_finish:
                    on_finish(row)
                if on_update:
                    on_update(gradebook())
        except KeyboardInterrupt:
            # Start nothing new, stop what runs, wait for the threads to see it.
            executor.shutdown(wait=False, cancel_futures=True)
            children.stop_all()
            executor.shutdown(wait=True)
            for future, submission in futures.items():
                if future.done() and not future.cancelled() and future.exception() is None:
                    row = future.result()
                    if row is not None:
                        rows[row.name] = _with_student(row, students)
            raise GradingStopped(gradebook()) from None
        finally:
            children.stop_all()
            executor.shutdown(wait=True)
            shutil.rmtree(workdir, ignore_errors=True)
    return gradebook()


# --- One child check per submission ---------------------------------------------

# How long a child stopped with SIGINT gets to stop its engine worker cleanly
# before its process group is killed.
_STOP_GRACE = 5.0
# How long the pipes of a child that exited are still read: a daemon it left
# behind may hold them open, and is not waited for.
_DRAIN = 0.5
# What is kept of a child's stdout and stderr: the first and the last half.
_OUTPUT_LIMIT = 64 * 1024
# The largest report a check may send back; a bigger one is an error row.
_REPORT_LIMIT = 32 * 1024 * 1024
# The grading worker's answer to one check: "done STATUS".
_ANSWER_LIMIT = 64
# How much of what a dead child printed goes into its row's reason.
_OUTPUT_TAIL = 1500
_FRAME = "gradcheck-report"
_INTERRUPTED = "grading was interrupted before this submission was checked"

# The grading worker runs isolated (-I: no PYTHONPATH, no current folder, no
# user site) and imports this very gradcheck from the folder put first here.
_WORKER_BOOT = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from gradcheck._grading_worker import main; raise SystemExit(main(sys.argv[1:]))"
)
# How long a new grading worker may take to import TensorFlow and say it is ready.
_WORKER_START_TIMEOUT = 120.0
# How long an idle grading worker has to exit once its control socket is closed.
_WORKER_EXIT_GRACE = 2.0
_PACKAGE_ROOT = str(Path(gradcheck.__file__).resolve().parent.parent)


def send_report(report: Report, fd: int, nonce: str) -> None:
    """Write ``report`` to the pipe ``fd`` in the frame ``grade`` expects, then close it.

    The frame is ``gradcheck-report NONCE LENGTH\\n`` and the JSON report:
    anything else on that pipe (a second frame, bytes written by someone
    without the nonce, a truncated report) makes the submission an error row.
    """
    from gradcheck.reports.json import write_json

    stream = io.StringIO()
    write_json(report, stream)
    body = stream.getvalue().encode("utf-8")
    data = f"{_FRAME} {nonce} {len(body)}\n".encode("ascii") + body
    try:
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)


def _unframe(data: bytes, nonce: str) -> str | None:
    """Return the JSON text of the one frame ``data`` holds, or None when it is anything else."""
    header, newline, body = data.partition(b"\n")
    expected = f"{_FRAME} {nonce} ".encode("ascii")
    if not newline or not header.startswith(expected):
        return None
    length = header[len(expected):]
    if not length.isdigit() or int(length) != len(body):
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


class _Capture:
    """What one pipe delivered: all of it up to ``head``, then only the last ``tail`` bytes."""

    def __init__(self, head: int, tail: int) -> None:
        self.head, self.tail = bytearray(), bytearray()
        self._head_limit, self._tail_limit = head, tail
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        room = self._head_limit - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.tail += chunk
        excess = len(self.tail) - self._tail_limit
        if excess > 0:
            del self.tail[:excess]
            self.dropped += excess

    def text(self) -> str:
        gap = f"\n[... {self.dropped} bytes left out ...]\n" if self.dropped else ""
        return (bytes(self.head).decode("utf-8", "replace") + gap
                + bytes(self.tail).decode("utf-8", "replace"))


@dataclass(eq=False)
class _GradingWorker:
    """One grading worker process (``gradcheck._grading_worker``) and the grader's end of its control socket."""

    process: subprocess.Popen[bytes]
    control: socket.socket

    def send(self, request: dict[str, Any], fds: Sequence[int]) -> bool:
        """Hand the worker one submission's check, with the write ends ``fds`` of its pipes; return whether it took it."""
        try:
            socket.send_fds(self.control, [json.dumps(request).encode("utf-8")], list(fds))
        except OSError:  # the worker is gone
            return False
        return True


class _Children:
    """The grading workers running now, one per grading thread, and every process they leave behind.

    Each worker gets a session of its own, so that its process group can be
    killed whole. Where Linux allows it, the grader is moreover a "child
    subreaper": a daemon a submission starts (double fork, setsid) is
    re-parented to the grader instead of init, and ``sweep`` kills it, so
    that nothing a submission starts outlives its check.
    """

    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir
        self._lock = threading.Lock()
        self._running: set[_GradingWorker] = set()
        self._mine = threading.local()
        self.stopping = threading.Event()
        self._reaping = False
        self._before: set[int] = set()

    def __enter__(self) -> "_Children":
        self._reaping = _set_subreaper(True)
        self._before = set(_children_of(os.getpid()))
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            workers = list(self._running)
        for worker in workers:
            worker.control.close()  # an idle worker exits on its own
        for worker in workers:
            self.retire(worker, grace=_WORKER_EXIT_GRACE)
        self.sweep()
        if self._reaping:
            _set_subreaper(False)

    def worker(self) -> _GradingWorker | str | None:
        """Return this thread's grading worker, started if it has none alive; why it cannot start; None once ``stop_all`` was called."""
        worker: _GradingWorker | None = getattr(self._mine, "worker", None)
        if worker is not None and not _has_exited(worker.process):
            return worker
        if worker is not None:
            self.retire(worker)
        worker = self._start()
        if worker is None:
            return None
        # TensorFlow loads before the first check, outside any submission's time limit.
        deadline = time.monotonic() + _WORKER_START_TIMEOUT
        answer = b""
        while not answer and time.monotonic() < deadline and not self.stopping.is_set():
            if select.select([worker.control], [], [], 0.1)[0]:
                answer = worker.control.recv(_ANSWER_LIMIT) or b"-"
        if answer == b"ready\n":
            self._mine.worker = worker
            return worker
        self.retire(worker)
        if self.stopping.is_set():
            return None
        how = (f"did not get ready within {_WORKER_START_TIMEOUT:g} seconds" if not answer
               else f"was killed by {_signal_name(-worker.process.returncode)}" if worker.process.returncode < 0
               else f"exited with status {worker.process.returncode}")
        return (f"gradcheck's grading worker (python -I, importing TensorFlow) {how} before checking this "
                "submission; check that `gradcheck check` runs on this machine, then grade again.")

    def _start(self) -> _GradingWorker | None:
        with self._lock:
            if self.stopping.is_set():
                return None
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                process = subprocess.Popen(
                    [sys.executable, "-I", "-c", _WORKER_BOOT, _PACKAGE_ROOT, str(theirs.fileno())],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    cwd=self._workdir, env=_worker_environment(), pass_fds=(theirs.fileno(),),
                    start_new_session=True,
                )
            except BaseException:
                ours.close()
                raise
            finally:
                theirs.close()  # the worker holds the only other end
            worker = _GradingWorker(process, ours)
            self._running.add(worker)
        return worker

    def retire(self, worker: _GradingWorker, grace: float = 0.0) -> None:
        """Stop ``worker`` for good: wait up to ``grace`` seconds for it to exit, then kill its process group."""
        deadline = time.monotonic() + grace
        while not _has_exited(worker.process) and time.monotonic() < deadline:
            time.sleep(0.05)
        _signal_group(worker.process, signal.SIGKILL)  # the worker, and whatever of its group is left
        worker.process.wait()
        worker.control.close()
        with self._lock:
            self._running.discard(worker)
        if getattr(self._mine, "worker", None) is worker:
            self._mine.worker = None

    def stop_all(self) -> None:
        """Start no worker any more; each running check is stopped by the thread waiting on it."""
        self.stopping.set()

    def sweep(self) -> None:
        """Kill every process re-parented to the grader (left behind by a check), until none is left."""
        if not self._reaping:
            return
        for _ in range(100):
            with self._lock:
                live = {worker.process.pid for worker in self._running}
                found = [pid for pid in _children_of(os.getpid()) if pid not in live and pid not in self._before]
                for pid in found:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            if not found:
                return
            for pid in found:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)


def _set_subreaper(on: bool) -> bool:
    """Make this process the reaper of its orphaned descendants (Linux); return whether it is."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(36, int(on), 0, 0, 0) == 0)  # 36: PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _children_of(parent: int) -> list[int]:
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stream:
                stat = stream.read()
        except OSError:
            continue
        fields = stat.rpartition(b")")[2].split()
        if len(fields) > 1 and int(fields[1]) == parent:
            pids.append(int(entry.name))
    return pids


def _worker_environment() -> dict[str, str]:
    environment = dict(os.environ)
    environment["PYTHONPATH"] = _engine_python_path(None)
    for name in _ONE_THREAD_ENV:
        environment.setdefault(name, "1")
    return environment


def _engine_python_path(submission: Submission | None) -> str:
    """Return the ``PYTHONPATH`` a submission's engine worker gets."""
    # The engine worker imports gradcheck first from this very gradcheck, and
    # a package submission from the folder above it, given explicitly.
    import_path = "" if submission is None else str(submission.import_path or "")
    return os.pathsep.join(filter(None, [_PACKAGE_ROOT, import_path, os.environ.get("PYTHONPATH", "")]))


@dataclass(frozen=True)
class _LmsFiles:
    """The LMS files every submission's folder gets, and how they score and hide checks."""

    formats: tuple[str, ...]
    hidden: frozenset[str]
    weights: Weights

    def grading(self, submission: Submission, options: GradeOptions, report_dir: Path) -> Any:
        from gradcheck.reports.lms import Grading

        # What a student must not see: the grader's folders, the submission's own among them.
        private = (os.getcwd(), str(report_dir), str(submission.path.resolve().parent), str(submission.path.absolute().parent))
        return Grading(weights=self.weights, hidden=self.hidden, private_paths=private, checks=options.checks)


def _with_student(row: Row, students: Mapping[str, Student]) -> Row:
    student = students.get(row.name)
    if student is None:
        return row
    return dataclasses.replace(row, student_id=student.student_id, student_name=student.name)


def _grade_one(
    submission: Submission, options: GradeOptions, lms: _LmsFiles, report_dir: Path, children: _Children,
    check: Callable[[Submission, GradeOptions, threading.Event], Report | str | None] | None = None,
) -> Row | None:
    """Check one submission and write its files; return its row, None if grading was interrupted.

    Never raises for the submission's sake: whatever goes wrong is this row's reason.
    """
    started = time.perf_counter()
    if check is not None:
        outcome = check(submission, options, children.stopping)
    else:
        outcome = _run_check(submission, options, children)
    if outcome is None:
        return None
    folder = report_dir / submission.name
    reason: str | None = None
    reports: dict[str, str] = {}
    if isinstance(outcome, str):
        reason = outcome
    else:
        try:
            reports = _write_reports(outcome, folder, report_dir, lms.formats, lms.grading(submission, options, report_dir))
        except Exception as error:  # noqa: BLE001 - one student's files, never the others'
            reason = f"the check ran, but its report files could not be written to {folder}: {error}"
    weights = lms.weights
    if reason is not None:
        reason = printable(reason)
        try:
            shown = scrub(reason, lms.grading(submission, options, report_dir).private_paths)  # the student reads it
            reports = {"text": _write_text(_text_reason, shown, folder, report_dir)}
            reports.update(_write_lms_reason(reason, folder, report_dir, lms.formats,
                                             lms.grading(submission, options, report_dir)))
        except Exception:  # noqa: BLE001 - the row still says why
            reports = reports or {}
        return _error_row(submission, options, weights, reason, reports, time.perf_counter() - started)
    assert not isinstance(outcome, str)
    statuses = {result.check: result.status for result in outcome.results}
    # The runner draws no program when the engine supports none of the
    # ops: that column is as unsupported as the ops themselves.
    checks = {check: statuses.get(check, "unsupported") for check in options.checks}
    points, max_points = weights.points(checks)
    return Row(
        name=submission.name, path=printable(display_path(submission.path), multiline=False),
        target=_shown_target(submission), status="graded", checks=checks, points=points,
        max_points=max_points, reports=reports, seconds=time.perf_counter() - started,
        failures={result.check: list(dict.fromkeys(failure.category for failure in result.failures))
                  for result in outcome.results if result.status == "failed"},
    )


def _error_row(
    submission: Submission, options: GradeOptions, weights: Weights, reason: str,
    reports: dict[str, str] | None = None, seconds: float = 0.0,
) -> Row:
    checks = dict.fromkeys(options.checks, ERROR)
    points, max_points = weights.points(checks)
    return Row(
        name=submission.name, path=printable(display_path(submission.path), multiline=False),
        target=_shown_target(submission), status=ERROR, checks=checks, points=points,
        max_points=max_points, reports=reports or {}, reason=printable(reason), seconds=seconds,
    )


def _shown_target(submission: Submission) -> str | None:
    return None if submission.target is None else printable(submission.target, multiline=False)


def _run_check(submission: Submission, options: GradeOptions, children: _Children) -> Report | str | None:
    """Run ``gradcheck check`` on the submission in this thread's grading worker; return its validated report, why there is none, or None if interrupted."""
    if submission.target is None:
        return submission.problem or "no engine found"
    # A file is given by its absolute path: the check runs in another folder.
    target = submission.target if submission.import_path else os.path.abspath(submission.target)
    worker = children.worker()
    if worker is None or isinstance(worker, str):
        return worker
    nonce = secrets.token_hex(16)
    request = {
        "argv": ["check", target, *options.check_arguments()],
        "nonce": nonce,
        "pythonpath": _engine_python_path(submission),
    }
    # This submission's stdout, stderr and report pipe: the worker holds the only write ends.
    pipes = [os.pipe() for _ in range(3)]
    try:
        taken = worker.send(request, [write for _, write in pipes])
    finally:
        for _, write in pipes:
            os.close(write)
    output, errors, report = (_Capture(_OUTPUT_LIMIT // 2, _OUTPUT_LIMIT // 2),
                              _Capture(_OUTPUT_LIMIT // 2, _OUTPUT_LIMIT // 2), _Capture(_REPORT_LIMIT, 0))
    answer = _Capture(_ANSWER_LIMIT, 0)
    captures = {read: capture for (read, _), capture in zip(pipes, (output, errors, report))}
    captures[worker.control.fileno()] = answer
    try:
        ended = _pump(worker.process, captures, time.monotonic() + options.submission_timeout, children.stopping,
                      answer=worker.control.fileno())
        if not ended:
            _signal_group(worker.process, signal.SIGINT)  # the check then stops its engine worker
            _pump(worker.process, captures, time.monotonic() + _STOP_GRACE, None, answer=worker.control.fileno())
    finally:
        for read, _ in pipes:
            os.close(read)
    code = _answered(answer)
    if not ended or not taken or code is None:
        # Stopped, or dead: the next submission of this thread gets a fresh worker.
        children.retire(worker)
        code = worker.process.returncode
    children.sweep()
    if not ended:
        if children.stopping.is_set():
            return None
        return (
            f"checking this submission took longer than --submission-timeout={options.submission_timeout:g} "
            "seconds and was stopped; its engine is probably very slow or stuck outside an op call. "
            "Grade it alone with a longer limit."
        )
    # 0: every check passed, 1: some check failed; but a crash of gradcheck
    # itself also exits with 1, so only a complete report tells that the check ran.
    text = None if report.dropped else _unframe(bytes(report.head), nonce)
    if code in (0, 1) and text is not None:
        return _validated_report(text, options)
    marker = "gradcheck: error: "
    printed = errors.text()
    if code == 2 and marker in printed:
        return printed[printed.rindex(marker) + len(marker):].strip()
    how = f"was killed by {_signal_name(-code)}" if code < 0 else f"exited with status {code}"
    tail = printed.strip()[-_OUTPUT_TAIL:]
    return f"the check of this submission {how} without sending a complete report. What it printed: {tail or 'nothing'}"


def check_submission(submission: Submission, options: GradeOptions) -> Report | str:
    """Return the validated report of ``submission`` checked exactly as ``grade`` checks it, or why there is none.

    The one check both paths share: ``gradcheck.executors`` calls it on a
    remote worker. Calls in one process share one set of children (and the
    child subreaper), so that concurrent calls never sweep each other's.
    """
    outcome = _run_check(submission, options, _shared_children())
    return _INTERRUPTED if outcome is None else outcome


_SHARED: list[_Children] = []
_SHARED_LOCK = threading.Lock()


def _shared_children() -> _Children:
    # Entered once and kept for the life of the process (a remote worker's).
    with _SHARED_LOCK:
        if not _SHARED:
            workdir = tempfile.mkdtemp(prefix="gradcheck-check-")
            atexit.register(shutil.rmtree, workdir, True)
            _SHARED.append(_Children(Path(workdir)).__enter__())
        return _SHARED[0]


def validated_report(text: str, options: GradeOptions) -> Report | str:
    """Return the report in the JSON ``text`` if it is one of the checks ``options`` asked for, else why it is not."""
    return _validated_report(text, options)
def _answered(answer: _Capture) -> int | None:
    """Return the status in the grading worker's ``done STATUS`` answer, None without a complete one."""
    match = re.fullmatch(rb"done (-?\d+)\n", bytes(answer.head))
    return int(match.group(1)) if match else None


def _pump(
    process: subprocess.Popen[bytes], captures: dict[int, _Capture], deadline: float,
    stopping: threading.Event | None, answer: int | None = None,
) -> bool:
    """Read the pipes in ``captures`` until the check is over and they are drained; return False at the deadline or a stop.

    The check is over when the grading worker answered on the socket
    ``answer`` (one line), or when the worker exited. Pipes still open
    ``_DRAIN`` seconds after that are held by something the check left
    behind, and are not waited for.
    """
    selector = selectors.DefaultSelector()
    for fd in captures:
        with contextlib.suppress(ValueError, KeyError):
            selector.register(fd, selectors.EVENT_READ)
    exited_at: float | None = None
    try:
        while True:
            now = time.monotonic()
            answered = answer is not None and b"\n" in captures[answer].head
            if exited_at is None and (answered or _has_exited(process)):
                exited_at = now
            if answered and answer is not None and answer in selector.get_map():
                selector.unregister(answer)  # the worker's socket stays open for its next check
            if exited_at is not None and (not selector.get_map() or now - exited_at > _DRAIN):
                return True
            if now >= deadline or (stopping is not None and stopping.is_set()):
                return False
            wait = min(0.1, deadline - now)
            if exited_at is not None:
                wait = min(wait, max(0.0, exited_at + _DRAIN - now))
            if not selector.get_map():
                time.sleep(wait)
                continue
            for key, _ in selector.select(wait):
                try:
                    chunk = os.read(key.fd, 65536)
                except OSError:
                    chunk = b""
                if chunk:
                    captures[key.fd].add(chunk)
                else:
                    selector.unregister(key.fd)
    finally:
        selector.close()


def _has_exited(process: subprocess.Popen[bytes]) -> bool:
    # WNOWAIT: the exited child stays a zombie, so its process group id cannot
    # be reused before _signal_group has killed what is left of the group.
    if process.returncode is not None:
        return True
    try:
        return os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _signal_group(process: subprocess.Popen[bytes], number: int) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, number)


def _validated_report(text: str, options: GradeOptions) -> Report | str:
    """Return the report in ``text`` if it is one of the checks asked for, else why it is not.

    Every string in it is made printable: it is the student's code talking.
    """
    from gradcheck.reports.json import report_from_data

    what = "the report this submission's check sent back"
    try:
        report = report_from_data(_printable_strings(json.loads(text)), what)
    except UsageError as error:
        return str(error)
    except (ValueError, RecursionError) as error:
        return f"{what} is not a gradcheck report ({type(error).__name__})."
    for result in report.results:
        if result.check not in options.reported_checks or result.status not in STATUSES:
            return f"{what} has a check {result.check!r} with status {result.status!r}, which were not asked for."
        if any(failure.category not in CATEGORIES for failure in result.failures):
            return f"{what} has a failure of a category gradcheck does not have in check {result.check!r}."
    facts = report.engine_facts
    if facts is not None and any(ALIASES.get(alias) != op for op, alias in facts.aliases.items()):
        # Reproducers call the engine by these names: only the contract's aliases may stand there.
        return f"{what} names ops under aliases gradcheck does not have."
    return report


def _printable_strings(data: Any) -> Any:
    if isinstance(data, str):
        return printable(data)
    if isinstance(data, dict):
        return {printable(str(key)): _printable_strings(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_printable_strings(item) for item in data]
    return data


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _file_formats() -> dict[str, Any]:
    from gradcheck.reports import FORMATS

    return {name: fmt for name, fmt in FORMATS.items() if not fmt.on_terminal}


def _write_reports(report: Report, folder: Path, report_dir: Path, lms_formats: Sequence[str] = (),
                   grading: Any = None) -> dict[str, str]:
    """Write the submission's report files from its validated report; return them by format."""
    from gradcheck.reports.gradebook import TA_FOLDER, write_student_reports
    from gradcheck.reports.lms import Grading

    record = report_dir / TA_FOLDER / folder.name
    # A report left by an earlier run must not stay beside this run's.
    for fmt in _file_formats().values():
        (folder / fmt.filename).unlink(missing_ok=True)
        (record / fmt.filename).unlink(missing_ok=True)
    written = write_student_reports(report, folder, grading or Grading(), lms_formats, text_name=TEXT_REPORT,
                                    record_folder=record)
    return {name: path.relative_to(report_dir).as_posix() for name, path in written.items()}


def _write_lms_reason(reason: str, folder: Path, report_dir: Path, formats: Sequence[str], grading: Any) -> dict[str, str]:
    """Write the LMS files of a submission that could not be checked: every check 0 points, and why."""
    from rich.console import Console

    from gradcheck.reports import render_unchecked

    if not formats:
        return {}
    written = render_unchecked(reason, formats, folder, grading, console=Console(file=io.StringIO()))
    return {name: path.relative_to(report_dir).as_posix() for name, path in zip(formats, written)}


def _text_reason(reason: str, stream: TextIO) -> None:
    from gradcheck.reports.gradebook import write_text_reason

    write_text_reason(reason, stream)


def _write_text(write: Callable[[Any, TextIO], None], content: Any, folder: Path, report_dir: Path) -> str:
    """Write ``folder/gradcheck.txt`` with ``write(content, stream)``; return its path under ``report_dir``."""
    from gradcheck.reports import write_atomically

    # The same atomic write as every other report file.
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / TEXT_REPORT
    write_atomically(path, lambda stream: write(content, stream))
    return path.relative_to(report_dir).as_posix()
