"""The renderers and ``render_report``: gold files, the JSON contract, who owns the files.

Gold files live in ``tests/gold/``. After a deliberate change to a report's
look, regenerate them and review the diff before committing::

    GRADCHECK_REGEN_GOLD=1 .venv/bin/python -m pytest tests/test_reports.py

Every report here is built by hand (``tests/report_samples.py``), so these
tests pin the renderers alone and need neither the runner nor TensorFlow.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from gradcheck.errors import UsageError
from gradcheck.reports import FORMATS, Format, parse_formats, render_report
from gradcheck.reports.display import DETAIL_LINES, replay_command
from gradcheck.reports.json import write_json
from gradcheck.reports.text import render_text
from gradcheck.results import CATEGORIES, STATUSES, ArrayRecord, CheckResult, Failure, Report
from tests.report_samples import passing_report, sample_report

GOLD = Path(__file__).parent / "gold"
REGENERATE = os.environ.get("GRADCHECK_REGEN_GOLD") == "1"
WIDTH = 100

SAMPLES = {"failures": sample_report, "passing": passing_report}


def plain_console(width: int = WIDTH) -> Console:
    """Return a Console like a pipe or CI log: not a terminal, no colour, fixed width."""
    return Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False,
                   legacy_windows=False)


def rendered_text(report: Report, width: int = WIDTH) -> str:
    console = plain_console(width)
    render_text(report, console)
    return console.file.getvalue()


def json_text(report: Report) -> str:
    stream = io.StringIO()
    write_json(report, stream)
    return stream.getvalue()


def assert_gold(name: str, actual: str) -> None:
    path = GOLD / name
    if REGENERATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"no gold file {path}: run with GRADCHECK_REGEN_GOLD=1 to create it"
    assert actual == path.read_text(encoding="utf-8"), (
        f"{name} differs from its gold file; if the change is intended, "
        "regenerate with GRADCHECK_REGEN_GOLD=1 and review the diff"
    )


# --- gold files ---------------------------------------------------------------


@pytest.mark.parametrize("sample", SAMPLES)
def test_text_report_matches_gold(sample):
    assert_gold(f"report_{sample}.txt", rendered_text(SAMPLES[sample]()))


def test_json_report_matches_gold():
    assert_gold("report_failures.json", json_text(sample_report()))


@pytest.mark.parametrize("sample", SAMPLES)
def test_text_report_reads_the_same_after_a_json_round_trip(sample):
    # `gradcheck report` re-renders a stored run: it must look like the live one.
    report = SAMPLES[sample]()
    stored = Report.from_dict(json.loads(json_text(report)))
    assert rendered_text(stored) == rendered_text(report)


# --- the JSON report (docs/contract.md, section 3) ---------------------------------------------


def test_json_round_trips_through_report_from_dict():
    original = sample_report().to_dict()
    assert Report.from_dict(json.loads(json_text(sample_report()))).to_dict() == original


def test_json_is_indented_by_two():
    assert json_text(sample_report()).startswith('{\n  "format_version": 1,\n  "target": ')


OPTIONAL_TEXT = (str, type(None))
OPTIONAL_NUMBER = (int, float, type(None))

# docs/contract.md, section 3, as key -> accepted types.
REPORT_KEYS = {"format_version": int, "target": str, "seed": int, "summary": dict, "results": list}
RESULT_KEYS = {"check": str, "kind": str, "status": str, "examples": int, "seconds": (int, float)}
FAILURE_KEYS = {
    "category": str, "message": str, "inputs": list, "params": dict,
    "cotangent": (list, int, float, type(None)), "wrt": OPTIONAL_TEXT,
    "expected": (list, int, float, type(None)), "actual": (list, int, float, type(None)),
    "max_abs_error": OPTIONAL_NUMBER, "diagnosis": OPTIONAL_TEXT, "reproducer": OPTIONAL_TEXT,
}
INPUT_KEYS = {"name": str, "shape": list, "dtype": str, "values": (list, int, float)}


def assert_keys(data: dict, keys: dict, where: str) -> None:
    for key, types in keys.items():
        assert key in data, f"{where} has no {key!r}"
        assert isinstance(data[key], types), f"{where}[{key!r}] = {data[key]!r} is not {types}"


def test_json_has_every_contract_field_with_its_type():
    data = json.loads(json_text(sample_report()))
    assert_keys(data, REPORT_KEYS, "report")
    assert data["summary"] == {"passed": 1, "failed": 3, "unsupported": 1}
    for result in data["results"]:
        assert_keys(result, RESULT_KEYS, result["check"])
        assert result["status"] in STATUSES
        assert result["kind"] in ("op", "program")
        assert ("failure" in result) == (result["status"] == "failed")
        if "failure" in result:
            failure = result["failure"]
            assert_keys(failure, FAILURE_KEYS, f"{result['check']}.failure")
            assert failure["category"] in CATEGORIES
            for record in failure["inputs"]:
                assert_keys(record, INPUT_KEYS, f"{result['check']}.failure.inputs")
                assert list(np.shape(record["values"])) == record["shape"]


def test_json_is_strict_even_with_nan_and_infinity():
    failure = Failure(
        "nonfinite", "the gradient w.r.t. x has NaN or inf where the reference is finite",
        inputs=[ArrayRecord("x", np.array([1.0, 2.0, 3.0]), "float64")],
        wrt="x", expected=np.array([1.0, 2.0, 3.0]), actual=np.array([np.nan, np.inf, -np.inf]),
        worst_index=(0,),
    )
    report = Report("engine.py", 0, results=[CheckResult("sqrt", "op", "failed", 1, 0.1, [failure])])

    def reject(constant):
        raise AssertionError(f"{constant} is not JSON")

    data = json.loads(json_text(report), parse_constant=reject)
    assert data["results"][0]["failure"]["actual"] == ["NaN", "Infinity", "-Infinity"]
    restored = Report.from_dict(data).results[0].failure.actual
    np.testing.assert_array_equal(restored, [np.nan, np.inf, -np.inf])


# --- the text report ----------------------------------------------------------


def test_text_report_has_no_escape_codes_when_not_a_terminal():
    assert "\x1b[" not in rendered_text(sample_report())


def test_text_report_is_coloured_on_a_terminal():
    console = Console(file=io.StringIO(), width=WIDTH, force_terminal=True, color_system="standard")
    render_text(sample_report(), console)
    assert "\x1b[" in console.file.getvalue()


def test_report_text_is_never_read_as_markup():
    failure = Failure("exception", "grad() raised KeyError: '[bold]x[/bold]'", inputs=[],
                      detail="KeyError: [red] [/]")
    report = Report("[b]engine[/b].py", 0, results=[CheckResult("exp", "op", "failed", 1, 0.0, [failure])])
    text = rendered_text(report)
    assert "grad() raised KeyError: '[bold]x[/bold]'" in text
    assert "KeyError: [red] [/]" in text
    assert "[b]engine[/b].py" in text


def test_expected_and_actual_stack_when_side_by_side_does_not_fit():
    wide = np.linspace(-1.0, 1.0, 12).reshape(2, 6)
    failure = Failure("mismatch", "the gradient w.r.t. x differs from the reference",
                      inputs=[ArrayRecord("x", wide, "float64")], wrt="x",
                      expected=wide, actual=-wide, worst_index=(0, 0))
    report = Report("engine.py", 0, results=[CheckResult("tanh", "op", "failed", 1, 0.0, [failure])])
    narrow = rendered_text(report, width=60).splitlines()
    expected_line = next(i for i, line in enumerate(narrow) if "expected  (2, 6)" in line)
    assert "actual" not in narrow[expected_line]
    assert any("actual  (2, 6)" in line for line in narrow[expected_line + 1:])
    side_by_side = [line for line in rendered_text(report, width=140).splitlines() if "expected" in line]
    assert "actual  (2, 6)" in side_by_side[0]


def test_long_exception_detail_is_cut_to_a_screen():
    detail = "\n".join(f"frame {i}" for i in range(40))
    failure = Failure("exception", "grad() raised RuntimeError", inputs=[], detail=detail)
    report = Report("engine.py", 0, results=[CheckResult("exp", "op", "failed", 1, 0.0, [failure])])
    text = rendered_text(report)
    assert f"frame {DETAIL_LINES - 1}" in text and f"frame {DETAIL_LINES}" not in text
    assert f"{40 - DETAIL_LINES} more line(s) in the JSON report" in text


def test_unsupported_rows_collapse_to_one_line_when_many():
    text = rendered_text(passing_report())
    assert "unsupported  sin, cos, tanh, relu" in text
    assert not any(line.startswith("sin ") for line in text.splitlines())


def test_a_few_unsupported_checks_keep_their_rows():
    text = rendered_text(sample_report())
    assert any(line.startswith("negative ") and "unsupported" in line for line in text.splitlines())


def test_text_report_ends_with_the_counts_and_the_seed():
    assert rendered_text(sample_report()).rstrip().splitlines()[-1] == "1 passed, 3 failed, 1 unsupported (seed 7)"


def test_replay_command_quotes_the_target():
    report = Report("my engines/engine.py:fast", 3, max_examples=50)
    command = replay_command(report, CheckResult("matmul", "op"))
    assert command == "gradcheck check 'my engines/engine.py:fast' --ops matmul --no-programs --seed 3 --max-examples 50"


# --- render_report: the one owner of output files -----------------------------


def test_render_report_writes_json_and_says_where(tmp_path):
    console = plain_console()
    folder = tmp_path / "nested" / "reports"
    written = render_report(sample_report(), ["json"], folder, console=console)
    assert written == [folder / "gradcheck.json"]
    assert written[0].read_text() == json_text(sample_report())
    assert console.file.getvalue() == f"Wrote json to {folder / 'gradcheck.json'}\n"
    assert [p.name for p in folder.iterdir()] == ["gradcheck.json"]  # no temporary left over


def test_render_report_text_only_creates_no_folder(tmp_path):
    console = plain_console()
    assert render_report(sample_report(), "text", tmp_path / "unused", console=console) == []
    assert not (tmp_path / "unused").exists()
    assert console.file.getvalue() == rendered_text(sample_report())


def test_render_report_prints_text_before_the_wrote_lines(tmp_path):
    console = plain_console()
    render_report(sample_report(), "json,text", tmp_path, console=console)
    lines = console.file.getvalue().splitlines()
    assert lines[-1] == f"Wrote json to {tmp_path / 'gradcheck.json'}"
    assert lines[-2] == "1 passed, 3 failed, 1 unsupported (seed 7)"


@pytest.mark.parametrize(
    "formats, fragments",
    [
        pytest.param("xml", ["--format=xml", "text, json"], id="unknown"),
        pytest.param("text,pdf", ["--format=pdf", "text, json, html, junit, md"], id="unknown-among-known"),
        pytest.param(" , ", ["names no format", "text, json"], id="empty"),
    ],
)
def test_bad_formats_are_named(formats, fragments, tmp_path):
    with pytest.raises(UsageError) as raised:
        render_report(sample_report(), formats, tmp_path, console=plain_console())
    for fragment in fragments:
        assert fragment in str(raised.value)
    assert "\n" not in str(raised.value)
    assert list(tmp_path.iterdir()) == []


def test_parse_formats_drops_duplicates_and_fixes_the_order():
    assert [fmt.name for fmt in parse_formats(["json", "text", "json"])] == ["text", "json"]


def _broken_renderer(report, out):
    # ``out`` is a text stream for a file format, a rich Console for a terminal one.
    getattr(out, "file", out).write("half a rep")
    raise RuntimeError("renderer bug")


@pytest.fixture
def broken_formats(monkeypatch):
    """Add a file format and a terminal format whose renderers raise halfway."""
    table = dict(FORMATS)
    table["broken"] = Format("broken", f"{__name__}:_broken_renderer", "broken.txt")
    table["broken_terminal"] = Format("broken_terminal", f"{__name__}:_broken_renderer")
    monkeypatch.setattr("gradcheck.reports.FORMATS", table)


@pytest.mark.usefixtures("broken_formats")
@pytest.mark.parametrize("broken", ["broken", "broken_terminal"])
def test_a_failing_renderer_leaves_no_file_and_loses_no_other_format(broken, tmp_path):
    console = plain_console()
    with pytest.raises(RuntimeError, match="renderer bug"):
        render_report(sample_report(), ["text", broken, "json"], tmp_path, console=console)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gradcheck.json"]
    assert (tmp_path / "gradcheck.json").read_text() == json_text(sample_report())
    out = console.file.getvalue()
    assert "Wrote json to" in out and "1 passed, 3 failed, 1 unsupported" in out


@pytest.mark.usefixtures("broken_formats")
def test_a_failing_renderer_keeps_the_previous_file(tmp_path):
    (tmp_path / "broken.txt").write_text("last run's report")
    with pytest.raises(RuntimeError):
        render_report(sample_report(), ["broken"], tmp_path, console=plain_console())
    assert (tmp_path / "broken.txt").read_text() == "last run's report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.txt"]


def test_nan_free_reports_write_the_same_as_to_dict():
    # The strict-JSON spelling changes nothing when every number is finite.
    report = sample_report()
    assert json.loads(json_text(report)) == json.loads(json.dumps(report.to_dict()))


@pytest.mark.parametrize(
    "ops, expected",
    [
        (None, "gradcheck check engine.py --programs 50 --seed 1 --max-examples 20"),
        (["matmul", "sum"], "gradcheck check engine.py --ops matmul,sum --programs 50 --seed 1 --max-examples 20"),
    ],
    ids=["all-ops", "some-ops"],
)
def test_program_replay_keeps_the_ops_the_programs_were_drawn_from(ops, expected):
    report = Report("engine.py", 1, max_examples=20, programs=50, ops=ops)
    assert replay_command(report, CheckResult("programs", "program")) == expected
