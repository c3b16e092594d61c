"""Declared partial support (``supported_params``, docs/contract.md, section 1).

An engine that handles only some parameter values of an op says which; gradcheck
draws only those, still finds the real bugs on them, says in every report what it
checked and what not, and refuses a declaration it cannot use with exit status 2.
"""

from __future__ import annotations

import io
import json
import types
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradcheck.cli import main
from gradcheck.engine import load_engine
from gradcheck.errors import TargetError
from gradcheck.results import CheckResult, Report
from gradcheck.strategies import op_cases, programs
from gradcheck.support import parse_supported_params, support_note, supported_params_data

TESTS = Path(__file__).parent
CORRECT = TESTS / "targets" / "partial_support.py"
BUGGY = TESTS / "engines" / "partial_support_bugs.py"
DECLARED = {"sum": {"keepdims": (False,)}, "softmax": {"axis": (-1,)}, "mean": {"axis": (None,)}}


# --- the declaration ---------------------------------------------------------------


@pytest.mark.parametrize(
    "declared, parsed",
    [
        pytest.param({"sum": {"keepdims": [False]}}, {"sum": {"keepdims": (False,)}}, id="flag"),
        pytest.param({"mean": {"axis": [None, 0, [0, -1]]}}, {"mean": {"axis": (None, 0, (0, -1))}}, id="axes"),
        pytest.param({"transpose": {"axes": [(1, 0)]}}, {"permute_dims": {"axes": ((1, 0),)}}, id="alias"),
        pytest.param({"pow": {"p": [2, 3]}}, {"pow": {"p": (2.0, 3.0)}}, id="exponents"),
        pytest.param({"reshape": {"shape": [[-1]]}}, {"reshape": {"shape": ((-1,),)}}, id="flatten-only"),
    ],
)
def test_a_declaration_is_read_into_one_canonical_form(declared, parsed):
    assert parse_supported_params(declared) == parsed
    # What a worker sends (JSON data) reads back the same.
    assert parse_supported_params(json.loads(json.dumps(supported_params_data(parsed)))) == parsed


BAD = [
    pytest.param(["sum"], ["['sum']", "a dict from op names"], id="not-a-dict"),
    pytest.param({"summ": {"axis": [0]}}, ["'summ'", "not an op gradcheck checks"], id="unknown-op"),
    pytest.param({"add": {"axis": [0]}}, ["'add'", "no parameters"], id="op-without-parameters"),
    pytest.param({"sum": {"keepdim": [False]}}, ["'keepdim'", "no such parameter", "axis, keepdims"],
                 id="unknown-parameter"),
    pytest.param({"sum": {"keepdims": False}}, ["as False", "a list", "[False]"], id="not-a-list"),
    pytest.param({"sum": {"keepdims": [1]}}, ["the value 1", "True or False"], id="not-a-flag"),
    pytest.param({"softmax": {"axis": [None]}}, ["the value None", "an int"], id="softmax-axis-none"),
    pytest.param({"pow": {"p": [0]}}, ["the value 0", "0.25 <= abs(p) <= 3"], id="exponent-zero"),
    pytest.param({"sum": {"keepdims": []}}, ["empty list", "nothing to check"], id="empty"),
    pytest.param({"sum": {"axis": [5]}}, ["the value 5", "fits no operand", "nothing could be checked"],
                 id="axis-out-of-reach"),
    pytest.param({"reshape": {"shape": [(5,)]}}, ["(5,)", "fits no operand"], id="shape-out-of-reach"),
    pytest.param({"sum": {}}, ["non-empty dict"], id="no-parameters-declared"),
]


@pytest.mark.parametrize("declared, words", BAD)
def test_a_bad_declaration_says_what_is_wrong(declared, words):
    with pytest.raises(ValueError) as error:
        parse_supported_params(declared)
    for word in words:
        assert word in str(error.value)


def test_a_declaration_for_an_op_the_engine_lacks_is_refused():
    with pytest.raises(ValueError, match="'max', which the engine does not define"):
        parse_supported_params({"max": {"keepdims": [False]}}, {"sum": None})


def _engine_declaring(declared):
    engine = load_engine(CORRECT.as_posix() + ":engine", quiet_tensorflow=False)
    return types.SimpleNamespace(**{**vars(engine.obj), "supported_params": declared})


@pytest.mark.parametrize("declared, words", BAD[:3] + BAD[8:10])
def test_loading_an_engine_with_a_bad_declaration_is_one_paragraph(declared, words):
    with pytest.raises(TargetError) as error:
        load_engine(_engine_declaring(declared))
    message = str(error.value)
    assert "\n" not in message
    for word in ["its supported_params", "docs/contract.md, section 1", "remove supported_params", *words]:
        assert word in message


def test_gradcheck_check_exits_2_on_a_bad_declaration(tmp_path, capsys):
    engine = tmp_path / "engine.py"
    engine.write_text(
        "from gradcheck.examples.numpy_engine import *  # noqa: F403\n"
        "supported_params = {'sum': {'keepdims': []}}\n",
        encoding="utf-8",
    )
    from gradcheck.sandbox import available

    # In a worker (which loads no TensorFlow): its refusal comes back as the same paragraph.
    isolate = ["--isolate"] + ([] if available() is None else ["--no-sandbox"])
    assert main(["check", str(engine), "--ops", "sum", "--report-dir", str(tmp_path), *isolate]) == 2
    err = capsys.readouterr().err
    assert "supported_params" in err and "engine.py:2" in err and "nothing to check" in err


# --- drawing -----------------------------------------------------------------------


# A declared (1, 0) fits only matrices: the other ranks drawn are rejected, as in a real run
# (whose search suppresses health checks); two in three is the expected rate, not a problem.
@settings(max_examples=20, deadline=None, database=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.data())
def test_only_declared_values_are_drawn_and_the_others_vary(data):
    sum_case = data.draw(op_cases("sum", supported={"keepdims": [False]}))
    assert sum_case.params["keepdims"] is False
    softmax_case = data.draw(op_cases("softmax", supported={"axis": [-1]}, max_dims=3))
    assert softmax_case.params == {"axis": -1}
    transpose_case = data.draw(op_cases("permute_dims", supported={"axes": [(1, 0)]}))
    assert transpose_case.params == {"axes": (1, 0)} and transpose_case.inputs[0].ndim == 2
    program = data.draw(programs(["sum", "softmax", "mean", "add"], supported=DECLARED))
    for step in program.steps:
        for name, values in DECLARED.get(step.op, {}).items():
            assert step.params[name] in values, program.code()


def test_undeclared_parameters_are_still_drawn_in_full():
    seen = set()

    @settings(max_examples=60, deadline=None, database=None)
    @given(op_cases("sum", supported={"keepdims": [False]}))
    def draw(case):
        axis = case.params["axis"]
        seen.add("none" if axis is None else "tuple" if isinstance(axis, tuple) else
                 "negative" if axis < 0 else "int")

    draw()
    assert seen == {"none", "tuple", "negative", "int"}


def test_op_cases_validates_supported():
    from hypothesis.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match="sum has no parameter 'keepdim'"):
        op_cases("sum", supported={"keepdim": [False]})
    with pytest.raises(InvalidArgument, match="non-empty list"):
        op_cases("sum", supported={"keepdims": []})


# --- checking ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def buggy_report():
    from gradcheck.runner import run_checks

    return run_checks(BUGGY.as_posix() + ":engine", ops=["sum", "softmax", "mean"], max_examples=30,
                      programs=0)


def test_real_bugs_on_supported_values_are_still_found(buggy_report):
    results = {result.check: result for result in buggy_report.results}
    # sum rejects negative axes: an exception on a supported value, not hidden by keepdims.
    assert results["sum"].status == "failed"
    assert [failure.category for failure in results["sum"].failures] == ["exception"]
    failure = results["sum"].failure
    assert failure.params["keepdims"] is False and "out of range" in failure.detail
    # softmax's diagonal-only backward on the last axis.
    assert [failure.category for failure in results["softmax"].failures] == ["mismatch"]
    assert results["softmax"].failure.params == {"axis": -1}
    assert results["mean"].status == "passed"
    assert (results["sum"].checked_on, results["sum"].not_checked) == ("keepdims=False", "keepdims=True")
    assert (results["softmax"].checked_on, results["softmax"].not_checked) == ("axis=-1", "any other axis")
    assert (results["mean"].checked_on, results["mean"].not_checked) == ("axis=None", "any other axis")


def test_a_correct_partial_engine_passes_ops_and_programs_and_fails_without_its_declaration():
    from gradcheck.runner import run_checks

    ops = ["sum", "softmax", "mean", "add"]
    report = run_checks(CORRECT.as_posix() + ":engine", ops=ops, max_examples=10, programs=25)
    assert report.summary == {"passed": 5, "failed": 0, "unsupported": 0}, [
        (r.check, r.failure and r.failure.message) for r in report.results
    ]
    # Undeclared limits still fail, as exceptions, exactly as before.
    undeclared = _engine_declaring(None)
    del undeclared.supported_params
    report = run_checks(undeclared, ops=["sum", "softmax", "mean"], max_examples=15, programs=0)
    assert {r.check: r.failure.category for r in report.results if r.failure} == {
        "sum": "exception", "softmax": "exception", "mean": "exception",
    }
    assert all(result.checked_on is None for result in report.results)


# --- reports -----------------------------------------------------------------------


def _partial_report() -> Report:
    checked_on, not_checked = support_note("softmax", {"axis": (-1,)})
    return Report(target="engine.py", seed=0, results=[
        CheckResult("softmax", "op", "passed", 10, 0.1, cases=80, checked_on=checked_on, not_checked=not_checked),
        CheckResult("add", "op", "passed", 10, 0.1, cases=80),
    ])


LINE = "checked on: axis=-1; not checked: any other axis"


@pytest.mark.parametrize("fmt", ["text", "md", "html", "junit", "json"])
def test_every_format_says_what_was_checked_and_what_not(fmt, tmp_path):
    from rich.console import Console

    from gradcheck.reports import render_report

    console = Console(file=io.StringIO(), width=120, color_system=None)
    written = render_report(_partial_report(), fmt, tmp_path, console=console)
    text = console.file.getvalue() if fmt == "text" else written[0].read_text(encoding="utf-8")
    if fmt == "json":
        softmax, add = json.loads(text)["results"]
        assert (softmax["checked_on"], softmax["not_checked"]) == ("axis=-1", "any other axis")
        assert "checked_on" not in add
    else:
        assert LINE in text
        assert text.count("checked on") == (2 if fmt == "junit" else 1)  # junit: the case and the run


def test_the_fields_survive_a_json_round_trip_and_grades_validation():
    from gradcheck.grade import GradeOptions, _validated_report

    data = _partial_report().to_dict()
    assert Report.from_dict(data) == _partial_report()
    options = GradeOptions(ops=("softmax", "add"), programs=0)
    data["results"][0]["not_checked"] = "any other axis\x1b[31m"
    validated = _validated_report(json.dumps(data), options)
    assert isinstance(validated, Report)
    assert validated.results[0].checked_on == "axis=-1"
    assert "\x1b" not in validated.results[0].not_checked
    data["results"][0]["checked_on"] = ["axis=-1"]
    assert "not a valid gradcheck report" in _validated_report(json.dumps(data), options)


# --- the worker path ---------------------------------------------------------------


def test_the_declaration_travels_from_a_worker_and_is_validated_there():
    from gradcheck.isolation import IsolatedEngine
    from gradcheck.runner import check_op
    from gradcheck.sandbox import available

    with IsolatedEngine(CORRECT.as_posix() + ":engine", sandbox=available() is None) as engine:
        assert engine.supported_params == DECLARED
        result = check_op(engine, "softmax", max_examples=10)
    assert result.status == "passed" and result.checked_on == "axis=-1"


@pytest.mark.parametrize(
    "declared, words",
    [
        pytest.param({"sum": {"keepdims": []}}, "empty list", id="empty"),
        pytest.param({"max": {"keepdims": [False]}}, "does not define", id="undefined-op"),
        pytest.param({"sum": {"keepdims": ["yes"]}}, "True or False", id="bad-value"),
        pytest.param([["sum"]], "a dict", id="not-a-dict"),
    ],
)
def test_a_forged_declaration_from_a_worker_is_a_protocol_error(declared, words):
    from gradcheck import isolation
    from gradcheck._transport import ProtocolError

    header = {"type": "ready", "target": "t.py", "name": "t", "dtype": "float64", "grad_takes_cotangent": True,
              "ops": ["sum"], "aliases": {}, "supported_params": declared, "array_bytes": []}
    with pytest.raises(ProtocolError, match=words):
        isolation._check_ready(header)


# --- declaring from outside the engine -----------------------------------------------


def test_assert_gradients_takes_a_declaration_for_an_engine_it_cannot_edit():
    from gradcheck.assertions import assert_gradients

    undeclared = _engine_declaring(None)
    del undeclared.supported_params
    result = assert_gradients(undeclared, "softmax", max_examples=10, programs=0,
                              supported_params={"softmax": {"axis": [-1]}})
    assert result.status == "passed" and result.checked_on == "axis=-1"


def test_a_given_declaration_replaces_the_engines_own_for_the_ops_it_names():
    from gradcheck.runner import run_checks

    # The engine declares mean over all axes only; mean over axis 0 raises, and is now checked.
    report = run_checks(CORRECT.as_posix() + ":engine", ops=["mean", "softmax"], max_examples=5, programs=0,
                        supported_params={"mean": {"axis": [0]}})
    results = {result.check: result for result in report.results}
    assert results["mean"].failure.category == "exception" and results["mean"].checked_on == "axis=0"
    assert results["softmax"].status == "passed" and results["softmax"].checked_on == "axis=-1"
    # Given from outside the engine, it is part of the run: the replay command gives it again.
    from gradcheck.reports.display import replay_command

    assert report.supported_params == {"mean": {"axis": [0]}}
    assert Report.from_dict(json.loads(json.dumps(report.to_dict()))).supported_params == report.supported_params
    assert """--supported-params '{"mean": {"axis": [0]}}'""" in replay_command(report, results["mean"])


@pytest.mark.parametrize(
    "argv, words",
    [
        pytest.param(["check", str(CORRECT), "--supported-params", "{sum"], ["is not JSON", "e.g."], id="not-json"),
        pytest.param(["check", str(CORRECT), "--ops", "sum", "--supported-params", '{"sum": {"keepdim": [false]}}'],
                     ["--supported-params", "'keepdim'", "no such parameter"], id="unknown-parameter"),
        pytest.param(["grade", str(CORRECT), "--supported-params", '{"summ": {"axis": [0]}}'],
                     ["--supported-params cannot be used", "'summ'"], id="grade"),
    ],
)
def test_a_bad_supported_params_option_exits_2(argv, words, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err


def test_grade_hands_the_declaration_to_every_submissions_check():
    from gradcheck.grade import GradeOptions

    options = GradeOptions(ops=("sum",), supported_params='{"sum": {"keepdims": [false]}}')
    arguments = options.check_arguments()
    assert arguments[arguments.index("--supported-params") + 1] == '{"sum": {"keepdims": [false]}}'
    assert options.to_dict()["supported_params"] == '{"sum": {"keepdims": [false]}}'
