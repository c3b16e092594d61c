"""Plain-string pieces of a report, shared by every human-readable format.

The terminal, Markdown, HTML and JUnit reports lay these out, and so do the
pytest plugin and the progress line, so that an array, a parameter list or a
replay command reads the same everywhere. Only NumPy is imported here.
"""

from __future__ import annotations

import json
import shlex
from typing import Any, Sequence

import numpy as np

from gradcheck._literals import source
from gradcheck._text import printable
from gradcheck._modes import FORWARD, ORDER2
from gradcheck.results import CheckResult, Failure, Report

__all__ = [
    "also_seen_as_lines",
    "array_text",
    "check_notes",
    "check_title",
    "comparison_title",
    "compared",
    "detail_text",
    "directions_title",
    "examples_text",
    "number_text",
    "params_text",
    "partial_text",
    "printable",
    "replay_command",
    "replay_ops_command",
    "shape_text",
    "status_text",
    "summary_text",
    "support_text",
    "worst_entry_text",
]

# Compact and stable: four decimals are enough to see a wrong gradient, and
# suppress_small prints 1e-17 round-off as 0 rather than a column of exponents.
# Minimal failing cases are small; larger arrays are summarised with "...".
_ARRAY_OPTIONS: dict[str, Any] = {
    "precision": 4,
    "suppress_small": True,
    "threshold": 64,
    "edgeitems": 3,
}

#: The longest exception text shown; the JSON report keeps all of it.
DETAIL_LINES = 12


def check_title(check: str) -> str:
    """Return how a check is named where its name alone would confuse: ``pow_tensor: pow (tensor exponent)``."""
    from gradcheck.ops import OPS

    spec = OPS.get(check)
    return f"{check}: {spec.title}" if spec is not None and spec.title else check


def array_text(values: Any, max_line_width: int = 76) -> str:
    """Return ``values`` printed by NumPy, compactly (``[[1.5 0. ]\\n [2.  1. ]]``)."""
    text = np.array2string(np.asarray(values), max_line_width=max_line_width, **_ARRAY_OPTIONS)
    # NumPy separates the matrices of a 3-D array with blank lines; a failure
    # panel has to fit on one screen, and the brackets already show the blocks.
    return "\n".join(line for line in text.splitlines() if line.strip())


def shape_text(shape: Sequence[int]) -> str:
    """Return a shape as Python prints a tuple: ``(2, 1, 2)``, ``(3,)``, ``()``."""
    return str(tuple(int(side) for side in shape))


def number_text(value: float | None) -> str:
    """Return one number short enough for a sentence (six significant digits)."""
    return "none" if value is None else f"{float(value):.6g}"


def params_text(params: dict[str, Any]) -> str:
    """Return static parameters as keyword arguments: ``axis=(0, -1), keepdims=True``.

    A stored JSON report has lists where the live run had tuples, and tagged
    arrays where it had arrays; both print the way the user writes the
    parameter (``gradcheck._literals.source``), so a re-rendered report is identical.
    """
    return ", ".join(f"{name}={source(value)}" for name, value in params.items())


#: What a failure's ``expected``/``actual`` are (``compared``): first order's two, and those of a
#: derived check (gradcheck.higher), order 2's and forward mode's.
FORWARD_VALUE = "forward value"
GRADIENT = "gradient"
MADE_WITH_CREATE_GRAPH = "gradient made with create_graph=True"
SECOND_DERIVATIVE = "second derivative"
JVP = "JVP"
# Forward mode's <u, J t> from jvp() against <J^T u, t> from grad(): two numbers, no arrays.
JVP_GRAD_CONSISTENCY = "jvp() and grad() consistency"

# How the verdict of a derived check words what it compared (gradcheck.higher.judge_derived),
# first match wins: the failure's message says which of its arrays differed, never a guess.
_DERIVED_SUBJECTS = (
    (FORWARD, "jvp() and grad() disagree", JVP_GRAD_CONSISTENCY),
    (FORWARD, "the JVP ", JVP),
    (FORWARD, "jvp() returned shape", JVP),
    (ORDER2, "made with create_graph=True", MADE_WITH_CREATE_GRAPH),
    (ORDER2, "second derivative w.r.t.", SECOND_DERIVATIVE),
)


def compared(failure: Failure) -> str:
    """Return what ``failure.expected``/``actual`` are: ``FORWARD_VALUE``, ``GRADIENT``, ``SECOND_DERIVATIVE``, ...

    A first-order failure compares a gradient (it names one: ``wrt``) or the
    forward value. A derived one says in its message what differed: order 2
    the gradient made with ``create_graph=True`` or the second derivative,
    forward mode the JVP or its agreement with ``grad()``.
    """
    for mode, words, subject in _DERIVED_SUBJECTS:
        if failure.mode == mode and (words in failure.message) and (failure.wrt or mode == FORWARD):
            return subject
    return GRADIENT if failure.wrt else FORWARD_VALUE


def comparison_title(failure: Failure) -> str:
    """Return what ``failure.expected``/``actual`` are, in words: ``gradient w.r.t. b``, ``JVP along the tangents``."""
    subject = compared(failure)
    if subject == MADE_WITH_CREATE_GRAPH:
        return f"gradient w.r.t. {failure.wrt} made with create_graph=True"
    if subject == SECOND_DERIVATIVE:
        return f"second derivative w.r.t. {failure.wrt}"
    if subject in (JVP, JVP_GRAD_CONSISTENCY):
        return "JVP along the tangents"
    return f"gradient w.r.t. {failure.wrt}" if subject == GRADIENT else FORWARD_VALUE


def directions_title(failure: Failure) -> str | None:
    """Return what a derived failure's ``directions`` are called: ``directions`` (order 2), ``tangents`` (forward).

    None for a first-order failure, which has none.
    """
    if not failure.directions:
        return None
    return {ORDER2: "directions", FORWARD: "tangents"}.get(failure.mode or "")


def worst_entry_text(failure: Failure) -> str | None:
    """Return the worst entry as a sentence, e.g. ``b[0, 1]: expected 1.5, actual 0, ...``.

    None when the failure has no entry to point at (a wrong shape, an exception).
    """
    if failure.worst_index is None or failure.expected is None or failure.actual is None:
        return None
    index = tuple(failure.worst_index)
    expected, actual = np.asarray(failure.expected), np.asarray(failure.actual)
    if expected.shape != actual.shape:
        return None
    subject = failure.wrt or "output"
    where = f"{subject}[{', '.join(str(i) for i in index)}]" if index else subject
    wanted, got = float(expected[index]), float(actual[index])
    text = (
        f"{where}: expected {number_text(wanted)}, actual {number_text(got)}, "
        f"abs error {number_text(abs(got - wanted))}"
    )
    if failure.tolerance is not None:
        text += f" (tolerance {number_text(failure.tolerance)})"
    return text


def also_seen_as_lines(failure: Failure) -> list[str]:
    """Return one line per other way the same bug showed: ``shape on (a: (2, 1, 2, 1), b: (1, 1, 1))``.

    Each names the other failure's category and minimal case, and its message.
    """
    lines = []
    for other in failure.also_seen_as:
        operands = ", ".join(f"{record.name}: {shape_text(record.shape)}" for record in other.inputs)
        params = params_text(other.params)
        case = f"({operands}{', ' + params if params else ''})"
        lines.append(f"{other.category} on {case}: {printable(other.message)}")
    return lines


def detail_text(detail: str | None, limit: int = DETAIL_LINES) -> str | None:
    """Return ``detail`` cut to ``limit`` lines, saying how many were left out."""
    if not detail:
        return None
    lines = detail.rstrip("\n").splitlines()
    if len(lines) <= limit:
        return "\n".join(lines)
    hidden = len(lines) - limit
    return "\n".join(lines[:limit] + [f"... {hidden} more line(s) in the JSON report"])


def replay_command(report: Report, result: CheckResult) -> str:
    """Return the command that re-runs ``result``'s check with the same seed and budget."""
    if result.replay:
        return result.replay  # a check that is not an engine's (a user's function) says how itself
    return replay_ops_command(report, [result.check] if result.kind == "op" else None, order=result.order)


def replay_ops_command(report: Report, ops: Sequence[str] | None, order: int = 1) -> str:
    """Return the command that re-runs the checks of ``ops`` (None: the programs) with the same seed and budget.

    A derived check (``tanh (order 2)``, ``tanh (forward)``) runs with the op's
    own: ``--ops tanh``, with ``--order 2`` when ``order`` is 2 (forward mode
    runs wherever the engine has ``jvp``).
    """
    from gradcheck.higher import base_check

    words = ["gradcheck", "check", report.target]
    if ops is not None:
        # An op's order-2 and forward checks run with the op's own: --ops names the op.
        words += ["--ops", ",".join(dict.fromkeys(base_check(op) for op in ops)), "--no-programs"]
    else:
        # Which ops failed alone decides which programs count: run them all
        # again, over the same ops the programs were drawn from.
        if report.ops is not None:
            words += ["--ops", ",".join(report.ops)]
        if report.programs is not None:
            words += ["--programs", str(report.programs)]
    if report.supported_params is not None:
        words += ["--supported-params", json.dumps(report.supported_params)]
    if order == 2:
        words += ["--order", "2"]
    words += ["--seed", str(report.seed)]
    # The search a seed replays depends on the example budget too.
    if report.max_examples is not None:
        words += ["--max-examples", str(report.max_examples)]
    return shlex.join(words)


def status_text(result: CheckResult) -> str:
    """Return ``passed``, ``unsupported`` or ``failed: CATEGORY, ...`` (``mismatch ×2``: two distinct bugs)."""
    if result.status != "failed" or not result.failures:
        return result.status
    categories = [failure.category for failure in result.failures]
    counted = dict.fromkeys(categories)
    return "failed: " + ", ".join(
        category + (f" ×{categories.count(category)}" if categories.count(category) > 1 else "")
        for category in counted
    )


#: How a stopping signal is named to a reader who pressed a key or ran a CI job.
_SIGNAL_WORDS = {"SIGINT": "SIGINT (Ctrl-C)", "SIGTERM": "SIGTERM (the process was asked to stop)"}


def partial_text(report: Report) -> str | None:
    """Return the warning at the top of a partial report (a run stopped by a signal); None for a whole one."""
    if not report.partial:
        return None
    stopped = _SIGNAL_WORDS.get(report.interrupted_by or "", report.interrupted_by)
    finished = len(report.results)
    not_run = f"; not run: {', '.join(report.not_run)}" if report.not_run else ""
    return (f"Partial report: the run was stopped by {stopped} after {finished} "
            f"check{'s' if finished != 1 else ''}{not_run}. Run the same command again for a full report.")


def summary_text(report: Report) -> str:
    """Return ``N passed, M failed, K unsupported`` (and ``, J not run (partial)`` for a stopped run)."""
    counts = ", ".join(f"{count} {status}" for status, count in report.summary.items())
    return counts + (f", {len(report.not_run)} not run (partial)" if report.partial else "")


def examples_text(report: Report) -> str | None:
    """Return what the examples column counts up to, or None when the report does not say.

    ``100 examples per check (200 for programs), more where one failed: shrinking counts too``;
    the second half when a check failed, whose count goes over the maximum (which the header
    would otherwise seem to contradict).
    """
    if report.max_examples is None:
        return None
    programs = f" ({report.programs} for programs)" if report.programs else ""
    failed = any(result.status == "failed" for result in report.results)
    return f"{report.max_examples} examples per check{programs}" + (
        ", more where one failed: shrinking counts too" if failed else "")


def support_text(result: CheckResult) -> str | None:
    """Return what a partly supported op was checked on: ``checked on: axis=-1; not checked: any other axis``.

    None when the engine declared no partial support for the check.
    """
    if result.checked_on is None:
        return None
    return (
        f"checked on: {result.checked_on}; not checked: {result.not_checked or 'nothing'} "
        "(declared partial support)"
    )


def check_notes(report: Report) -> list[tuple[str, str]]:
    """Return the notes of a run as ``(subject, sentence)`` pairs, run-wide notes first.

    A check's own ``reason`` is listed only when it says something the run-wide
    notes do not (the runner repeats the all-ones-cotangent note on every check).
    """
    notes = [("note", note) for note in report.notes]
    for result in report.results:
        support = support_text(result)
        if support:
            notes.append((result.check, support))
        if result.reason and result.status != "unsupported" and result.reason not in report.notes:
            notes.append((result.check, result.reason))
        if result.oracle_disagreements:
            cases = "case" if result.oracle_disagreements == 1 else "cases"
            text = (
                f"TensorFlow and finite differences disagreed on {result.oracle_disagreements} "
                f"{cases}: not counted against the engine"
            )
            if result.oracle_note:
                text += f" ({result.oracle_note})"
            notes.append((result.check, text))
    return notes
