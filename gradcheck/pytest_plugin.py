"""The pytest plugin: ``pytest --gradcheck=TARGET`` checks an engine's gradients in a test run.

Registered through the ``pytest11`` entry point, so it is active in every
pytest run where gradcheck is installed. Without a target it adds its
options, the ``gradcheck`` marker and the ``gradcheck_engine`` fixture, and
nothing else: TensorFlow, Hypothesis, NumPy and rich are imported inside the
hooks, once a target is configured or a marked test runs.

With ``--gradcheck=TARGET`` (or ``gradcheck_target`` in the ini file) the
session collects, after the test files, one item per op the engine defines,
one for the ops it does not, and one for the program search::

    student/engine.py::gradcheck[matmul]
    student/engine.py::gradcheck[sum]
    student/engine.py::gradcheck[unsupported]
    student/engine.py::gradcheck[programs]

An engine checked at order 2 or in forward mode (docs/contract.md, section 1)
gets one item per derived check too, after the op's own (``gradcheck[tanh
(order 2)]``, ``gradcheck[tanh (forward)]``, ``gradcheck[programs (order
2)]``); ``--gradcheck-order 1`` leaves the order-2 items out, and
``--gradcheck-order 2`` for an engine whose ``grad`` does not take
``create_graph`` is a usage error. An op's item runs its derived checks along
with it (one search of the op, as ``gradcheck check`` runs them) and their
items report those results; a derived item run without its op's runs both.

They come from a collector appended to the session's own collect report
(``pytest_make_collect_report``), so pytest sees them as it sees any test:
``-k``, ``-m gradcheck``, ``-x``, ``--lf``, ``--junitxml`` and pytest-xdist
(every worker collects the same items in the same order) all apply. A node id
as printed (``student/engine.py::gradcheck[sum]``, ``...::gradcheck`` for all
of them) selects those items when passed back to pytest: the plugin takes
these arguments out of pytest's before collection (pytest would look for a
test inside the file, or for a file named like a module target) and collects
the items they name. The ops the engine does not define make one item,
``gradcheck[unsupported]``, skipped with one line listing them; an op the
user named (``--gradcheck-ops``, a node id) that the engine lacks fails its
own item instead, as ``assert_gradients`` does. A failure's report is the
minimal case and diagnosis, the text report's panel, not a traceback.

``gradcheck[programs]`` runs last and is told which ops failed their own
items, so a program that fails only because of one of them is not reported
twice. It knows the verdicts of the op items that ran before it *in the same
process*. Under pytest-xdist the plugin's ``pytest_xdist_make_scheduler``
keeps every gradcheck item on one worker for ``--dist load`` (``-n``'s
default) and ``loadgroup`` (``gradcheck._pytest_xdist``); ``loadfile`` and
``loadscope`` keep them together by themselves. Under ``worksteal`` an op
item may run on another worker: its verdict is unknown to programs, and a
program failing only because of such an op fails ``gradcheck[programs]``
too, with a diagnosis naming the op (the item's "gradcheck" section lists the
unknown ops). Nothing is checked twice either way.

Each item's result rides on its test report (the ``gradcheck_result``
attribute, a JSON-ready dict; ``gradcheck_results``, a list of them, for
``gradcheck[unsupported]``), which pytest-xdist carries to the controller;
there ``--gradcheck-report-dir``/``--gradcheck-format`` write the run's
report files, and the terminal summary ends with one gradcheck line.

The items take Hypothesis's own options by one rule per setting
(``gradcheck._hypothesis_options``): ``--hypothesis-seed`` and a profile's
``max_examples`` when the ``--gradcheck-*`` option is not given, a profile's
``database=None``; a ``--gradcheck-*`` option that overrides a differing
Hypothesis value gives a warning naming both. Failing examples are kept
under ``.gradcheck/examples`` in the rootdir and replayed first
(``gradcheck._database``); ``--gradcheck-seed random`` is drawn once, on the
controller, and printed in the header.

For tests people write themselves: the ``gradcheck_engine`` fixture is the
loaded engine (skipping the test when none is configured), and a test marked
``@pytest.mark.gradcheck(ops, engine=..., max_examples=...)`` runs
``gradcheck.assert_gradients`` with those arguments once its body has passed.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Generator, Iterator, Sequence

import pytest

from gradcheck.settings import (
    DEFAULT_DATABASE,
    DEFAULT_PLUGIN_FORMATS,
    DEFAULT_REPORT_DIR,
    MAX_EXAMPLES,
    ORDER,
    PROGRAMS,
    RANDOM,
    SEED,
    TIMEOUT,
    CheckSettings,
    add_check_options,
    add_database_options,
    comma_list,
    draw_seed,
    read_check_options,
    read_database_options,
)

if TYPE_CHECKING:  # imported inside the hooks at run time: they cost NumPy.
    from gradcheck.results import CheckResult, Report

__all__ = [
    "DATABASE_OPTION",
    "FORMAT_OPTION",
    "MARKER",
    "MAX_EXAMPLES_OPTION",
    "NO_DATABASE_OPTION",
    "OPS_OPTION",
    "OPTION_PREFIX",
    "ORDER_OPTION",
    "PROGRAMS_OPTION",
    "REPORT_DIR_OPTION",
    "RESULTS_ATTRIBUTE",
    "RESULT_ATTRIBUTE",
    "SEED_OPTION",
    "TARGET_INI",
    "TIMEOUT_OPTION",
    "TARGET_OPTION",
    "UNSUPPORTED_ITEM",
    "GradcheckCollector",
    "GradcheckItem",
    "gradcheck_engine",
]

TARGET_OPTION = "--gradcheck"
#: The prefix of the check options this plugin shares with ``gradcheck check`` (``settings.add_check_options``).
OPTION_PREFIX = "--gradcheck-"
OPS_OPTION = f"{OPTION_PREFIX}ops"
MAX_EXAMPLES_OPTION = MAX_EXAMPLES.option(OPTION_PREFIX)
PROGRAMS_OPTION = PROGRAMS.option(OPTION_PREFIX)
SEED_OPTION = SEED.option(OPTION_PREFIX)
TIMEOUT_OPTION = TIMEOUT.option(OPTION_PREFIX)
ORDER_OPTION = ORDER.option(OPTION_PREFIX)
DATABASE_OPTION = f"{OPTION_PREFIX}database"
NO_DATABASE_OPTION = f"{OPTION_PREFIX}no-database"
REPORT_DIR_OPTION = "--gradcheck-report-dir"
FORMAT_OPTION = "--gradcheck-format"
#: The ini setting (``[tool.pytest.ini_options]``) naming the target when ``--gradcheck`` is not given.
TARGET_INI = "gradcheck_target"
MARKER = "gradcheck"
#: The test-report attribute carrying a gradcheck item's result (``CheckResult.to_dict()``).
RESULT_ATTRIBUTE = "gradcheck_result"
#: The test-report attribute of ``gradcheck[unsupported]``: the result of each op it lists.
RESULTS_ATTRIBUTE = "gradcheck_results"
#: The item standing for every op the engine does not define that no option or node id named.
UNSUPPORTED_ITEM = "unsupported"
# Items are named ITEM[check]; a node id ending in ::ITEM (no check) names them all.
ITEM = "gradcheck"

# The report section of each gradcheck item (and its title in failure output).
SECTION = "gradcheck"
# The keyword arguments @pytest.mark.gradcheck takes besides ``ops`` and ``engine``:
# assert_gradients's settings.
MARKER_SETTINGS = ("max_examples", "programs", "seed", "timeout", "tolerances", "order")
NO_TARGET_REASON = (
    f"no gradcheck target: run pytest {TARGET_OPTION}=TARGET, set {TARGET_INI} under "
    f"[tool.pytest.ini_options], or mark the test @pytest.mark.{MARKER}(engine=...)"
)
# Failure panels narrower than this wrap every array; wider ones are mostly blank.
_WIDTH_RANGE = (60, 120)
DEFAULT_WIDTH = 80
_SESSION_PLUGIN = "gradcheck-session"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gradcheck", "gradient checks of an autodiff engine (gradcheck)")
    group.addoption(
        TARGET_OPTION, metavar="TARGET",
        help="check the gradients of the engine TARGET (path/to/file.py[:NAME] or "
             "package.module[:NAME]): one test per op, gradcheck[OP], and one for composite "
             "programs, gradcheck[programs]",
    )
    add_check_options(group.addoption, OPTION_PREFIX, help={
        "programs": "composite programs drawn by gradcheck[programs]; 0 leaves that test out",
    })
    add_database_options(group.addoption, OPTION_PREFIX, default=f"{DEFAULT_DATABASE}/ under the rootdir")
    group.addoption(
        REPORT_DIR_OPTION, metavar="DIR",
        help=f"write the run's gradcheck reports to DIR (default {DEFAULT_REPORT_DIR}/ when "
             f"{FORMAT_OPTION} is given; no files when neither is)",
    )
    group.addoption(
        FORMAT_OPTION, action="append", metavar="FMT,FMT...",
        help=f"report formats, as `gradcheck check --format` takes them (default: {','.join(DEFAULT_PLUGIN_FORMATS)}); "
             "text is printed at the end of the session",
    )
    parser.addini(TARGET_INI, f"engine target checked when {TARGET_OPTION} is not given", default="")


@pytest.hookimpl(trylast=True)  # after Hypothesis's plugin has loaded the --hypothesis-profile
def pytest_configure(config: pytest.Config) -> None:
    _draw_random_seed(config)
    config.addinivalue_line(
        "markers",
        f"{MARKER}(ops=None, *, engine=None, max_examples=..., programs=..., seed=...): once the "
        "test body passes, check the gradients of OPS (default: every op the engine defines, then "
        f"programs) on ENGINE (default: {TARGET_OPTION}'s); a wrong gradient fails the test with "
        "its minimal case. The gradcheck[OP] items carry this marker too.",
    )
    target = config.getoption(TARGET_OPTION) or config.getini(TARGET_INI)
    if target:
        session = GradcheckSession.from_config(config, target)
        session.named = _claim_node_ids(config, target)
        config.stash[_SESSION] = session
        config.pluginmanager.register(session, _SESSION_PLUGIN)


def _draw_random_seed(config: pytest.Config) -> None:
    """Draw the seed of ``--gradcheck-seed random`` once, and put it in the option, for the header to print.

    Marked tests read the option again, and pytest-xdist's workers take the
    controller's draw from their ``workerinput`` (``pytest_configure_node``,
    as pytest-randomly does): all of them get this one number, not one draw each.
    """
    text = config.getoption(SEED_OPTION)
    if text is None or text.strip() != RANDOM:
        return
    drawn = getattr(config, "workerinput", {}).get(_WORKER_SEED)
    if drawn is None:
        drawn = config.stash[_DRAWN_SEED] = draw_seed()
    setattr(config.option, SEED_OPTION.lstrip("-").replace("-", "_"), str(drawn))


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: unknown without it
def pytest_configure_node(node: Any) -> None:
    seed = node.config.stash.get(_DRAWN_SEED, None)
    if seed is not None:
        node.workerinput[_WORKER_SEED] = seed


def pytest_report_header(config: pytest.Config) -> str | None:
    seed = config.stash.get(_DRAWN_SEED, None)
    if seed is None:
        return None
    return f"gradcheck: {SEED_OPTION} {RANDOM} drew seed {seed}; replay this run with {SEED_OPTION} {seed}"


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(_SESSION, None)
    if session is not None:
        config.pluginmanager.unregister(session)
        del config.stash[_SESSION]


# --- the session's checks ------------------------------------------------------


@dataclass(eq=False)  # a plugin object: hashed by identity
class GradcheckSession:
    """What this test session checks, and what its gradcheck items found.

    Registered as a plugin while a target is configured; its hooks load the
    engine, add the items, print the header line and write the report files.
    """

    target: str
    ops: list[str]
    ops_given: bool
    settings: CheckSettings
    formats: list[str] | None  # None: write no report files
    report_dir: str
    engine: Any = None
    # Status of each op item run in this process, for gradcheck[programs].
    verdicts: dict[str, str] = field(default_factory=dict)
    # Every gradcheck item's result this process was told of (all of them, in the
    # xdist controller), for the report files and the summary line.
    results: dict[str, CheckResult] = field(default_factory=dict)
    report: Report | None = None
    summary_lines: list[str] = field(default_factory=list)
    # What the settings took from Hypothesis's options, and why no failing example is kept (None: they are).
    hypothesis_notes: list[str] = field(default_factory=list)
    no_database: str | None = None
    # The items named by node ids on the command line (item name -> the argument), or None: every item.
    named: dict[str, str] | None = None
    # Reports of checks that ran along with another: checking pow checks its other form, pow_tensor, too,
    # and an op's check its derived ones (tanh (order 2)).
    ran_along: dict[str, Report] = field(default_factory=dict)
    # The derived modes the engine is checked in (gradcheck.higher), once it is loaded.
    modes: tuple[str, ...] = ()
    # The report of each op (or programs) whose check ran in this process, derived checks with it.
    ran_bases: dict[str, Report] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: pytest.Config, target: str) -> GradcheckSession:
        """Return the session's checks from the options; raise ``pytest.UsageError`` for a bad one."""
        from gradcheck._hypothesis_options import HYPOTHESIS_SEED_OPTION, hypothesis_terms
        from gradcheck.errors import UsageError
        from gradcheck.runner import resolve_ops

        try:
            given = read_check_options(config.getoption, OPTION_PREFIX)
            names = given.pop("ops", None)
            terms = hypothesis_terms(
                given, config.getoption(HYPOTHESIS_SEED_OPTION, None), seed_option=SEED_OPTION,
                max_examples_option=MAX_EXAMPLES_OPTION, seed_text=config.getoption(SEED_OPTION),
            )
            database = read_database_options(
                config.getoption, OPTION_PREFIX,
                default=None if terms.no_database else str(config.rootpath / DEFAULT_DATABASE),
            )
            settings = CheckSettings(**{**terms.settings, **given}, database=database)
            ops = resolve_ops(names)
            formats = _report_formats(config)
        except UsageError as error:
            raise pytest.UsageError(str(error)) from None
        for warning in terms.warnings:
            config.issue_config_time_warning(pytest.PytestConfigWarning(f"gradcheck: {warning}"), stacklevel=2)
        return cls(
            target=target,
            ops=ops,
            ops_given=names is not None,
            settings=settings,
            formats=formats,
            report_dir=config.getoption(REPORT_DIR_OPTION) or DEFAULT_REPORT_DIR,
            hypothesis_notes=terms.notes,
            no_database=terms.no_database if database is None else None,
        )

    @property
    def checks(self) -> list[str]:
        """Return the session's checks in run order: each op and its derived checks, then programs' (unless 0 are drawn)."""
        from gradcheck.runner import PROGRAMS_CHECK, derived_checks

        bases = self.ops + ([PROGRAMS_CHECK] if self.settings.programs else [])
        return [check for base in bases for check in (base, *derived_checks(base, self.modes))]

    def run(self, check: str) -> tuple[Report, list[str]]:
        """Run one check; return its report and the notes for the item's report section."""
        from gradcheck.assertions import check_report
        from gradcheck.higher import base_check, check_name, mode_of_check
        from gradcheck.reports.display import check_notes
        from gradcheck.runner import PROGRAMS_CHECK

        notes: list[str] = []
        base = base_check(check)
        if base == PROGRAMS_CHECK:
            program_ops = [op for op in self.ops if self.engine.supports(op)]
            # Each derived program check leaves out its own mode's failures too (runner.check_programs).
            failed = [name for name, status in self.verdicts.items() if status == "failed"]
            mode = mode_of_check(check)
            relevant = [op for op in program_ops if op in failed or (mode and check_name(op, mode) in failed)]
            unknown = [op for op in program_ops if op not in self.verdicts
                       or (mode and check_name(op, mode) in self.checks and check_name(op, mode) not in self.verdicts)]
            run: Callable[[], Report] = lambda: check_report(
                self.engine, [PROGRAMS_CHECK], self.settings, program_ops=program_ops, failed_ops=failed)
            if relevant:
                notes.append(f"not repeated here: program failures due only to {', '.join(relevant)}, "
                             "which failed their own checks")
            if unknown:
                notes.append(
                    f"no verdict in this process for {', '.join(unknown)} (run on another xdist "
                    "worker, deselected, or not run yet): a program failing only because of one of "
                    "them is reported here, its diagnosis naming the op"
                )
        else:
            run = lambda: check_report(self.engine, [base], self.settings)
        ran = self.ran_along.pop(check, None)
        if ran is None and base in self.ran_bases:
            # Its op's own check ran and this one did not follow: that check hung, crashed or was refused
            # (runner._run_all), and would again, at full cost.
            return replace(self.ran_bases[base], results=()), notes
        if ran is None:
            ran = run()
            self.ran_bases[base] = ran
        report = replace(ran, results=())
        for result in ran.results:
            single = replace(ran, results=(result,))
            if result.check == check:
                report = single
            else:
                self.ran_along[result.check] = single
        if report.results and base != PROGRAMS_CHECK:
            self.verdicts[check] = report.results[-1].status
        notes[:0] = [f"{subject}: {text}" for subject, text in check_notes(report)]
        return report, notes

    def explicit(self, check: str) -> bool:
        """Return whether the user asked for ``check`` by name: a missing op then fails, as in ``assert_gradients``."""
        from gradcheck.higher import base_check
        from gradcheck.runner import PROGRAMS_CHECK

        return check in (self.named or {}) or (self.ops_given and base_check(check) != PROGRAMS_CHECK)

    def items(self) -> list[tuple[str, list[CheckResult]]]:
        """Return every item in run order: its name, and the results of the unsupported checks it skips.

        An op the engine does not define that nobody named goes into one
        ``gradcheck[unsupported]`` item, skipped with one line listing them,
        placed before ``gradcheck[programs]`` (which runs last). A named one
        (``--gradcheck-ops``, a node id) stays an item of its own and fails, as
        ``assert_gradients`` does.
        """
        from gradcheck.higher import base_check
        from gradcheck.runner import PROGRAMS_CHECK

        items: list[tuple[str, list[CheckResult]]] = []
        unnamed: list[CheckResult] = []
        for check in self.checks:
            base = base_check(check)
            if check != base:
                # A derived check runs after its op's own, which the engine must define (or programs, some op).
                if any(self.engine.supports(op) for op in (self.ops if base == PROGRAMS_CHECK else [base])):
                    items.append((check, []))
                continue
            result = self.unsupported(check)
            if result is not None and self.explicit(check):
                result = None  # its item runs, and fails
            if result is not None and check != PROGRAMS_CHECK:
                unnamed.append(result)
            else:
                items.append((check, [] if result is None else [result]))
        if unnamed:
            programs = [index for index, (check, _) in enumerate(items) if base_check(check) == PROGRAMS_CHECK]
            items.insert(programs[0] if programs else len(items), (UNSUPPORTED_ITEM, unnamed))
        return items

    def selected(self, name: str) -> bool:
        """Return whether the item ``name`` is collected: node ids on the command line keep only theirs."""
        return self.named is None or ITEM in self.named or name in self.named

    def unsupported_summary(self, results: Sequence[CheckResult]) -> str:
        """Return the one line of ``gradcheck[unsupported]``: which ops were not checked, and why."""
        undefined = [result.check for result in results if result.check not in self.engine.unsupported_reasons]
        said = [f"{result.check}: {result.reason}" for result in results if result.check not in undefined]
        parts = [f"the engine defines none of {', '.join(undefined)} (docs/contract.md, section 1)"] if undefined else []
        count = f"{len(results)} ops" if len(results) > 1 else "1 op"
        return f"{count} not checked: " + "; ".join(parts + said)

    def unsupported(self, check: str) -> CheckResult | None:
        """Return the ``unsupported`` result of ``check`` when the engine cannot run it, else None."""
        from gradcheck.runner import PROGRAMS_CHECK

        runnable = self.ops if check == PROGRAMS_CHECK else [check]
        if any(self.engine.supports(op) for op in runnable):
            return None
        from gradcheck.assertions import check_report

        # No search runs: check_report only words why the check cannot (for pow, and pow_tensor too).
        results = check_report(self.engine, [check], self.settings, program_ops=[]).results
        return next(result for result in results if result.check == check)

    # --- hooks ---------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)  # before the header is printed, which names the engine
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        from gradcheck._tf import quiet_native_stderr
        from gradcheck.engine import load_engine
        from gradcheck.errors import GradcheckError

        # A pytest-xdist controller runs no check: it skips importing TensorFlow
        # first (its workers do), and mutes what an engine importing it says.
        controller = session.config.pluginmanager.has_plugin("dsession")
        try:
            with quiet_native_stderr() if controller else contextlib.nullcontext():
                self.engine = load_engine(self.target, quiet_tensorflow=not controller)
        except GradcheckError as error:
            raise pytest.UsageError(str(error)) from None
        from gradcheck.runner import derived_modes

        try:
            self.modes = derived_modes(self.engine, self.settings.order)
        except GradcheckError as error:
            raise pytest.UsageError(f"{ORDER_OPTION}: {error}") from None
        if self.named:
            label = _node_label(self.target, session.config.rootpath)
            _check_named(self.named, [name for name, _ in self.items()], label, self.modes)

    def pytest_report_header(self, config: pytest.Config) -> str:
        engine = self.engine
        ops = ", ".join(self.ops) if self.ops_given else "every op"
        settings = self.settings
        if settings.database is not None:
            kept = f"failing examples kept in {_shown_path(settings.database, config.rootpath)}"
        else:
            kept = f"no failing example kept ({self.no_database or NO_DATABASE_OPTION})"
        return (
            f"gradcheck: {self.target} (engine {engine.name}, {engine.dtype.name}), seed {settings.seed}, "
            f"{settings.max_examples} examples per op, {settings.programs} programs, ops: {ops}, {_modes_text(self.modes)}; "
            + "; ".join([*self.hypothesis_notes, kept])
        )

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(
        self, collector: pytest.Collector
    ) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
        report = yield
        if isinstance(collector, pytest.Session) and report.passed:
            label = _node_label(self.target, collector.config.rootpath)
            report.result.append(GradcheckCollector.from_parent(collector, name=label, nodeid=label))
        return report

    @pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: unknown without it
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        # Every gradcheck item on one worker, so that gradcheck[programs] knows every op's verdict.
        from gradcheck._pytest_xdist import GROUPED_MODES, GradcheckScheduling

        if config.getvalue("dist") not in GROUPED_MODES:
            return None
        return GradcheckScheduling(config, log, prefix=f"{_node_label(self.target, config.rootpath)}::{ITEM}[")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        from gradcheck.results import CheckResult

        single = getattr(report, RESULT_ATTRIBUTE, None)
        for data in [single] if single is not None else getattr(report, RESULTS_ATTRIBUTE, []):
            self.results[data["check"]] = CheckResult.from_dict(data)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # Workers send their results to the controller, which writes the files.
        if hasattr(session.config, "workerinput") or self.engine is None or not self.results:
            return
        from gradcheck.assertions import check_report

        # An empty run gives the report's header (engine, dtype, notes); the items' results go under it.
        order = self.checks
        self.report = report = replace(
            check_report(self.engine, [], self.settings),
            programs=self.settings.programs,
            results=tuple(sorted(self.results.values(), key=lambda result: order.index(result.check))),
        )
        if self.formats:
            self.summary_lines += _write_reports(
                report, self.engine, self.formats, self.report_dir, _width(session.config)
            )

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.report is None:
            return
        from gradcheck.reports.display import summary_text

        terminalreporter.write_sep("-", "gradcheck")
        for line in self.summary_lines:
            terminalreporter.write_line(line)
        failed = self.report.summary["failed"]
        terminalreporter.write_line(
            f"{self.report.target}: {summary_text(self.report)} (seed {self.report.seed})",
            red=bool(failed), green=not failed,
        )


_SESSION = pytest.StashKey[GradcheckSession]()
# The seed --gradcheck-seed random drew in this process (the controller's, under xdist).
_DRAWN_SEED = pytest.StashKey[int]()
# Where an xdist worker finds the controller's drawn seed.
_WORKER_SEED = "gradcheck_seed"


def _check_options(config: pytest.Config) -> tuple[list[str] | None, CheckSettings]:
    """Return the ops (None: every op) and search settings of the command line; raise UsageError for a bad one."""
    given = read_check_options(config.getoption, OPTION_PREFIX)
    ops = given.pop("ops", None)
    return ops, CheckSettings(**given)


def _modes_text(modes: Sequence[str]) -> str:
    """Return what the header says of the derivatives checked: ``order 2 and forward mode``."""
    from gradcheck.higher import FORWARD, ORDER2

    return f"order {2 if ORDER2 in modes else 1}" + (" and forward mode" if FORWARD in modes else "")


def _shown_path(path: str, rootpath: Path) -> str:
    """Return ``path`` as the header shows it: relative to the rootdir when it lies under it."""
    with contextlib.suppress(ValueError):
        return Path(path).resolve().relative_to(rootpath).as_posix()
    return path


def _node_label(target: str, rootpath: Path) -> str:
    """Return what the gradcheck items' node ids start with: the target, a file relative to the rootdir."""
    path = Path(target)
    if path.suffix in (".py", ".ipynb") and path.is_file():
        with contextlib.suppress(ValueError):
            return path.resolve().relative_to(rootpath).as_posix()
    return target


def _claim_node_ids(config: pytest.Config, target: str) -> dict[str, str] | None:
    """Take the node ids of gradcheck items out of pytest's arguments; return the items they name.

    pytest resolves ``engine.py::gradcheck[matmul]`` as a file and a test in
    it, and the gradcheck items are no test of the file (nor is a module
    target a file), so pytest would answer "not found". The plugin selects
    these items itself; pytest collects the other arguments as usual. Returns
    None when no argument names a gradcheck item (every item is collected).
    """
    label = _node_label(target, config.rootpath)
    base = config.invocation_params.dir
    kept: list[str] = []
    named: dict[str, str] = {}
    for arg in config.args:
        where, _, rest = arg.partition("::")
        name = rest.removeprefix(ITEM)
        if (rest == ITEM or (name.startswith("[") and name.endswith("]"))) and _same_target(where, target, label, base):
            named.setdefault(name[1:-1] or ITEM, arg)
        else:
            kept.append(arg)
    if not named:
        return None
    config.args = kept
    return named


def _same_target(where: str, target: str, label: str, base: Path) -> bool:
    """Return whether a node id's first part names the target: as printed, as given, or as another path to its file."""
    if where in (label, target):
        return True
    from gradcheck.errors import TargetError
    from gradcheck.loading import split_target

    try:
        (source, name), (target_source, target_name) = split_target(where), split_target(target)
    except TargetError:
        return False
    paths = [Path(source), Path(target_source)]
    if name != target_name or not all(path.suffix in (".py", ".ipynb") for path in paths):
        return False
    return (base / paths[0]).resolve() == (base / paths[1]).resolve()


def _check_named(named: dict[str, str], names: Sequence[str], label: str, modes: Sequence[str] = ()) -> None:
    """Raise ``pytest.UsageError`` for a node id that names no gradcheck item of this session."""
    unknown = {name: arg for name, arg in named.items() if name != ITEM and name not in names}
    if unknown:
        import difflib

        from gradcheck.higher import FORWARD, ORDER2, mode_of_check

        listed = ", ".join(f"{ITEM}[{name}]" for name in names)
        absent = dict.fromkeys(mode for name in unknown if (mode := mode_of_check(name)) and mode not in modes)
        close = [match for name in unknown if mode_of_check(name) not in absent
                 for match in difflib.get_close_matches(name, names, n=1)]
        hint = f" Did you mean {' or '.join(f'{ITEM}[{name}]' for name in close)}?" if close else ""
        # A derived item of a mode this session does not check: say what makes it one.
        why = {
            ORDER2: f" Order-2 items are made when the engine's grad takes create_graph and {ORDER_OPTION} is not 1 "
                    "(docs/contract.md, section 1).",
            FORWARD: " Forward-mode items are made when the engine has jvp(y, xs, tangents) (docs/contract.md, section 1).",
        }
        raise pytest.UsageError(
            f"not found: {' '.join(unknown.values())}; the gradcheck items of {label} in this session are "
            f"{listed} (their ops come from {OPS_OPTION} and the ops the engine defines).{hint}"
            + "".join(why[mode] for mode in absent)
        )


def _report_formats(config: pytest.Config) -> list[str] | None:
    """Return the report formats to write, or None when neither report option is given."""
    from gradcheck.errors import UsageError
    from gradcheck.reports import parse_formats

    formats = config.getoption(FORMAT_OPTION)
    if not formats and not config.getoption(REPORT_DIR_OPTION):
        return None
    try:
        return [fmt.name for fmt in parse_formats(comma_list(formats) if formats else list(DEFAULT_PLUGIN_FORMATS))]
    except UsageError as error:
        # parse_formats words its message for the command line's --format.
        raise UsageError(f"{FORMAT_OPTION}: {error}") from None


def _width(config: pytest.Config) -> int:
    """Return the columns failure panels take: the terminal's, within ``_WIDTH_RANGE``."""
    if config.pluginmanager.get_plugin("terminalreporter") is None:  # e.g. -p no:terminal
        return DEFAULT_WIDTH
    low, high = _WIDTH_RANGE
    return max(low, min(config.get_terminal_writer().fullwidth, high))


def _write_reports(
    report: Report, engine: Any, formats: Sequence[str], report_dir: str, width: int
) -> list[str]:
    """Write ``report`` in ``formats`` and a reproducer per failed check; return the lines printed."""
    from rich.console import Console

    from gradcheck.errors import GradcheckError
    from gradcheck.reports import render_report

    stream = io.StringIO()
    console = Console(file=stream, width=width, color_system=None, force_terminal=False)
    try:
        render_report(report, formats, report_dir, console=console, engine=engine)
    except (OSError, GradcheckError) as error:
        # The tests already ran and reported; a report file that cannot be written is said, not raised.
        return [*stream.getvalue().splitlines(), f"gradcheck could not write its reports: {error}"]
    return stream.getvalue().splitlines()


# --- collection ------------------------------------------------------------------


class GradcheckCollector(pytest.Collector):
    """The gradcheck items of the configured target: one per op, then the program search."""

    def collect(self) -> Iterator[GradcheckItem]:
        session = self.config.stash[_SESSION]
        for check, unsupported in session.items():
            if not session.selected(check):
                continue
            name = f"{ITEM}[{check}]"
            # The node id is given whole so that pytest (9+) reads "[check]" as
            # parameters, as it does for a parametrized test: --lf compares them.
            item = GradcheckItem.from_parent(self, name=name, nodeid=f"{self.nodeid}::{name}", check=check)
            if unsupported:
                item.stash[_OUTCOME] = (unsupported, [])
                if check == UNSUPPORTED_ITEM:
                    reason = session.unsupported_summary(unsupported)
                    item.extra_keyword_matches.update(result.check for result in unsupported)  # -k conv2d finds it
                else:
                    reason = f"unsupported: {unsupported[0].reason}"
                item.add_marker(pytest.mark.skip(reason=reason))
            yield item


class GradcheckItem(pytest.Item):
    """One gradcheck check as a test: an op (``gradcheck[matmul]``) or programs (``gradcheck[programs]``)."""

    def __init__(self, *, check: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check
        # `-m gradcheck` selects these items with the marked tests; `-m "not gradcheck"` drops them.
        self.add_marker(MARKER)

    def runtest(self) -> None:
        from gradcheck.assertions import failure_message

        from gradcheck.higher import base_check

        session = self.config.stash[_SESSION]
        report, notes = session.run(self.check)
        if not report.results:
            base = base_check(self.check)
            pytest.skip(f"not checked: {base}'s own check timed out, crashed or was refused "
                        f"(see {ITEM}[{base}]), and would again in this mode")
        result = report.results[-1]
        self.stash[_OUTCOME] = ([result], notes)
        if result.status == "failed" or (result.status == "unsupported" and session.explicit(self.check)):
            pytest.fail(failure_message(report, [result], _width(self.config)), pytrace=False)
        if result.status == "unsupported":  # found by running: a form of its function the engine refuses
            pytest.skip(f"unsupported: {result.reason}")

    def reportinfo(self) -> tuple[str, int, str]:
        # The target stands where a test file would (in -rs lines, JUnit's file attribute).
        parent = self.parent
        assert parent is not None  # an item is made from its GradcheckCollector
        return parent.nodeid, 0, self.name


# An item's results and section notes, from runtest (or collection, when unsupported) to its report.
_OUTCOME = pytest.StashKey[tuple]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    outcome = item.stash.get(_OUTCOME, None)
    # One report per item carries the result: the call's, or the setup's when it was skipped there.
    if outcome is not None and (call.when == "call" or (call.when == "setup" and report.skipped)):
        results, notes = outcome
        if isinstance(item, GradcheckItem) and item.check == UNSUPPORTED_ITEM:
            setattr(report, RESULTS_ATTRIBUTE, [result.to_dict() for result in results])
            lines = [f"not checked, unsupported: {', '.join(result.check for result in results)}"]
        else:
            (result,) = results
            setattr(report, RESULT_ATTRIBUTE, result.to_dict())
            lines = [f"{result.check}: {result.status}"]
            if result.status != "unsupported":
                lines[0] += f", {result.examples} examples in {result.seconds:.2f} s"
            if result.stored_replayed:
                lines[0] += (f" ({result.stored_replayed} of them failing examples stored by an earlier run, "
                             "replayed first)")
        report.sections.append((SECTION, "\n".join([*lines, *notes])))
    return report


# --- the marker and the fixture ----------------------------------------------------


@dataclass(frozen=True)
class _MarkedCheck:
    """What a ``@pytest.mark.gradcheck`` test checks once its body has passed."""

    engine: Any
    ops: Any
    settings: CheckSettings


_MARKED = pytest.StashKey[_MarkedCheck]()
# Engines loaded for markers, by target string: each file is imported once per session.
_ENGINES = pytest.StashKey[dict]()


def _marked(item: pytest.Item) -> pytest.Mark | None:
    """Return the gradcheck marker of a user's test (None for gradcheck's own items)."""
    return None if isinstance(item, GradcheckItem) else item.get_closest_marker(MARKER)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A marked test with no engine to check is skipped, as the fixture skips;
    # a skip marker (rather than pytest.skip in a hook) reports the test's own location.
    if _SESSION in config.stash:
        return
    for item in items:
        marker = _marked(item)
        if marker is not None and marker.kwargs.get("engine") is None:
            item.add_marker(pytest.mark.skip(reason=NO_TARGET_REASON))


def pytest_runtest_setup(item: pytest.Item) -> None:
    # A plain hook: pytest calls it after the skip markers are evaluated (tryfirst)
    # and before pytest's own, which sets up the fixtures: gradcheck_engine reads _MARKED.
    marker = _marked(item)
    if marker is not None:
        item.stash[_MARKED] = _marked_check(item.config, marker)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    outcome = yield  # raises when the body failed: nothing more to check then
    marked = item.stash.get(_MARKED, None)
    if marked is None:
        return outcome
    from gradcheck.assertions import GradientAssertionError, assert_gradients
    from gradcheck.errors import GradcheckError

    try:
        assert_gradients(marked.engine, marked.ops, **vars(marked.settings))
    except GradientAssertionError as error:
        message = error.render(_width(item.config))
    except GradcheckError as error:
        message = f"@pytest.mark.{MARKER}: {error}"
    else:
        return outcome
    # Failed outside the except clause: the report shows the message, not an exception chain.
    pytest.fail(message, pytrace=False)


def _marked_check(config: pytest.Config, marker: pytest.Mark) -> _MarkedCheck:
    """Return the check a marker asks for, loading its engine; fail the test when it cannot run."""
    from gradcheck.errors import GradcheckError

    problem = _marker_problem(marker)
    if problem is None:
        arguments = dict(marker.kwargs)
        if marker.args:
            arguments["ops"] = marker.args[0]
        engine = arguments.pop("engine", None)
        ops = arguments.pop("ops", None)
        try:
            base = config.stash[_SESSION].settings if _SESSION in config.stash else _check_options(config)[1]
            settings = replace(base, **arguments)  # validates the marker's values
            engine = _engine(config, engine)
        except GradcheckError as error:
            problem = str(error)
        else:
            if engine is None:  # normally skipped by its marker already
                pytest.skip(NO_TARGET_REASON)
            return _MarkedCheck(engine=engine, ops=ops, settings=settings)
    pytest.fail(f"@pytest.mark.{MARKER}: {problem}", pytrace=False)


def _marker_problem(marker: pytest.Mark) -> str | None:
    """Return what is wrong with a marker's arguments, or None."""
    allowed = ("ops", "engine", *MARKER_SETTINGS)
    unknown = [name for name in marker.kwargs if name not in allowed]
    if unknown:
        return (f"unknown keyword argument(s) {', '.join(unknown)}; "
                f"the keyword arguments are {', '.join(allowed)}.")
    if len(marker.args) > 1 or (marker.args and "ops" in marker.kwargs):
        return (f"the ops come once, as the first argument or as ops=: one name or a list, "
                f"e.g. @pytest.mark.{MARKER}(['matmul', 'sum']); got {marker.args!r}.")
    return None


def _engine(config: pytest.Config, target: Any) -> Any:
    """Return the loaded engine for a marker's ``engine=``; None: the session's, if any."""
    from gradcheck.engine import load_engine

    if target is None:
        session = config.stash.get(_SESSION, None)
        return session.engine if session is not None else None
    if not isinstance(target, str):
        return load_engine(target)
    engines = config.stash.setdefault(_ENGINES, {})
    if target not in engines:
        engines[target] = load_engine(target)
    return engines[target]


@pytest.fixture
def gradcheck_engine(request: pytest.FixtureRequest) -> Any:
    """Return the engine under check, loaded: the marker's ``engine=``, else ``--gradcheck``'s.

    The test is skipped when neither names one. The object is a
    ``gradcheck.engine.Engine``: ``variable``, ``value`` and ``grad`` call
    the user's engine; ``.obj`` is the user's engine itself.
    """
    marked = request.node.stash.get(_MARKED, None)
    if marked is not None:
        return marked.engine
    session = request.config.stash.get(_SESSION, None)
    if session is None:
        pytest.skip(NO_TARGET_REASON)
    return session.engine
