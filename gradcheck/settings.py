"""Every setting gradcheck takes, once: its default, its check, its wording, its option.

The command line (``gradcheck check``/``grade``/``check-function``), the
pytest plugin (``--gradcheck-*``), ``assert_gradients``, ``check_function``
and ``grade`` all read their defaults here and validate through the same
:class:`Setting`, so a bad value is worded once, spelled the way the user
spelled the setting::

    --max-examples=0 must be at least 1; --max-examples is how many cases are drawn
    for each op, e.g. --max-examples 200.
    max_examples=0 must be at least 1; max_examples is how many cases are drawn for
    each op, e.g. max_examples=200.

:func:`add_check_options` is the option group the command line and the
pytest plugin share (as pytest-benchmark shares its groups between plugin
and CLI): it takes the parser's "add an option" function and a prefix.

Standard library only: ``gradcheck --help`` and the pytest plugin without a
target import this module, and neither may pay for NumPy.
"""

from __future__ import annotations

import json
import math
import numbers
import secrets
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from gradcheck.errors import UsageError

__all__ = [
    "CHECK_SETTINGS",
    "DEFAULT_DATABASE",
    "DEFAULT_FORMATS",
    "DEFAULT_MAX_EXAMPLES",
    "DEFAULT_MEMORY_MB",
    "DEFAULT_PLUGIN_FORMATS",
    "DEFAULT_PROGRAMS",
    "DEFAULT_REPORT_DIR",
    "DEFAULT_SEED",
    "DEFAULT_SUBMISSION_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "DTYPES",
    "RANDOM",
    "MAX_EXAMPLES",
    "MEMORY_MB",
    "PROGRAMS",
    "SEED",
    "SUBMISSION_TIMEOUT",
    "TIMEOUT",
    "TOLERANCE",
    "VALUE_SETS",
    "WORKERS",
    "CheckSettings",
    "Setting",
    "add_check_options",
    "add_database_options",
    "check_dtype",
    "comma_list",
    "draw_seed",
    "ops_option",
    "read_check_options",
    "read_database_options",
    "supported_params_option",
]

#: The dtypes gradcheck checks engines and functions in.
DTYPES = ("float32", "float64")
#: Value sets per drawn example of an op: the shapes and parameters of one
#: Hypothesis example are checked on this many sets of operands and
#: cotangents, which the oracles answer for in one call each. A set costs
#: about a fifth of what a one-set example did (benchmarks/README.md).
VALUE_SETS = 8
#: Where report files go, and in which formats, when nothing is said.
DEFAULT_REPORT_DIR = "reports"
DEFAULT_FORMATS = ("text",)
#: The pytest plugin's formats when only ``--gradcheck-report-dir`` is given:
#: the terminal is pytest's, so the record is a file.
DEFAULT_PLUGIN_FORMATS = ("json",)
#: Where failing examples are stored and replayed first on the next run
#: (``gradcheck._database``), relative to the folder the run starts in (the
#: pytest plugin: the rootdir). Grading and ``--isolate`` store none.
DEFAULT_DATABASE = ".gradcheck/examples"
#: The word a setting that takes ``random`` (the seed) reads as "draw a fresh value".
RANDOM = "random"
#: Seeds drawn for ``--seed random`` lie below this: short enough to read out and type back.
_DRAWN_SEEDS = 2**32


def draw_seed() -> int:
    """Return a fresh seed for ``--seed random``, from the operating system's entropy (not ``random``'s state)."""
    return secrets.randbelow(_DRAWN_SEEDS)


@dataclass(frozen=True)
class Setting:
    """One numeric setting: its name, type, bounds, default, and words for messages and ``--help``.

    ``name`` is the Python keyword (``max_examples``); the option is
    ``--`` + the name with dashes unless ``flag`` says otherwise. ``low`` is
    the lowest value (``low_allowed``) or the bound above it; ``high``, if
    any, an exclusive upper bound. ``none_means``: None is allowed from
    Python and means this (it is the absence of the option on a command line).
    ``random``: the word ``random`` (:data:`RANDOM`), as an option's value or
    from Python, draws a fresh value (:func:`draw_seed`), which the caller prints.
    """

    name: str
    kind: type  # int or float
    low: float
    low_allowed: bool
    meaning: str
    example: str
    default: Any
    help: str
    high: float | None = None
    none_means: str | None = None
    flag: str | None = None
    metavar: str = "N"
    random: bool = False

    def option(self, prefix: str = "--") -> str:
        """Return the command-line option: ``--max-examples``, or ``--gradcheck-max-examples`` for that prefix."""
        return prefix + (self.flag or self.name.replace("_", "-"))

    def check(self, value: Any, spelled: str | None = None) -> Any:
        """Return ``value`` (a Python value) when it is good; raise UsageError worded for ``spelled``."""
        spelled = spelled or self.name
        if value is None and self.none_means is not None:
            return None
        if self.random and value == RANDOM:
            return draw_seed()
        wanted = numbers.Integral if self.kind is int else numbers.Real
        if isinstance(value, bool) or not isinstance(value, wanted):
            raise UsageError(self.message(spelled, repr(value), f"is not {self._kind_words}"))
        self._check_bounds(value, repr(value), spelled)
        return value

    def parse(self, text: str, spelled: str | None = None) -> Any:
        """Return ``text`` (an option's value) as this setting's number; raise UsageError worded for ``spelled``."""
        spelled = spelled or self.option()
        if self.random and text.strip() == RANDOM:
            return draw_seed()
        try:
            value = self.kind(text)
        except ValueError:
            raise UsageError(self.message(spelled, repr(text), f"is not {self._kind_words}")) from None
        self._check_bounds(value, text, spelled)
        return value

    def read(self, text: str | None, spelled: str | None = None) -> Any:
        """Return an option's value: ``text`` parsed, or the default when the option was not given (None)."""
        return self.default if text is None else self.parse(text, spelled)

    def message(self, spelled: str, shown: str, problem: str) -> str:
        """Return the one paragraph for a bad value: ``spelled=shown problem; what the setting is, e.g. ...``."""
        option = spelled.startswith("-")
        example = f"{spelled} {self.example}" if option else f"{spelled}={self.example}"
        none = f", or None for {self.none_means}" if self.none_means and not option else ""
        return f"{spelled}={shown} {problem}{none}; {spelled} is {self.meaning}, e.g. {example}."

    def add_option(self, add_option: Callable[..., Any], prefix: str = "--", *, help: str | None = None) -> None:
        """Add this setting's option (default None: not given) with ``add_option``, argparse- or pytest-style.

        ``--help`` shows the default; a setting without one words its own in ``help``.
        """
        help = help or self.help
        if self.default is not None:
            help += f" (default: {self.default:g})" if self.kind is float else f" (default: {self.default})"
        add_option(self.option(prefix), metavar=self.metavar, default=None, help=help)

    @property
    def _kind_words(self) -> str:
        words = "a whole number" if self.kind is int else "a number"
        return f"{words} or {RANDOM}" if self.random else words

    def _check_bounds(self, value: Any, shown: str, spelled: str) -> None:
        finite = self.kind is int or math.isfinite(value)
        too_low = value < self.low if self.low_allowed else value <= self.low
        too_high = self.high is not None and value >= self.high
        if too_low or too_high or not finite:
            bound = f"at least {self.low:g}" if self.low_allowed else f"greater than {self.low:g}"
            if self.kind is float:  # a float may also be nan or inf
                bound = f"a finite number {bound}"
            if self.high is not None:
                bound += f" and less than {self.high:g}"
            raise UsageError(self.message(spelled, shown, f"must be {bound}"))


MAX_EXAMPLES = Setting(
    "max_examples", int, 1, True, "how many cases are drawn for each op", "200", default=100,
    help=f"examples drawn per op, each checked on {VALUE_SETS} sets of values",
)
PROGRAMS = Setting(
    "programs", int, 0, True, "how many composite programs are drawn (0: none)", "500", default=200,
    help="composite programs drawn after the single ops, to catch bugs in the backward pass itself",
)
SEED = Setting(
    "seed", int, 0, True,
    f"the random seed, a whole number or {RANDOM} for a fresh one (printed); the same seed replays the same search",
    "7", default=0, help=f"random seed, or {RANDOM} for a fresh one; the same seed replays the same search",
    metavar="S", random=True,
)
TIMEOUT = Setting(
    "timeout", float, 0, False, "how many seconds one engine call may take", "30", default=10.0,
    help="time limit for one engine call", none_means="no limit", metavar="SECONDS",
)
#: The engine worker's memory limit of ``gradcheck grade`` (``check`` sets none
#: unless asked): submissions are untrusted and run side by side, so one that
#: hoards memory must fail its own check, not take the grading machine down.
MEMORY_MB = Setting(
    "memory_mb", int, 0, False, "the engine worker's memory limit in MiB", "2048", default=4096,
    help="memory limit for each engine worker, in MiB", none_means="no limit", metavar="MB",
)
WORKERS = Setting(
    "workers", int, 1, True, "how many submissions are checked at once", "4", default=None,
    help="submissions checked at once (default: the number of CPUs)",
)
#: How long one submission's whole check may take before it is stopped. Hangs
#: inside engine calls are already cut at ``--timeout``; this is the backstop
#: for everything else (a load that never ends, a pathological search).
SUBMISSION_TIMEOUT = Setting(
    "submission_timeout", float, 0, False, "how many seconds one submission's whole check may take", "3600",
    default=1800.0, help="time limit for one submission's whole check", metavar="SECONDS",
)
TOLERANCE = Setting(
    "tolerance", float, 0, False, "the relative tolerance of the comparison", "1e-4", default=None,
    help="relative tolerance (default: gradcheck's for the dtype, 1e-3 or 1e-7)", high=1,
    none_means="the default of the dtype", flag="rtol", metavar="R",
)

ORDER = Setting(
    "order", int, 1, True, "the highest order of derivatives checked, 1 or 2", "2", default=None,
    help="check derivatives up to this order: 1, or 2 for second derivatives too (the engine's grad must "
    "take create_graph) (default: 2 where the engine's grad takes create_graph, else 1)",
    high=3, none_means="2 where the engine supports it, else 1",
)

DEFAULT_MAX_EXAMPLES: int = MAX_EXAMPLES.default
DEFAULT_PROGRAMS: int = PROGRAMS.default
DEFAULT_SEED: int = SEED.default
DEFAULT_TIMEOUT: float = TIMEOUT.default
DEFAULT_MEMORY_MB: int = MEMORY_MB.default
DEFAULT_SUBMISSION_TIMEOUT: float = SUBMISSION_TIMEOUT.default

#: The settings of every check, in ``add_check_options``'s order (after ``--ops``).
CHECK_SETTINGS = (MAX_EXAMPLES, PROGRAMS, SEED, TIMEOUT, ORDER)


@dataclass(frozen=True)
class CheckSettings:
    """How hard to search: the settings every check takes, with their defaults.

    The field names are ``assert_gradients``'s keyword arguments, so
    ``assert_gradients(engine, ops, **vars(settings))`` passes them all on.
    Raises ``UsageError`` naming the first bad value.
    """

    max_examples: int = DEFAULT_MAX_EXAMPLES
    programs: int = DEFAULT_PROGRAMS
    seed: int = DEFAULT_SEED
    timeout: float | None = DEFAULT_TIMEOUT
    # 1, 2, or None: 2 where the engine's grad takes create_graph (gradcheck.higher).
    order: int | None = None
    tolerances: Mapping[str, Any] | None = None
    # The folder failing examples are stored in and replayed from first (None: none is).
    database: str | None = None
    # Declared partial support given to gradcheck rather than by the engine
    # (docs/contract.md, section 1); checked against the engine by the runner.
    supported_params: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        for setting in CHECK_SETTINGS:
            value = getattr(self, setting.name)
            checked = setting.check(value)
            if checked is not value:  # seed="random": the drawn number is what runs and is reported
                object.__setattr__(self, setting.name, checked)


def check_dtype(name: str | None, given: Any = None, spelled: str = "dtype") -> str:
    """Return ``name`` when it is one of :data:`DTYPES`; else raise UsageError showing ``given`` (default: ``name``)."""
    if name not in DTYPES:
        shown = name if given is None else given
        raise UsageError(
            f"{spelled}={shown!r} is not a dtype gradcheck checks; give "
            f"{' or '.join(repr(dtype) for dtype in DTYPES)}."
        )
    return name


def comma_list(values: Sequence[str] | None) -> list[str]:
    """Return the names of a repeatable, comma-separated option (``--ops a,b --ops c``)."""
    return [name.strip() for value in values or () for name in value.split(",") if name.strip()]


def ops_option(values: Sequence[str] | None, spelled: str = "--ops") -> list[str] | None:
    """Return the op names ``--ops`` gives (None: not given); raise UsageError when it names none."""
    if values is None:
        return None
    names = comma_list(values)
    if not names:
        raise UsageError(
            f"{spelled}={','.join(values)!r} names no op; give op names separated by commas, "
            f"e.g. {spelled} matmul,sum, or leave {spelled} out to check every op."
        )
    return names


def supported_params_option(text: str | None, spelled: str = "--supported-params") -> Any:
    """Return the declaration ``--supported-params`` gives, parsed JSON (None: not given).

    Only its JSON is checked here; what it declares is checked against the
    engine when the check starts (``runner.run_checks``).
    """
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(
            f"{spelled}={text!r} is not JSON ({exc}); give the declaration an engine's supported_params "
            f"would hold, in JSON (docs/contract.md, section 1), e.g. "
            f"""{spelled} '{{"sum": {{"keepdims": [false]}}, "softmax": {{"axis": [-1]}}}}'."""
        ) from None


def add_check_options(
    add_option: Callable[..., Any], prefix: str = "--", *, help: Mapping[str, str] | None = None
) -> None:
    """Add the options of every check: ``{prefix}ops``, ``max-examples``, ``programs``, ``seed``, ``timeout``.

    ``add_option`` is ``argparse.ArgumentParser.add_argument`` or a pytest
    option group's ``addoption``; every option's default is None (not
    given), and :func:`read_check_options` reads them back. ``help`` words an
    option differently for one command, by setting name.
    """
    help = help or {}
    add_option(f"{prefix}ops", action="append", metavar="OP,OP...",
               help=help.get("ops", "ops to check, by name or alias "
                             "(default: every op gradcheck knows; those the engine does not define are reported "
                             "unsupported)"))
    for setting in CHECK_SETTINGS:
        setting.add_option(add_option, prefix, help=help.get(setting.name))
    add_option(f"{prefix}supported-params", metavar="JSON", help=help.get(
        "supported_params",
        "declared partial support, as an engine's supported_params would hold it, in JSON "
        """(e.g. '{"sum": {"keepdims": [false]}}'): only these parameter values are drawn for """
        "these ops; it replaces what the engine declares for the ops it names",
    ))


def read_check_options(get_option: Callable[[str], Any], prefix: str = "--") -> dict[str, Any]:
    """Return the options :func:`add_check_options` added that were given, validated, by setting name.

    ``get_option`` returns an option's value given the option (``--seed``);
    ``ops`` comes back as a list of names, the rest as numbers. Raises
    UsageError, worded with the option, for the first bad value.
    """
    given: dict[str, Any] = {}
    ops = ops_option(get_option(f"{prefix}ops"), f"{prefix}ops")
    if ops is not None:
        given["ops"] = ops
    for setting in CHECK_SETTINGS:
        text = get_option(setting.option(prefix))
        if text is not None:
            given[setting.name] = setting.parse(text, setting.option(prefix))
    supported = supported_params_option(get_option(f"{prefix}supported-params"), f"{prefix}supported-params")
    if supported is not None:
        given["supported_params"] = supported
    return given


def add_database_options(add_option: Callable[..., Any], prefix: str = "--", *, default: str) -> None:
    """Add ``{prefix}database DIR`` and ``{prefix}no-database``: where failing examples are kept, or nowhere.

    ``default`` words, for ``--help``, where they are kept when neither is given.
    """
    add_option(f"{prefix}database", metavar="DIR", default=None, help=(
        "store each check's failing examples in DIR and replay them first on the next run, so a fixed "
        f"engine is confirmed at once and a broken one fails on the same minimal case (default: {default})"
    ))
    add_option(f"{prefix}no-database", action="store_true", default=False,
               help="neither replay nor store failing examples: the seed alone decides the search")


def read_database_options(get_option: Callable[[str], Any], prefix: str = "--", *, default: str | None) -> str | None:
    """Return the database folder the options of :func:`add_database_options` ask for (None: none).

    ``default`` is the folder when neither option is given (None: none).
    Raises UsageError when both are given.
    """
    folder, off = get_option(f"{prefix}database"), get_option(f"{prefix}no-database")
    if folder is not None and off:
        raise UsageError(
            f"{prefix}database={folder!r} and {prefix}no-database contradict each other; give "
            f"{prefix}database DIR to keep failing examples in DIR, or {prefix}no-database to keep none."
        )
    if off:
        return None
    if folder is not None and not str(folder).strip():
        raise UsageError(
            f"{prefix}database={folder!r} names no folder; give a folder, e.g. {prefix}database "
            f"{DEFAULT_DATABASE}, or {prefix}no-database to keep no failing example."
        )
    return default if folder is None else str(folder)
