"""The HTML, JUnit and Markdown reports: gold files, round trips, escaping, the view model.

Gold files live in ``tests/gold/`` (``report_{failures,passing}.{html,xml,md}``).
After a deliberate change to a report's look, regenerate them and review the
diff before committing::

    GRADCHECK_REGEN_GOLD=1 .venv/bin/python -m pytest tests/test_report_formats.py

The reports are built by hand (``tests/report_samples.py``), so these tests
pin the renderers alone; two tests at the end run the command line.
"""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from typing import Callable

import numpy as np
import pytest

from gradcheck import __version__
from gradcheck.cli import main
from gradcheck.reports import FORMATS, PLANNED_FORMATS, parse_formats, render_report
from gradcheck.reports import html as html_report
from gradcheck.reports import markdown as markdown_report
from gradcheck.reports.html import DIVERGING, SEQUENTIAL, render_html, report_view
from gradcheck.reports.junit import write_junit
from gradcheck.reports.markdown import MAX_FAILURES, MAX_VALUE_CHARS, render_markdown
from gradcheck.results import ArrayRecord, CheckResult, Failure, Report
from tests.report_samples import passing_report, sample_report
from tests.test_reports import SAMPLES, assert_gold, json_text, plain_console, rendered_text

EXTENSIONS = {"html": "html", "junit": "xml", "md": "md"}


def _rendered(renderer: Callable) -> Callable[[Report], str]:
    def render(report: Report) -> str:
        stream = io.StringIO()
        renderer(report, stream)
        return stream.getvalue()

    return render


html_text = _rendered(render_html)
junit_text = _rendered(write_junit)
markdown_text = _rendered(render_markdown)
RENDERERS = {"html": html_text, "junit": junit_text, "md": markdown_text}


def normalized(fmt: str, text: str) -> str:
    """Return ``text`` without what changes between releases (the HTML footer's version)."""
    return text.replace(f"gradcheck {__version__}", "gradcheck VERSION") if fmt == "html" else text


def one_failure_report(failure: Failure, check: str = "exp", **report_fields) -> Report:
    fields = {"target": "engine.py", "seed": 0, **report_fields}
    return Report(**fields, results=[CheckResult(check, "op", "failed", 1, 0.0, [failure])])


def mismatch(expected, actual, worst=None, **fields) -> Failure:
    expected, actual = np.asarray(expected, dtype=float), np.asarray(actual, dtype=float)
    return Failure("mismatch", "the gradient w.r.t. x differs from the reference",
                   inputs=[ArrayRecord("x", expected, "float64")], wrt="x",
                   expected=expected, actual=actual, worst_index=worst, **fields)


# --- registration ---------------------------------------------------------------


def test_every_contract_format_is_available():
    contract = ["text", "json", "html", "junit", "md"]  # docs/contract.md, section 2, in FORMATS order
    assert [name for name in FORMATS if name in contract] == contract
    assert PLANNED_FORMATS == ()
    assert {FORMATS[name].filename for name in EXTENSIONS} == {"gradcheck.html", "gradcheck.xml", "gradcheck.md"}


@pytest.mark.parametrize("fmt", EXTENSIONS)
def test_render_report_writes_each_format_to_its_file(fmt, tmp_path):
    console = plain_console()
    written = render_report(sample_report(), fmt, tmp_path, console=console)
    assert written == [tmp_path / FORMATS[fmt].filename]
    assert written[0].read_text(encoding="utf-8") == RENDERERS[fmt](sample_report())
    assert console.file.getvalue() == f"Wrote {fmt} to {written[0]}\n"
    assert [path.name for path in tmp_path.iterdir()] == [FORMATS[fmt].filename]


def test_parse_formats_puts_json_first_among_files():
    assert [fmt.name for fmt in parse_formats("md,junit,html,json,text")] == ["text", "json", "html", "junit", "md"]


# --- gold files and round trips ---------------------------------------------------


@pytest.mark.parametrize("sample", SAMPLES)
@pytest.mark.parametrize("fmt", EXTENSIONS)
def test_report_matches_gold(fmt, sample):
    text = normalized(fmt, RENDERERS[fmt](SAMPLES[sample]()))
    assert_gold(f"report_{sample}.{EXTENSIONS[fmt]}", text)


@pytest.mark.parametrize("sample", SAMPLES)
@pytest.mark.parametrize("fmt", EXTENSIONS)
def test_report_reads_the_same_after_a_json_round_trip(fmt, sample):
    # `gradcheck report` re-renders a stored run: every format must look like the live one.
    report = SAMPLES[sample]()
    stored = Report.from_dict(json.loads(json_text(report)))
    assert RENDERERS[fmt](stored) == RENDERERS[fmt](report)


@pytest.mark.parametrize("fmt", EXTENSIONS)
def test_rendering_is_deterministic(fmt):
    assert RENDERERS[fmt](sample_report()) == RENDERERS[fmt](sample_report())


# --- HTML: the view model ---------------------------------------------------------


def comparison_of(failure: Failure):
    return report_view(one_failure_report(failure)).failures[0].comparison


def arrays_by_caption(failure: Failure) -> dict:
    return {array.caption: array for array in comparison_of(failure).arrays}


def texts(slice_view) -> list[list[str]]:
    return [[cell.text for cell in row] for row in slice_view.rows]


@pytest.mark.parametrize(
    "shape, labels, table",
    [
        pytest.param((), [None], (1, 1), id="0-d-one-cell"),
        pytest.param((3,), [None], (1, 3), id="1-d-one-row"),
        pytest.param((2, 3), [None], (2, 3), id="2-d-one-table"),
        pytest.param((2, 2, 2), ["[0, :, :]", "[1, :, :]"], (2, 2), id="3-d-two-tables"),
        pytest.param((2, 1, 2, 3), ["[0, 0, :, :]", "[1, 0, :, :]"], (2, 3), id="4-d-leading-indices"),
    ],
)
def test_arrays_are_drawn_one_table_per_2d_slice(shape, labels, table):
    values = np.arange(np.prod(shape, dtype=int), dtype=float).reshape(shape)
    array = arrays_by_caption(mismatch(values, values + 1))["expected"]
    assert [slice_view.label for slice_view in array.slices] == labels
    assert {(len(s.rows), len(s.rows[0])) for s in array.slices} == {table}
    flat = [cell.text for s in array.slices for row in s.rows for cell in row]
    assert flat == [f"{value:g}" for value in values.ravel()]


def test_a_3d_array_shows_each_slice_under_its_label():
    values = np.array([[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]])
    first, second = arrays_by_caption(mismatch(values, values))["expected"].slices
    assert (first.label, texts(first)) == ("[0, :, :]", [["1", "2"], ["3", "4"]])
    assert (second.label, texts(second)) == ("[1, :, :]", [["5", "6"], ["7", "8"]])


def test_the_worst_entry_is_outlined_in_expected_actual_and_difference():
    arrays = arrays_by_caption(mismatch([[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0], [4.0, 3.0]], worst=(1, 0)))
    assert list(arrays) == ["expected", "actual", "actual − expected"]
    for array in arrays.values():
        worst = [cell for s in array.slices for row in s.rows for cell in row if cell.worst]
        assert [cell.tooltip.split(" = ")[0] for cell in worst] == ["x[1, 0]"]
        assert worst[0].css_class == "worst"


def test_the_difference_is_actual_minus_expected_on_a_diverging_scale():
    arrays = arrays_by_caption(mismatch([[1.5, 1.5], [1.0, 1.0]], [[0.0, 3.0], [2.0, 0.0]], worst=(0, 1)))
    difference = arrays["actual − expected"]
    assert difference.difference
    assert texts(difference.slices[0]) == [["-1.5", "1.5"], ["1", "-1"]]
    (low, high), (one, minus_one) = difference.slices[0].rows
    # Symmetric around zero: +-1.5 are the ends of the ramp, blue below, red above.
    assert low.background == DIVERGING[0][1] and high.background == DIVERGING[-1][1]
    assert one.background != minus_one.background
    assert comparison_of(mismatch([[1.5]], [[0.0]])).difference_limit == "1.5"


def test_a_zero_difference_is_white_and_values_use_the_sequential_scale():
    arrays = arrays_by_caption(mismatch([1.0, 3.0], [1.0, 5.0]))
    assert arrays["actual − expected"].slices[0].rows[0][0].background == DIVERGING[2][1]
    # Expected and actual share one scale: 1 is the lightest, 5 the darkest of both.
    expected, actual = arrays["expected"].slices[0].rows[0], arrays["actual"].slices[0].rows[0]
    assert expected[0].background == actual[0].background == SEQUENTIAL[0][1]
    assert actual[1].background == SEQUENTIAL[-1][1]
    assert actual[1].foreground == "#ffffff"  # readable on the dark end
    assert comparison_of(mismatch([1.0, 3.0], [1.0, 5.0])).value_range == ("1", "5")


def test_constant_arrays_get_the_neutral_colour():
    arrays = arrays_by_caption(mismatch([2.0, 2.0], [2.0, 2.0]))
    assert {cell.background for cell in arrays["expected"].slices[0].rows[0]} == {SEQUENTIAL[0][1]}
    assert {cell.background for cell in arrays["actual − expected"].slices[0].rows[0]} == {DIVERGING[2][1]}


def test_different_shapes_are_shown_side_by_side_without_a_difference():
    failure = Failure("shape", "the gradient w.r.t. a has shape (2, 1, 2), expected (1, 1, 1)",
                      inputs=[ArrayRecord("a", np.zeros((1, 1, 1)), "float32")], wrt="a",
                      expected=np.zeros((1, 1, 1)), actual=np.ones((2, 1, 2)))
    comparison = comparison_of(failure)
    assert [array.caption for array in comparison.arrays] == ["expected", "actual"]
    assert [array.shape for array in comparison.arrays] == ["(1, 1, 1)", "(2, 1, 2)"]
    assert "actual has shape (2, 1, 2) where (1, 1, 1) is expected" in comparison.note
    assert comparison.difference_limit is None and comparison.worst is None
    assert "No difference table" in html_text(one_failure_report(failure))


def test_nan_and_infinity_are_marked_not_scaled():
    failure = mismatch([1.0, 2.0, 3.0], [np.nan, np.inf, 4.0], worst=(0,))
    arrays = arrays_by_caption(failure)
    actual = arrays["actual"].slices[0].rows[0]
    assert [cell.text for cell in actual] == ["nan", "inf", "4"]
    assert [cell.nonfinite for cell in actual] == [True, True, False]
    assert actual[0].css_class == "worst nonfinite"
    # The finite difference 4 - 3 = 1 still spans the diverging scale.
    assert arrays["actual − expected"].slices[0].rows[0][2].background == DIVERGING[-1][1]


def test_large_arrays_are_cut_and_say_so(monkeypatch):
    monkeypatch.setattr(html_report, "MAX_SIDE", 3)
    monkeypatch.setattr(html_report, "MAX_SLICES", 2)
    values = np.zeros((4, 5, 6))
    array = arrays_by_caption(mismatch(values, values))["expected"]
    assert len(array.slices) == 2
    assert {(len(s.rows), len(s.rows[0])) for s in array.slices} == {(3, 3)}
    assert array.omitted == ("not shown: 2 more slice(s); 2 more row(s); 3 more column(s) "
                             "(the JSON report has every value)")


def test_failures_link_from_the_summary_table():
    view = report_view(sample_report())
    anchors = {row.check: row.anchor for row in view.rows}
    assert anchors == {"add": None, "negative": None, "matmul": "failure-matmul-1",
                       "sum": "failure-sum-1", "programs": "failure-programs-1"}
    assert [f.anchor for f in view.failures] == [
        "failure-matmul-1", "failure-matmul-2", "failure-sum-1", "failure-programs-1"]
    assert [f.position for f in view.failures] == ["1 of 2", "2 of 2", None, None]


def test_diagnosis_code_and_emphasis_become_runs():
    failure = mismatch([1.0], [2.0], diagnosis="each use *overwrites* it: use `grad += g` <here>")
    runs = report_view(one_failure_report(failure)).failures[0].diagnosis
    assert runs == [("text", "each use "), ("em", "overwrites"), ("text", " it: use "),
                    ("code", "grad += g"), ("text", " <here>")]
    html = html_text(one_failure_report(failure))
    assert "<em>overwrites</em>" in html and "<code>grad += g</code>" in html and "&lt;here&gt;" in html


# --- HTML: the page -----------------------------------------------------------------


SCRIPT = "<script>alert('x')</script>"


def hostile_report() -> Report:
    """Return a report whose every engine-supplied string carries markup."""
    failure = Failure(
        "exception", f"grad() raised KeyError: {SCRIPT}",
        inputs=[ArrayRecord(f"x{SCRIPT}", np.ones(2), "float64")],
        params={"axis": SCRIPT}, detail=f"KeyError: {SCRIPT}\n\x1b[31mred\x1b[0m & <b>",
        reproducer=f"reports/{SCRIPT}.py",
    )
    return Report(
        target=f"engine{SCRIPT}.py", seed=0, engine_name=f"evil {SCRIPT}", dtype="float64",
        notes=[f"note {SCRIPT}"],
        results=[CheckResult(f"exp{SCRIPT}", "op", "failed", 1, 0.0, [failure]),
                 CheckResult("log", "op", "unsupported", reason=f"no log {SCRIPT}")],
    )


def test_html_escapes_everything_the_engine_says():
    html = html_text(hostile_report())
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<b>" not in html and "&amp; &lt;b&gt;" in html
    # Each hostile field made it to the page, escaped.
    for field in ("evil ", "engine&lt;script", "grad() raised KeyError", "x&lt;script",
                  "exp&lt;script", "no log &lt;script", "note &lt;script"):
        assert field in html, field


def test_html_is_self_contained():
    html = html_text(sample_report())
    assert html.startswith("<!DOCTYPE html>")
    lowered = html.lower()
    for needle in ("http://", "https://", "<script", "<link", "@import", "url(", "<img", "@font-face"):
        assert needle not in lowered, needle
    assert "default-src 'none'" in html  # the Content-Security-Policy forbids the rest


def test_html_shows_every_part_of_a_failure():
    html = html_text(sample_report())
    for part in (
        "student/engine.py", "student tape", "float64", "100 examples per check, more where one failed",  # header
        "failed: mismatch, exception", "unsupported",  # summary table
        "grad() takes no cotangent", "near-singular case",  # notes
        "the gradient w.r.t. b differs from the reference", "gradient w.r.t. b",
        "actual − expected", "b[0, 1]: expected 1.5, actual 3, abs error 1.5",
        "matches the reference with all axes of b reversed",
        "ValueError: Shape must be rank 2 but is rank 1", "reports/repro_matmul.py",
        "axis=(0, -1), keepdims=True",
        "t0 = exp(x0)\nt1 = sum(t0)\ny = log(t1)",
        "gradcheck check student/engine.py --ops matmul --no-programs --seed 7 --max-examples 100",
    ):
        assert part in html, part


# --- JUnit --------------------------------------------------------------------------


def parsed_junit(report: Report) -> ET.Element:
    return ET.fromstring(junit_text(report).encode("utf-8"))


def test_junit_has_one_testcase_per_check_with_failures_and_skips():
    root = parsed_junit(sample_report())
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "gradcheck"
    assert {key: suite.get(key) for key in ("tests", "failures", "errors", "skipped")} == {
        "tests": "5", "failures": "3", "errors": "0", "skipped": "1"}
    cases = suite.findall("testcase")
    assert [(case.get("classname"), case.get("name")) for case in cases] == [
        ("gradcheck.op", "add"), ("gradcheck.op", "negative"), ("gradcheck.op", "matmul"),
        ("gradcheck.op", "sum"), ("gradcheck.program", "programs")]
    assert [case.get("time") for case in cases] == ["0.120", "0.000", "0.410", "0.050", "1.500"]
    add, negative, matmul, summed, programs = cases
    assert list(add) == []
    assert negative.find("skipped").get("message") == "the engine defines no 'negative' (nor 'neg')"
    (failure,) = matmul.findall("failure")
    assert failure.get("type") == "mismatch"
    assert failure.get("message") == (
        "mismatch: the gradient w.r.t. b differs from the reference (also failed: exception)")
    assert programs.find("failure").get("message") == "forward: the forward value differs from the reference"
    assert summed.find("failure").get("type") == "exception"


def test_junit_failure_body_is_the_plain_text_panel_of_each_failure():
    body = parsed_junit(sample_report()).find(".//testcase[@name='matmul']/failure").text
    assert "\x1b[" not in body
    # The very panels the terminal prints (the text report's gold width is the JUnit one).
    panels = [block for block in rendered_text(sample_report()).split("\n\n") if "╭─ matmul" in block]
    assert len(panels) == 2
    assert body == "\n" + "\n\n".join(panels) + "\n"


def test_junit_properties_name_the_run():
    properties = {p.get("name"): p.get("value") for p in parsed_junit(sample_report()).iter("property")}
    assert properties == {"seed": "7", "target": "student/engine.py", "dtype": "float64",
                          "engine": "student tape", "max_examples": "100"}


def test_junit_carries_the_notes_in_system_out():
    out = parsed_junit(sample_report()).find("testsuite/system-out").text
    assert out.startswith("note: grad() takes no cotangent")
    assert parsed_junit(passing_report()).find("testsuite/system-out") is None


def test_junit_survives_markup_and_control_characters():
    text = junit_text(hostile_report())
    root = ET.fromstring(text.encode("utf-8"))  # would raise on a raw \x1b
    case = root.find(".//testcase")
    assert case.get("name") == f"exp{SCRIPT}"
    assert SCRIPT in case.find("failure").get("message")
    assert "<script>" not in text  # escaped by ElementTree
    assert "\x1b" not in text
    assert root.find(".//skipped").get("message") == f"no log {SCRIPT}"


def test_junit_never_reports_a_failed_check_as_passing():
    report = Report("engine.py", 0, results=[CheckResult("exp", "op", "failed", 1, 0.0, reason="worker died")])
    failure = parsed_junit(report).find(".//testcase/failure")
    assert (failure.get("type"), failure.get("message")) == ("failed", "worker died")


def test_junit_is_read_by_junitparser():
    junitparser = pytest.importorskip("junitparser", reason="junitparser is optional: ElementTree checks suffice")
    xml = junitparser.JUnitXml.fromstring(junit_text(sample_report()))
    suites = list(xml) if isinstance(xml, junitparser.JUnitXml) else [xml]
    (suite,) = suites
    assert (suite.tests, suite.failures, suite.skipped, suite.errors) == (5, 3, 1, 0)
    kinds = {case.name: [type(result).__name__ for result in case.result] for case in suite}
    assert kinds == {"add": [], "negative": ["Skipped"], "matmul": ["Failure"], "sum": ["Failure"],
                     "programs": ["Failure"]}


# --- Markdown -----------------------------------------------------------------------


def test_markdown_starts_with_the_counts_and_a_table():
    lines = markdown_text(sample_report()).splitlines()
    assert lines[0] == "## ❌ gradcheck `student/engine.py`: 1 passed, 3 failed, 1 unsupported"
    table = [line for line in lines if line.startswith("|")]
    assert table[:2] == ["| check | kind | status | examples |", "|---|---|---|---:|"]
    assert table[2:] == [
        "| add | op | ✅ passed | 100 |",
        "| matmul | op | ❌ failed: mismatch, exception | 37 |",
        "| sum | op | ❌ failed: exception | 3 |",
        "| programs | program | ❌ failed: forward | 12 |",
    ]
    assert markdown_text(passing_report()).startswith("## ✅ gradcheck")


def test_markdown_failure_block_has_case_comparison_diagnosis_and_replay():
    text = markdown_text(sample_report())
    block = text[text.index("### matmul · mismatch (1 of 2)"):text.index("### matmul · exception")]
    for part in (
        "**the gradient w.r.t. b differs from the reference**",
        "a (2, 1, 2) float64  [[[1. 2.]] [[0.5 -1.]]]",
        "expected (2, 2)      [[1.5 1.5] [1. 1.]]",
        "actual (2, 2)        [[0. 3.] [2. 0.]]",
        "**Diagnosis:** matches the reference with all axes of b reversed",
        "Replay: `gradcheck check student/engine.py --ops matmul --no-programs --seed 7 --max-examples 100`",
    ):
        assert part in block, part
    program = text[text.index("### programs · forward"):]
    assert "```text\nt0 = exp(x0)\nt1 = sum(t0)\ny = log(t1)\n\nx0 (3,) float64" in program


def test_markdown_cuts_long_arrays():
    values = np.linspace(-1.0, 1.0, 60)
    text = markdown_text(one_failure_report(mismatch(values, -values, worst=(0,))))
    rows = [line for line in text.splitlines() if line.startswith(("x (60,)", "expected", "actual"))]
    assert len(rows) == 3
    for row in rows:
        value = row.split("  ", 1)[1].strip()
        assert len(value) == MAX_VALUE_CHARS and value.endswith("…"), row


def test_markdown_escapes_engine_text_and_fences_exception_text():
    text = markdown_text(hostile_report())
    # Code spans and fenced blocks show text literally; outside them nothing is raw HTML.
    prose = re.sub(r"`[^`]*`", "", text.split("```")[0])
    assert "<script>" not in prose and "`engine<script>alert('x')</script>.py`" in text
    assert r"**grad() raised KeyError: \<script\>alert('x')\</script\>**" in text
    assert r"| exp\<script\>alert('x')\</script\> |" in text

    ticks = Failure("exception", "grad() raised ValueError | with a pipe", inputs=[],
                    detail="ValueError: ```not a fence``` and `code`")
    text = markdown_text(one_failure_report(ticks))
    assert "````text\ndetail  ValueError: ```not a fence``` and `code`\n````" in text
    assert r"**grad() raised ValueError \| with a pipe**" in text


def test_markdown_lists_only_the_first_failures():
    failures = [mismatch([1.0], [2.0]) for _ in range(MAX_FAILURES + 3)]
    report = Report("engine.py", 0, results=[CheckResult(f"op{i}", "op", "failed", 1, 0.0, [f])
                                             for i, f in enumerate(failures)])
    text = markdown_text(report)
    assert text.count("\n### ") == MAX_FAILURES
    assert "_3 more failure(s) not shown here" in text


def test_markdown_collects_unsupported_checks_on_one_line():
    text = markdown_text(passing_report())
    assert "➖ Not supported by the engine (not failures): sin, cos, tanh, relu." in text
    assert "| sin |" not in text


def test_markdown_long_diagnosis_stays_one_paragraph(monkeypatch):
    failure = mismatch([1.0], [2.0], diagnosis="first line\n\n- not a list")
    assert "**Diagnosis:** first line - not a list" in markdown_text(one_failure_report(failure))
    assert markdown_report.DETAIL_LINES < 12  # shorter than the terminal's


# --- the command line ---------------------------------------------------------------


@pytest.fixture
def runner():
    pytest.importorskip("gradcheck.engine")
    return pytest.importorskip("gradcheck.runner")


@pytest.mark.usefixtures("runner")
def test_check_writes_all_five_formats_and_report_rerenders_them(tmp_path, capsys):
    live, again = tmp_path / "live", tmp_path / "again"
    status = main(["check", "tests.engines.cos_derivative_sign", "--ops", "cos", "--max-examples", "20",
                   "--no-programs", "--format", "text,json,html,junit,md", "--report-dir", str(live)])
    out = capsys.readouterr().out
    assert status == 1, out
    written = {path.name for path in live.iterdir()}
    assert {"gradcheck.html", "gradcheck.json", "gradcheck.md", "gradcheck.xml"} <= written
    for fmt in ("json", "html", "junit", "md"):
        assert f"Wrote {fmt} to {live / FORMATS[fmt].filename}" in out
    assert "cos · mismatch" in (live / "gradcheck.md").read_text(encoding="utf-8")

    assert main(["report", str(live / "gradcheck.json"), "--format", "html,md",
                 "--report-dir", str(again)]) == 1
    assert sorted(path.name for path in again.iterdir()) == ["gradcheck.html", "gradcheck.md"]
    # Re-rendered from the stored JSON, the files are those of the live run.
    for name in ("gradcheck.html", "gradcheck.md"):
        assert (again / name).read_text(encoding="utf-8") == (live / name).read_text(encoding="utf-8"), name
