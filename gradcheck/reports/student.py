"""What a student reads of a graded run: points, relative names, one short replay command.

``gradcheck grade`` writes each submission's ``gradcheck.html`` and
``gradcheck.txt`` for the student who handed it in, and the LMS outputs
(``gradcheck.reports.lms``) say the same in their own shape. All of them take
the report through ``student_report`` first:

* the target and the reproducers are named by their file names
  (``engine.py``, ``repro_matmul.py``), as the student has them;
* every text the report carries (messages, tracebacks, notes, diagnoses) has
  the grading machine's folders cut out: the grader's working and report
  folders, the submission's own folder, the Python installation and the home
  folder (``~``);

checks the TA hides (``--hidden``) keep their status and points but lose
their details (cases, messages, notes, reproducers: ``hide_checks``);
and they score it with ``Grading.weights`` (``gradcheck.results.Weights``,
the one score rule). ``failed_replay`` is the one command that replays every
failed op (only those: not the 28 ops of a full run), or the programs when
only they failed.

.. code-block:: pycon

    >>> student = student_report(report, ("/home/ta/course",))  # doctest: +SKIP
    >>> failed_replay(student)  # doctest: +SKIP
    'gradcheck check engine.py --ops negative,tanh --no-programs --seed 0 --max-examples 10'
"""

from __future__ import annotations

import dataclasses
import os
import sysconfig
from pathlib import Path, PurePath
from typing import Any, Iterable, Mapping

import gradcheck
from gradcheck._text import printable
from gradcheck.reports.display import replay_ops_command
from gradcheck.results import Report, Weights

__all__ = [
    "check_points",
    "failed_replay",
    "hide_checks",
    "machine_folders",
    "relative_names",
    "score_text",
    "scrub",
    "statuses",
    "student_report",
]


def relative_names(report: Report) -> Report:
    """Return ``report`` with its target and reproducers named by their file names (``engine.py``)."""
    target = report.target
    path, colon, name = target.partition(":") if not _is_windows_drive(target) else (target, "", "")
    if path.endswith((".py", ".ipynb")):
        target = PurePath(path).name + colon + name
    reproducers = {
        result.check: PurePath(result.failures[0].reproducer).name
        for result in report.results
        if result.failures and result.failures[0].reproducer
    }
    return dataclasses.replace(report.with_reproducers(reproducers), target=target)


def _is_windows_drive(target: str) -> bool:
    return len(target) > 2 and target[1] == ":" and target[0].isalpha() and target[2] in "\\/"


def machine_folders() -> tuple[str, ...]:
    """Return the folders of this machine that no student-facing text shows: Python's and gradcheck's."""
    paths = sysconfig.get_paths()
    folders = [paths.get(key, "") for key in ("purelib", "platlib", "stdlib", "platstdlib")]
    folders.append(str(Path(gradcheck.__file__).resolve().parent.parent))
    return tuple(folder for folder in folders if folder)


def scrub(text: str, private_paths: Iterable[str]) -> str:
    """Return ``text`` without the given absolute folders, nor the home folder (shown as ``~``).

    Longest first, so that no folder is cut half way: a path inside one of
    them becomes relative to it (``rules.py:3``), the folder itself ``.``.
    """
    for folder in sorted({p.rstrip(os.sep) for p in private_paths if p.strip(os.sep)}, key=len, reverse=True):
        text = text.replace(folder + os.sep, "").replace(folder, ".")
    home = os.path.expanduser("~").rstrip(os.sep)
    if home.strip(os.sep):
        text = text.replace(home + os.sep, "~" + os.sep).replace(home, "~")
    return printable(text)


#: What a hidden check says in place of its details, in every student-facing file.
HIDDEN_MESSAGE = "Details of this check are hidden until the grades are published."


def hide_checks(report: Report, hidden: Iterable[str]) -> Report:
    """Return ``report`` with the checks in ``hidden`` reduced to their status (and ``HIDDEN_MESSAGE``).

    Their failures (cases, messages, tracebacks, reproducers), notes and
    oracle notes go: a student learns that a hidden check failed and what it
    cost, not on which case. A passed or unsupported check is left as it is
    (what the student's own engine lacks tells nothing of the cases).
    """
    hidden = set(hidden)
    if not hidden:
        return report
    results = tuple(
        result if result.check not in hidden or result.status in ("passed", "unsupported")
        else dataclasses.replace(
            result, failures=(), oracle_disagreements=0, oracle_note=None, replay=None,
            checked_on=None, not_checked=None, reason=HIDDEN_MESSAGE,
        )
        for result in report.results
    )
    return dataclasses.replace(report, results=results)


def student_report(report: Report, private_paths: Iterable[str] = (), hidden: Iterable[str] = ()) -> Report:
    """Return ``report`` as its student may see it: relative names, no folder of the grading machine in any text.

    The checks in ``hidden`` keep only their status (``hide_checks``).
    """
    folders = (*private_paths, *machine_folders())
    return Report.from_dict(_scrubbed(relative_names(hide_checks(report, hidden)).to_dict(), folders))


def _scrubbed(data: Any, folders: tuple[str, ...]) -> Any:
    if isinstance(data, str):
        return scrub(data, folders)
    if isinstance(data, dict):
        return {key: _scrubbed(value, folders) for key, value in data.items()}
    if isinstance(data, list):
        return [_scrubbed(item, folders) for item in data]
    return data


def failed_replay(report: Report, hidden: Iterable[str] = ()) -> str | None:
    """Return one command replaying every failed op (else the failed programs) not in ``hidden``; None if none failed."""
    hidden = set(hidden)
    failed = [result for result in report.results if result.status == "failed" and result.check not in hidden]
    if not failed:
        return None
    ops = [result.check for result in failed if result.kind == "op"]
    if not ops and any(result.replay for result in failed):
        return None  # a user's function says how to replay it itself, in its panel
    if not ops and report.ops is not None:
        # Programs are drawn from the ops the engine supports only: replaying
        # over those (in the same order) draws the same programs, and the
        # command names a student's handful of ops, not every op of the run.
        unsupported = {result.check for result in report.results if result.status == "unsupported"}
        report = dataclasses.replace(report, ops=[op for op in report.ops if op not in unsupported])
    # Order 2's failures need --order 2 to run again; forward mode's run wherever the engine has jvp.
    order = max(result.order for result in failed if result.kind == "op" or not ops)
    return replay_ops_command(report, ops or None, order=order)


def statuses(report: Report, checks: Iterable[str] | None = None) -> dict[str, str]:
    """Return ``{check: status}`` over ``checks`` (default: the report's); a check it lacks is ``unsupported``."""
    found = {result.check: result.status for result in report.results}
    # No program is drawn for an engine that supports none of the ops: that column is unsupported.
    return {check: found.get(check, "unsupported") for check in (found if checks is None else checks)}


def check_points(weights: Weights, statuses: Mapping[str, str]) -> dict[str, tuple[float, float]]:
    """Return ``{check: (earned, worth)}``: a passed check earns its weight, any other nothing."""
    return {check: weights.points({check: status}) for check, status in statuses.items()}


def score_text(earned: float, possible: float) -> str:
    """Return ``Score 7.5 / 10 (75%)``."""
    share = earned / possible if possible else 0.0
    return f"Score {earned:g} / {possible:g} ({share:.0%})"

