"""``assert_gradients``: a gradient check as one assertion, inside any test.

.. code-block:: python

    import gradcheck

    def test_matmul_gradients():
        gradcheck.assert_gradients("student/engine.py", "matmul", max_examples=200)

A failed check raises :class:`GradientAssertionError`, an ``AssertionError``
whose message is the minimal failing case of each failed check: the same
panel the text report prints, as plain text. pytest, unittest or a plain
script show it as it is. The pytest plugin's items and its
``@pytest.mark.gradcheck`` marker run checks through :func:`check_report`
and word their failures with :func:`failure_message`, so a failure reads the
same wherever it is found.

Importing this module costs NumPy, not TensorFlow or Hypothesis: the runner
imports those when a check starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from gradcheck.errors import UsageError
from gradcheck.ops import OP_NAMES
from gradcheck.results import CheckResult, Report
from gradcheck.runner import PROGRAMS_CHECK
from gradcheck.settings import DEFAULT_MAX_EXAMPLES, DEFAULT_PROGRAMS, DEFAULT_SEED, DEFAULT_TIMEOUT, SEED, CheckSettings

if TYPE_CHECKING:
    from gradcheck.engine import CheckedEngine

__all__ = [
    "DEFAULT_WIDTH",
    "CheckSettings",  # gradcheck.settings's, re-exported
    "GradientAssertionError",
    "assert_gradients",
    "check_report",
    "failure_message",
]

#: Columns of the failure panels in an assertion message (pytest indents it).
DEFAULT_WIDTH = 80


class GradientAssertionError(AssertionError):
    """A gradient check failed, or named an op the engine does not define.

    ``report`` holds every check that ran; ``results`` the ones at fault. The
    message is :func:`failure_message` at :data:`DEFAULT_WIDTH` columns;
    :meth:`render` words it for another width.
    """

    def __init__(self, report: Report, results: Sequence[CheckResult]) -> None:
        self.report = report
        self.results = list(results)
        super().__init__(self.render(DEFAULT_WIDTH))

    def render(self, width: int) -> str:
        """Return the message with its failure panels ``width`` columns wide."""
        return failure_message(self.report, self.results, width)


def failure_message(report: Report, results: Iterable[CheckResult], width: int = DEFAULT_WIDTH) -> str:
    """Return what a failed check says: per result a headline, then each minimal case.

    The headline comes first so that a one-line summary (pytest's ``-ra``
    "FAILED ... - message") names the check, the failure categories and what
    was wrong; the panels below it are the text report's.
    """
    from gradcheck.reports.text import render_check_text

    blocks = []
    for result in results:
        if result.status == "unsupported":
            blocks.append(f"{result.check} is unsupported: {result.reason}")
            continue
        categories = ", ".join(failure.category for failure in result.failures)
        headline = f"{result.check} · {categories}: {result.failures[0].message}"
        blocks.append(f"{headline}\n{render_check_text(report, result, width)}".rstrip("\n"))
    return "\n\n".join(blocks)


def check_report(
    engine: Any,
    checks: Sequence[str],
    settings: CheckSettings = CheckSettings(),
    *,
    program_ops: Sequence[str] | None = None,
    failed_ops: Iterable[str] = (),
) -> Report:
    """Return the report of running ``checks`` on ``engine`` (nothing is raised for a failure).

    ``checks`` holds op names (canonical or aliases) and optionally
    ``"programs"``; each comes back with its derived checks as
    ``settings.order`` and the engine say (``tanh (order 2)``). The ops are checked first, in order, as ``run_checks``
    checks them: an op the engine does not define comes back
    ``unsupported``. The program search comes last, over ``program_ops``
    (default: the checked ops the engine defines, or every op it defines when
    ``checks`` names no op). A program that fails only because of an op that
    failed its own check — in ``failed_ops`` or in this call — is not
    reported again; ``failed_ops`` may name derived checks (``"tanh (order
    2)"``), which count for the programs of their mode.

    ``engine`` is a loaded engine or anything ``load_engine`` accepts.
    """
    from gradcheck.runner import resolve_ops, run_checks

    engine = _loaded(engine)
    ops = resolve_ops([check for check in checks if check != PROGRAMS_CHECK])
    with_programs = PROGRAMS_CHECK in checks
    if with_programs and settings.programs < 1:
        raise UsageError(
            f"programs={settings.programs!r} draws no program, but the checks name {PROGRAMS_CHECK!r}; "
            "give programs=N (N >= 1), or leave 'programs' out of the checks."
        )
    if with_programs and program_ops is None:
        program_ops = ops or OP_NAMES
    return run_checks(
        engine, ops=ops, max_examples=settings.max_examples, seed=settings.seed,
        timeout=settings.timeout, tolerances=settings.tolerances,
        programs=settings.programs if with_programs else 0,
        program_ops=program_ops if with_programs else None, failed_ops=failed_ops,
        supported_params=settings.supported_params, database=settings.database, order=settings.order,
    )


def assert_gradients(
    engine: Any,
    ops: str | Sequence[str] | None = None,
    *,
    max_examples: int = DEFAULT_MAX_EXAMPLES,
    programs: int = DEFAULT_PROGRAMS,
    seed: int | str = DEFAULT_SEED,
    timeout: float | None = DEFAULT_TIMEOUT,
    tolerances: Mapping[str, Any] | None = None,
    supported_params: Mapping[str, Any] | None = None,
    database: str | None = None,
    order: int | None = None,
) -> CheckResult | list[CheckResult]:
    """Check the gradients of ``ops`` on ``engine``; raise with the minimal case when one is wrong.

    ``engine``: an engine object (module, instance, namespace) or a target
    string, as ``gradcheck check`` takes (``"student/engine.py"``,
    ``"package.module:NAME"``). ``ops``: an op name or alias, a list of them,
    ``"programs"`` (composite programs over every op the engine defines), or
    None: every op the engine defines, then programs (unless
    ``programs=0``). ``max_examples`` examples are drawn per op (each
    checked on ``runner.VALUE_SETS`` sets of values) and
    ``programs`` programs for the program search, from ``seed``;
    ``timeout`` bounds one engine call (seconds) and ``tolerances`` maps a
    dtype to a relative tolerance, as in ``run_checks``. ``supported_params``
    declares partial support for an engine you cannot edit, in the format of
    an engine's own ``supported_params`` (docs/contract.md, section 1).
    ``seed="random"`` draws a fresh seed, which a failure's replay line
    names. ``database``: a folder (``".gradcheck/examples"``) where failing
    examples are stored and replayed first the next time (default: none).
    ``order``: 2 checks second derivatives too (``"tanh (order 2)"``; the
    engine's ``grad`` must take ``create_graph``, else it is a usage error),
    1 does not; None is 2 where the engine's ``grad`` takes ``create_graph``.
    An engine with ``jvp`` is checked in forward mode too (``"tanh
    (forward)"``). docs/contract.md, section 1.

    Return, when ``ops`` is one name, its ``CheckResult`` if that was the
    only check of the name, else the list of the name's checks: its own
    first, then its derived ones (``tanh``, ``tanh (order 2)``, ``tanh
    (forward)``), so that ``order=2`` hands back the order-2 result it
    asked for. When ``ops`` is a list or None, the list of every check in
    check order. Raise :class:`GradientAssertionError` (an
    ``AssertionError``) when a check fails (an order-2 or forward-mode one
    too: its panel heads the message) or a named op is not defined by the
    engine; ``gradcheck.errors.UsageError`` for a bad argument (an unknown
    op, ``max_examples=0``, ``order=2`` for an engine without
    ``create_graph``) and ``TargetError`` for an engine that cannot be
    loaded.

    .. code-block:: pycon

        >>> result = assert_gradients("student/engine.py", "matmul", max_examples=200)
        >>> result.status, result.examples
        ('passed', 200)
        >>> [result.check for result in assert_gradients("order2/engine.py", "tanh", order=2)]
        ['tanh', 'tanh (order 2)']
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this function's
    settings = CheckSettings(
        max_examples=max_examples, programs=programs, seed=SEED.check(seed), timeout=timeout, tolerances=tolerances,
        supported_params=supported_params, database=database, order=order,
    )
    engine = _loaded(engine)
    report = check_report(engine, _requested_checks(engine, ops, settings), settings)
    # Named ops must be there; "every op the engine defines" only lists those it has.
    at_fault = [
        result for result in report.results
        if result.status == "failed" or (result.status == "unsupported" and ops is not None)
    ]
    if at_fault:
        raise GradientAssertionError(report, at_fault)
    if not isinstance(ops, str):
        return list(report.results)
    from gradcheck.higher import base_check

    # The name's own check and the ones derived from it (not pow_tensor, which checking pow checks too).
    named = [result for result in report.results if base_check(result.check) == report.results[0].check]
    return named[0] if len(named) == 1 else named


def _requested_checks(engine: Any, ops: str | Sequence[str] | None, settings: CheckSettings) -> list[str]:
    """Return the checks ``assert_gradients(engine, ops)`` runs: canonical op names, then programs."""
    from gradcheck.runner import resolve_ops

    if ops is None:
        defined = [op for op in OP_NAMES if engine.supports(op)]
        return defined + ([PROGRAMS_CHECK] if settings.programs else [])
    names = [ops] if isinstance(ops, str) else list(ops)
    if not names:
        raise UsageError(
            "ops=[] names no check; give op names (ops=['matmul', 'sum']), 'programs', "
            "or ops=None for every op the engine defines."
        )
    checks = resolve_ops([name for name in names if name != PROGRAMS_CHECK])
    return checks + ([PROGRAMS_CHECK] if PROGRAMS_CHECK in names else [])


def _loaded(engine: object) -> CheckedEngine:
    """Return ``engine`` adapted to what the runner calls, loading a target or wrapping an object."""
    from gradcheck.engine import Engine, load_engine
    from gradcheck.isolation import IsolatedEngine

    return engine if isinstance(engine, (Engine, IsolatedEngine)) else load_engine(engine)
