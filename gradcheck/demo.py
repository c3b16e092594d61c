"""``gradcheck demo``: gradcheck on its three bundled engines, with a word on each.

1. a correct NumPy engine: every check passes;
2. the question's TensorFlow tape: matmul fails on a small batched case;
3. the tape with the accepted answer's fix: matmul still fails, on a size-1
   batch axis the fix never sums over.

Each report is printed with the terminal renderer and written as JSON to
``reports/demo/<engine>/gradcheck.json``. The demo exits 0 when every engine
did what the narrative says it does, and 1 (with a sentence saying what
happened instead) when one did not: then gradcheck itself has a problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from rich.console import Console

    from gradcheck.results import Report

__all__ = ["DEMO_REPORT_DIR", "DEMO_STEPS", "DemoStep", "run_demo", "unexpected"]

DEMO_REPORT_DIR = Path("reports") / "demo"
DEMO_SEED = 0


@dataclass(frozen=True)
class DemoStep:
    """One engine of the demo: what to run, what to tell the user, what should happen."""

    slug: str  # folder under DEMO_REPORT_DIR
    target: str
    title: str
    story: str
    ops: tuple[str, ...] | None  # None: every op
    max_examples: int
    expected_failures: frozenset[str]


# Example counts keep the whole demo well under a minute: the correct engine
# runs every op but passes in one search round each; the tapes have matmul
# only, and 200 draws find their bugs with room to spare.
DEMO_STEPS: tuple[DemoStep, ...] = (
    DemoStep(
        slug="numpy_engine",
        target="gradcheck.examples.numpy_engine",
        title="a correct engine",
        story=(
            "A small reverse-mode engine written with NumPy that implements every op of the "
            "contract correctly. Expect a clean report: every check passes."
        ),
        ops=None,
        max_examples=30,
        expected_failures=frozenset(),
    ),
    DemoStep(
        slug="question_tape",
        target="gradcheck.examples.question_tape",
        title="the question's tape",
        story=(
            "The TensorFlow tape from the question that started gradcheck; it defines matmul "
            "only. Its matmul gradient uses tf.transpose, which reverses every axis where only "
            "the last two should swap: right for matrices, wrong as soon as there is a batch "
            "axis. Expect matmul to fail on a small batched case."
        ),
        ops=("matmul",),
        max_examples=200,
        expected_failures=frozenset({"matmul", "programs"}),
    ),
    DemoStep(
        slug="question_tape_fixed",
        target="gradcheck.examples.question_tape_fixed",
        title="the accepted answer's fix",
        story=(
            "The same tape with the accepted answer's fix: transpose_a/transpose_b swap only "
            "the matrix axes, and the question's example now comes out right. The fix is not "
            "the end: when one operand's batch axis has size 1 and is broadcast, its gradient "
            "must be summed back over that axis, and the tape's unbroadcast never does. Expect "
            "matmul to fail again, on a case with a size-1 batch axis. Its backward pass is "
            "wrong too, which no single-op check can see: the programs check finds a matmul-only "
            "program that uses one value twice."
        ),
        ops=("matmul",),
        max_examples=200,
        expected_failures=frozenset({"matmul", "programs"}),
    ),
)


def run_demo(
    console: "Console",
    *,
    steps: Sequence[DemoStep] = DEMO_STEPS,
    report_dir: str | Path = DEMO_REPORT_DIR,
) -> int:
    """Run gradcheck on each of ``steps``, narrating on ``console``; return 0 if all went as told.

    .. code-block:: pycon

        >>> from rich.console import Console
        >>> run_demo(Console())
        0
    """
    from rich.rule import Rule
    from rich.text import Text

    from gradcheck._progress import check_plan, progress_callbacks
    from gradcheck.engine import load_engine
    from gradcheck.reports import render_report
    from gradcheck.runner import DEFAULT_PROGRAMS, resolve_ops, run_checks

    surprises: list[str] = []
    for number, step in enumerate(steps, start=1):
        console.print(Rule(Text(f"{number}/{len(steps)}  {step.title}: {step.target}"), align="left"))
        console.print(Text(step.story))
        console.print()
        engine = load_engine(step.target)
        ops = resolve_ops(step.ops)
        with progress_callbacks(check_plan(engine, ops, step.max_examples, DEFAULT_PROGRAMS)) as progress:
            report = run_checks(
                engine, ops=ops, max_examples=step.max_examples, seed=DEMO_SEED,
                on_start=progress.on_start, on_finish=progress.on_finish, on_example=progress.on_example,
            )
        step_dir = Path(report_dir) / step.slug
        render_report(report, ["text", "json"], step_dir, console=console, engine=engine)
        console.print()
        surprise = unexpected(step, report)
        if surprise:
            surprises.append(surprise)

    console.print(Rule(Text("conclusion"), align="left"))
    if surprises:
        console.print(Text("The demo did not run as intended. " + " ".join(surprises), style="bold red"))
        return 1
    console.print(Text(
        "The demo ran as intended: the correct engine passed every check, and both tapes failed "
        f"matmul, each on its own minimal case. The JSON reports are in {report_dir}/.",
        style="bold green",
    ))
    return 0


def unexpected(step: DemoStep, report: "Report") -> str | None:
    """Return a sentence saying how ``report`` differs from what ``step`` promised, else None."""
    failed = {result.check for result in report.results if result.status == "failed"}
    if failed == step.expected_failures:
        return None
    problems = []
    if failed - step.expected_failures:
        problems.append(f"{_names(failed - step.expected_failures)} failed, which should have passed")
    if step.expected_failures - failed:
        problems.append(
            f"{_names(step.expected_failures - failed)} passed {step.max_examples} examples, "
            "where a failure should have been found"
        )
    return f"On {step.title} ({step.target}), " + " and ".join(problems) + "."


def _names(checks: set[str] | frozenset[str]) -> str:
    return ", ".join(sorted(checks))
