"""Regrade some submissions of a gradebook: ``gradcheck grade --regrade NAME [--regrade NAME ...]``.

A TA fixing one student's case at a deadline re-checks that submission
only: ``stored_gradebook`` reads the report folder's ``gradebook.json``,
``regrade_submissions`` finds the named submissions (among the SUBMISSION
paths given, else at the path their row records), ``option_differences``
says how this run's options and weights differ from the gradebook's, and
``merge`` puts the new rows in place of the old ones. The other rows are
kept as they are; ``gradcheck.grade.grade`` checks the named submissions
exactly as the first run did, and ``gradcheck.reports.gradebook`` rewrites
the gradebook files from the merged gradebook.

Every row of a gradebook must have been graded the same way, so options or
weights that differ from the gradebook's stop the regrade (``UsageError``,
exit status 2) unless forced; a forced regrade keeps the gradebook's
columns (the same ops, programs or not), records in each regraded row the
options that differ (``Row.options``), and with other weights re-scores
every row by them (the statuses do not change, only the points).

.. code-block:: pycon

    >>> stored = stored_gradebook("reports")  # doctest: +SKIP
    >>> [s.name for s in regrade_submissions(["bob"], [], stored)]  # doctest: +SKIP
    ['bob']
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from gradcheck.errors import UsageError
from gradcheck.grade import (
    Gradebook,
    GradeOptions,
    Row,
    Student,
    Submission,
    Weights,
    find_submissions,
)

__all__ = [
    "COMPARED_OPTIONS",
    "GRADEBOOK_JSON",
    "StoredGradebook",
    "checked_differences",
    "merge",
    "option_differences",
    "regrade_submissions",
    "stored_gradebook",
    "students_of",
]

GRADEBOOK_JSON = "gradebook.json"
# The gradebook versions whose rows a regrade can keep (gradcheck.results.Gradebook.to_dict).
_READABLE_VERSIONS = (2, 3)

#: The options that change what a check finds: a regrade must use the gradebook's.
COMPARED_OPTIONS = ("ops", "programs", "max_examples", "seed", "timeout", "supported_params")


@dataclass(frozen=True)
class StoredGradebook:
    """A gradebook as ``gradebook.json`` holds it: its options, weights and rows."""

    path: Path
    options: GradeOptions
    weights: dict[str, float]
    default_weight: float | None
    weights_file: str | None
    workers: int
    seconds: float
    rows: list[Row]
    not_graded: list[str]

    @property
    def names(self) -> list[str]:
        """Return every submission of the gradebook, graded or not, in its order."""
        return [row.name for row in self.rows] + [name for name in self.not_graded if name not in self._graded]

    @property
    def _graded(self) -> set[str]:
        return {row.name for row in self.rows}


def stored_gradebook(report_dir: str | os.PathLike[str]) -> StoredGradebook:
    """Return the gradebook of ``report_dir/gradebook.json``; raise ``UsageError`` when there is none to regrade."""
    path = Path(report_dir) / GRADEBOOK_JSON
    shown = f"--regrade needs the gradebook of an earlier grading, {path},"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"{shown} and there is none. Grade the submissions first (gradcheck grade SUBMISSION... "
            f"--report-dir {report_dir}), or give the --report-dir of that grading."
        ) from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise UsageError(f"{shown} but it cannot be read ({error}). Grade the submissions again without --regrade.") from None
    try:
        if data["format_version"] not in _READABLE_VERSIONS:
            raise UsageError(
                f"{shown} but it has format_version={data['format_version']!r}, and this gradcheck regrades "
                f"gradebooks of format_version {' or '.join(map(str, _READABLE_VERSIONS))}. "
                "Grade the submissions again without --regrade."
            )
        stored_options = dict(data["options"])
        stored_options["ops"] = tuple(stored_options["ops"])
        options = GradeOptions(**stored_options)
        return StoredGradebook(
            path=path, options=options, weights={k: float(v) for k, v in data["weights"].items()},
            default_weight=None if data.get("default_weight") is None else float(data["default_weight"]),
            weights_file=data.get("weights_file"), workers=int(data.get("workers") or 1),
            seconds=float(data.get("seconds") or 0.0),
            rows=[Row.from_dict(row) for row in data["submissions"]],
            not_graded=list(data.get("not_graded") or []),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise UsageError(
            f"{shown} but it is not a gradebook gradcheck wrote (no valid {error}). "
            "Grade the submissions again without --regrade."
        ) from None


def regrade_submissions(names: Sequence[str], given: Sequence[str], stored: StoredGradebook) -> list[Submission]:
    """Return the submissions named ``names``: among the paths ``given``, else at the path their row records.

    Raises ``UsageError`` for a name that is not a submission of the gradebook.
    """
    unknown = [name for name in names if name not in stored.names]
    if unknown:
        raise UsageError(
            f"--regrade {unknown[0]}: there is no submission {unknown[0]!r} in {stored.path} "
            f"(its submissions: {', '.join(stored.names[:20])}{' ...' if len(stored.names) > 20 else ''}); "
            "give the name its row has in the gradebook."
        )
    found = {submission.name: submission for submission in find_submissions(given)} if given else {}
    rows = {row.name: row for row in stored.rows}
    chosen = []
    for name in dict.fromkeys(names):
        submission = found.get(name)
        if submission is None:
            row = rows.get(name)
            if given or row is None:
                where = f"among the SUBMISSION paths given ({', '.join(found)})" if given else "in the gradebook"
                raise UsageError(
                    f"--regrade {name}: the submission {name!r} is not {where}; give the same "
                    "SUBMISSION paths as the first grading, or none to use the paths the gradebook records."
                )
            (located,) = find_submissions([row.path])
            submission = dataclasses.replace(located, name=name)
        chosen.append(submission)
    return chosen


def option_differences(stored: StoredGradebook, options: GradeOptions, weights: Weights) -> list[str]:
    """Return ``name: gradebook's -> this run's`` for each compared option and weight that differs."""
    differences = []
    for name in COMPARED_OPTIONS:
        before, now = getattr(stored.options, name), getattr(options, name)
        if before != now:
            differences.append(f"{name.replace('_', '-')}: {_shown(before)} -> {_shown(now)}")
    for check in options.checks:
        before_weight = stored.weights.get(check, stored.default_weight)
        if before_weight is not None and before_weight != weights.of(check):
            differences.append(f"weight of {check}: {before_weight:g} -> {weights.of(check):g}")
    return differences


def _shown(value: Any) -> str:
    return ",".join(value) if isinstance(value, tuple) else repr(value)


def students_of(stored: StoredGradebook) -> dict[str, Student]:
    """Return the student of each row that has one: a regraded row keeps its student."""
    return {row.name: Student(row.student_id, row.student_name) for row in stored.rows if row.student_id is not None}


def merge(stored: StoredGradebook, regraded: Gradebook, options: GradeOptions, weights: Weights,
          differences: Sequence[str]) -> Gradebook:
    """Return the stored gradebook with the rows of ``regraded`` in place of their old rows, scored by ``weights``.

    A row regraded with other options (``differences``, a forced regrade)
    records them; every row's points are those ``weights`` give its statuses.
    """
    changed = {name: getattr(options, name) for name in COMPARED_OPTIONS
               if getattr(options, name) != getattr(stored.options, name)}
    new = {row.name: row for row in regraded.rows}
    rows = []
    for name in stored.names:
        row = new.get(name) or next((old for old in stored.rows if old.name == name), None)
        if row is None:
            continue
        if name in new and differences:
            row = dataclasses.replace(row, options={key: list(value) if isinstance(value, tuple) else value
                                                    for key, value in changed.items()} or None)
        points, max_points = weights.points(row.checks)
        rows.append(dataclasses.replace(row, points=points, max_points=max_points))
    graded = {row.name for row in rows}
    return Gradebook(
        options=stored.options, weights=weights, workers=stored.workers, rows=rows,
        seconds=stored.seconds + regraded.seconds,
        not_graded=[name for name in stored.names if name not in graded],
    )


def checked_differences(stored: StoredGradebook, options: GradeOptions, weights: Weights, force: bool) -> list[str]:
    """Return how this run differs from the gradebook (allowed with ``force``); raise ``UsageError`` otherwise.

    The columns (the ops, and whether programs are drawn) must be the
    gradebook's even when forced: every row has the same checks.
    """
    if stored.options.checks != options.checks:
        raise UsageError(
            f"--regrade: this run checks {', '.join(options.checks)}, but the gradebook {stored.path} has the "
            f"columns {', '.join(stored.options.checks)}; every row has the same checks, even with --force. "
            f"Give --ops {','.join(stored.options.ops)} as the first grading did, or grade everyone again."
        )
    differences = option_differences(stored, options, weights)
    if differences and not force:
        raise UsageError(
            f"--regrade: this run's options differ from those the gradebook {stored.path} was graded with "
            f"({'; '.join(differences)}), so the regraded rows would not be comparable with the others. "
            "Give the same options as the first grading (and its --weights file"
            f"{', ' + stored.weights_file if stored.weights_file else ''}), or add --force to regrade anyway "
            "(the regraded rows then record their options)."
        )
    return differences
