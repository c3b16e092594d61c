"""gradcheck.settings: every default once, one wording per bad value, one option group.

The tables below are the contract: each setting's default, and for each bad
value the message a user reads, spelled as Python (``max_examples=0``) or as
an option (``--max-examples=0``). The entry points (command line, pytest
plugin, ``assert_gradients``, ``check_function``, ``grade``) are checked to
take their defaults from here, not to agree with a copy.
"""

from __future__ import annotations

import argparse
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from gradcheck import settings
from gradcheck.errors import UsageError
from gradcheck.settings import (
    MAX_EXAMPLES,
    MEMORY_MB,
    PROGRAMS,
    SEED,
    SUBMISSION_TIMEOUT,
    TIMEOUT,
    TOLERANCE,
    WORKERS,
    CheckSettings,
    add_check_options,
    read_check_options,
)

REPO = Path(__file__).resolve().parent.parent

# --- defaults ---------------------------------------------------------------------

DEFAULTS = [
    pytest.param(settings.DEFAULT_MAX_EXAMPLES, 100, id="max_examples"),
    pytest.param(settings.DEFAULT_PROGRAMS, 200, id="programs"),
    pytest.param(settings.DEFAULT_SEED, 0, id="seed"),
    pytest.param(settings.DEFAULT_TIMEOUT, 10.0, id="timeout"),
    pytest.param(settings.DEFAULT_MEMORY_MB, 4096, id="memory_mb-of-grade"),
    pytest.param(settings.DEFAULT_SUBMISSION_TIMEOUT, 1800.0, id="submission_timeout"),
    pytest.param(settings.VALUE_SETS, 8, id="value_sets"),
    pytest.param(settings.DEFAULT_REPORT_DIR, "reports", id="report_dir"),
    pytest.param(settings.DEFAULT_FORMATS, ("text",), id="formats"),
    pytest.param(settings.DEFAULT_PLUGIN_FORMATS, ("json",), id="plugin-formats"),
    pytest.param(settings.DTYPES, ("float32", "float64"), id="dtypes"),
    pytest.param(WORKERS.default, None, id="workers-the-cpus"),
    pytest.param(TOLERANCE.default, None, id="tolerance-of-the-dtype"),
]


@pytest.mark.parametrize(("value", "expected"), DEFAULTS)
def test_default(value, expected):
    assert value == expected


def _signature_default(function, name):
    return inspect.signature(function).parameters[name].default


def _cli_check_options(*argv):
    from gradcheck.cli import _check_options, build_parser

    return _check_options(build_parser().parse_args(["check", "target", *argv]))


def _entry_point_defaults():
    """Return (entry point, its default, the settings' default) for every entry point's default."""
    from gradcheck import assertions, function, grade, reports, runner
    from gradcheck.grade import GradeOptions

    grade_options = GradeOptions()
    _, cli_settings = _cli_check_options()
    rows = [
        ("runner.DEFAULT_MAX_EXAMPLES", runner.DEFAULT_MAX_EXAMPLES, settings.DEFAULT_MAX_EXAMPLES),
        ("runner.DEFAULT_PROGRAMS", runner.DEFAULT_PROGRAMS, settings.DEFAULT_PROGRAMS),
        ("runner.DEFAULT_TIMEOUT", runner.DEFAULT_TIMEOUT, settings.DEFAULT_TIMEOUT),
        ("runner.VALUE_SETS", runner.VALUE_SETS, settings.VALUE_SETS),
        ("reports.DEFAULT_REPORT_DIR", reports.DEFAULT_REPORT_DIR, settings.DEFAULT_REPORT_DIR),
        ("reports.DEFAULT_FORMATS", reports.DEFAULT_FORMATS, settings.DEFAULT_FORMATS),
        ("grade.DEFAULT_MEMORY_MB", grade.DEFAULT_MEMORY_MB, settings.DEFAULT_MEMORY_MB),
        ("grade.DEFAULT_SUBMISSION_TIMEOUT", grade.DEFAULT_SUBMISSION_TIMEOUT, settings.DEFAULT_SUBMISSION_TIMEOUT),
        ("GradeOptions().memory_mb", grade_options.memory_mb, settings.DEFAULT_MEMORY_MB),
        ("GradeOptions().submission_timeout", grade_options.submission_timeout,
         settings.DEFAULT_SUBMISSION_TIMEOUT),
        ("run_checks(seed=)", _signature_default(runner.run_checks, "seed"), settings.DEFAULT_SEED),
        ("run_checks(max_examples=)", _signature_default(runner.run_checks, "max_examples"),
         settings.DEFAULT_MAX_EXAMPLES),
        ("check_function(max_examples=)", _signature_default(function.check_function, "max_examples"),
         settings.DEFAULT_MAX_EXAMPLES),
        ("check_function(seed=)", _signature_default(function.check_function, "seed"), settings.DEFAULT_SEED),
    ]
    for setting in (MAX_EXAMPLES, PROGRAMS, SEED, TIMEOUT):
        rows += [
            (f"assert_gradients({setting.name}=)",
             _signature_default(assertions.assert_gradients, setting.name), setting.default),
            (f"CheckSettings().{setting.name}", getattr(CheckSettings(), setting.name), setting.default),
            (f"GradeOptions().{setting.name}", getattr(grade_options, setting.name), setting.default),
            (f"gradcheck check without --{setting.name}", getattr(cli_settings, setting.name), setting.default),
        ]
    return rows


def test_every_entry_points_default_is_the_settings():
    wrong = [(where, value, expected) for where, value, expected in _entry_point_defaults() if value != expected]
    assert not wrong


def test_the_plugins_settings_without_options_are_the_defaults():
    from gradcheck.pytest_plugin import OPTION_PREFIX, _check_options

    class Config:
        @staticmethod
        def getoption(option):
            assert option.startswith(OPTION_PREFIX), option
            return None

    assert _check_options(Config()) == (None, CheckSettings())


# --- one wording per bad value ------------------------------------------------------

# setting, bad Python value, the message for it, the bad option text, the message for that.
BAD_VALUES = [
    pytest.param(
        MAX_EXAMPLES, 0,
        "max_examples=0 must be at least 1; max_examples is how many cases are drawn for each op, "
        "e.g. max_examples=200.",
        "0",
        "--max-examples=0 must be at least 1; --max-examples is how many cases are drawn for each op, "
        "e.g. --max-examples 200.",
        id="max_examples-zero",
    ),
    pytest.param(
        MAX_EXAMPLES, 2.5, "max_examples=2.5 is not a whole number; ",
        "2.5", "--max-examples='2.5' is not a whole number; ", id="max_examples-fraction",
    ),
    pytest.param(
        MAX_EXAMPLES, True, "max_examples=True is not a whole number; ",
        "many", "--max-examples='many' is not a whole number; ", id="max_examples-not-a-number",
    ),
    pytest.param(PROGRAMS, -1, "programs=-1 must be at least 0; ", "-1", "--programs=-1 must be at least 0; ",
                 id="programs-negative"),
    pytest.param(SEED, 1.5, "seed=1.5 is not a whole number or random; ", "0x10",
                 "--seed='0x10' is not a whole number or random; ", id="seed-not-whole"),
    pytest.param(SEED, -1, "seed=-1 must be at least 0; ", "-1", "--seed=-1 must be at least 0; ",
                 id="seed-negative"),
    pytest.param(
        TIMEOUT, 0,
        "timeout=0 must be a finite number greater than 0, or None for no limit; timeout is how many "
        "seconds one engine call may take, e.g. timeout=30.",
        "0",
        "--timeout=0 must be a finite number greater than 0; --timeout is how many seconds one engine "
        "call may take, e.g. --timeout 30.",
        id="timeout-zero",
    ),
    pytest.param(TIMEOUT, float("nan"), "timeout=nan must be a finite number greater than 0",
                 "nan", "--timeout=nan must be a finite number greater than 0; ", id="timeout-nan"),
    pytest.param(TIMEOUT, "soon", "timeout='soon' is not a number, or None for no limit; ",
                 "soon", "--timeout='soon' is not a number; ",
                 id="timeout-not-a-number"),
    pytest.param(MEMORY_MB, 0, "memory_mb=0 must be greater than 0", "0", "--memory-mb=0 must be greater than 0; ",
                 id="memory_mb-zero"),
    pytest.param(WORKERS, 0, "workers=0 must be at least 1; ", "0", "--workers=0 must be at least 1; ",
                 id="workers-zero"),
    pytest.param(SUBMISSION_TIMEOUT, -5, "submission_timeout=-5 must be a finite number greater than 0; ",
                 "-5", "--submission-timeout=-5 must be a finite number greater than 0; ",
                 id="submission_timeout-negative"),
    pytest.param(
        TOLERANCE, 2,
        "tolerance=2 must be a finite number greater than 0 and less than 1, or None for the default "
        "of the dtype; tolerance is the relative tolerance of the comparison, e.g. tolerance=1e-4.",
        "2",
        "--rtol=2 must be a finite number greater than 0 and less than 1; --rtol is the relative "
        "tolerance of the comparison, e.g. --rtol 1e-4.",
        id="tolerance-too-large",
    ),
]


@pytest.mark.parametrize(("setting", "value", "message", "text", "option_message"), BAD_VALUES)
def test_bad_value_from_python(setting, value, message, text, option_message):
    with pytest.raises(UsageError) as raised:
        setting.check(value)
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize(("setting", "value", "message", "text", "option_message"), BAD_VALUES)
def test_bad_value_of_an_option(setting, value, message, text, option_message):
    with pytest.raises(UsageError) as raised:
        setting.parse(text)
    assert str(raised.value).startswith(option_message)


@pytest.mark.parametrize(("setting", "good", "text", "parsed"), [
    pytest.param(MAX_EXAMPLES, 1, "7", 7, id="max_examples"),
    pytest.param(PROGRAMS, 0, "0", 0, id="programs-none"),
    pytest.param(TIMEOUT, None, "0.5", 0.5, id="timeout"),
    pytest.param(TOLERANCE, None, "1e-4", 1e-4, id="tolerance"),
])
def test_good_values_come_back(setting, good, text, parsed):
    assert setting.check(good) == good
    assert setting.parse(text) == parsed
    assert setting.read(None) == setting.default


def test_an_option_is_worded_with_the_prefix_it_was_given_with():
    with pytest.raises(UsageError, match=r"^--gradcheck-max-examples=0 must be at least 1; "
                                         r"--gradcheck-max-examples is .* e\.g\. --gradcheck-max-examples 200\."):
        read_check_options({"--gradcheck-max-examples": "0"}.get, "--gradcheck-")


@pytest.mark.parametrize(("given", "fragment"), [
    pytest.param({"max_examples": 0}, "max_examples=0 must be at least 1"),
    pytest.param({"seed": 1.5}, "seed=1.5 is not a whole number"),
    pytest.param({"timeout": -1.0}, "timeout=-1.0 must be a finite number greater than 0"),
])
def test_check_settings_words_a_bad_value_as_python(given, fragment):
    with pytest.raises(UsageError, match=fragment):
        CheckSettings(**given)


@pytest.mark.parametrize(("dtype", "message"), [
    pytest.param("float16", "dtype='float16' is not a dtype gradcheck checks; give 'float32' or 'float64'.",
                 id="float16"),
    pytest.param(None, "dtype=None is not a dtype gradcheck checks; give 'float32' or 'float64'.", id="none"),
])
def test_bad_dtype(dtype, message):
    with pytest.raises(UsageError) as raised:
        settings.check_dtype(dtype)
    assert str(raised.value) == message


@pytest.mark.parametrize(("values", "expected"), [
    pytest.param(None, None, id="not-given"),
    pytest.param(["matmul,sum", " mean "], ["matmul", "sum", "mean"], id="commas-and-repeats"),
])
def test_ops_option(values, expected):
    assert settings.ops_option(values) == expected


def test_ops_option_naming_no_op_says_so_with_its_spelling():
    with pytest.raises(UsageError, match=r"^--gradcheck-ops=',' names no op; .* e\.g\. --gradcheck-ops matmul,sum"):
        settings.ops_option([","], "--gradcheck-ops")


# --- one option group for the command line and the plugin -------------------------------


def _recorded_options(prefix):
    """Return {option without its prefix: (metavar, default, help)} as ``add_check_options`` adds them."""
    recorded = {}

    def add_option(option, **kwargs):
        recorded[option.removeprefix(prefix)] = (kwargs.get("metavar"), kwargs.get("default"), kwargs.get("help"))

    add_check_options(add_option, prefix)
    return recorded


def _plugin_options():
    """Return {option: (metavar, default, help)} of every option the pytest plugin adds."""
    from gradcheck import pytest_plugin

    recorded = {}

    class Group:
        def addoption(self, option, **kwargs):
            recorded[option] = (kwargs.get("metavar"), kwargs.get("default"), kwargs.get("help"))

    class Parser:
        def getgroup(self, *args, **kwargs):
            return Group()

        def addini(self, *args, **kwargs):
            pass

    pytest_plugin.pytest_addoption(Parser())
    return recorded


def _cli_options(command):
    """Return {option: (metavar, default, help)} of a ``gradcheck`` command's parser."""
    from gradcheck.cli import build_parser

    subparsers = next(action for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction))
    return {
        option: (action.metavar, action.default, action.help)
        for action in subparsers.choices[command]._actions for option in action.option_strings
    }


def test_the_check_options_are_one_group_with_a_prefix():
    assert _recorded_options("--") == _recorded_options("--gradcheck-")
    assert list(_recorded_options("--")) == ["ops", "max-examples", "programs", "seed", "timeout", "order", "supported-params"]


@pytest.mark.parametrize("command", ["check", "grade"])
def test_the_cli_and_the_plugin_have_the_same_check_options_and_defaults(command):
    cli, plugin = _cli_options(command), _plugin_options()
    for option in _recorded_options("--"):
        cli_metavar, cli_default, cli_help = cli[f"--{option}"]
        plugin_metavar, plugin_default, plugin_help = plugin[f"--gradcheck-{option}"]
        assert (cli_metavar, cli_default) == (plugin_metavar, plugin_default), option
        if command == "grade" and option == "order":
            # The one default grade words otherwise: a gradebook's columns are the same for every
            # submission, so grade checks order 1 unless --order 2 (docs/contract.md, section 2).
            assert cli_help.endswith("default 1, first derivatives"), cli_help
            continue
        # Help may be worded for the command; the default it shows is the same.
        assert cli_help.rpartition("(default")[2] == plugin_help.rpartition("(default")[2], option


@pytest.mark.parametrize(("argv", "expected"), [
    pytest.param([], {}, id="nothing-given"),
    pytest.param(["--ops", "matmul,sum", "--max-examples", "5", "--programs", "0", "--seed", "3", "--timeout", "2"],
                 {"ops": ["matmul", "sum"], "max_examples": 5, "programs": 0, "seed": 3, "timeout": 2.0},
                 id="everything-given"),
])
def test_read_check_options_returns_what_was_given(argv, expected):
    parser = argparse.ArgumentParser()
    add_check_options(parser.add_argument)
    args = parser.parse_args(argv)
    assert read_check_options(lambda option: getattr(args, option[2:].replace("-", "_"))) == expected


# --- where things live -----------------------------------------------------------------


def test_moved_names_keep_working_where_they_were():
    from gradcheck import assertions, grade, results

    assert assertions.CheckSettings is CheckSettings
    assert (grade.Gradebook, grade.Row, grade.ERROR) == (results.Gradebook, results.Row, results.ERROR)


def test_settings_import_only_the_standard_library():
    # `gradcheck --help` and the pytest plugin without a target import it.
    code = "import sys, gradcheck.settings; print([m for m in ('numpy', 'gradcheck.runner') if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


def test_the_gradebook_renderer_imports_the_result_model_not_the_grader():
    import gradcheck.reports.gradebook as renderer

    assert "gradcheck.grade" not in Path(renderer.__file__).read_text()
