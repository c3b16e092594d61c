"""The command line (docs/contract.md, section 2): arguments, exit codes, messages, speed of --help.

Most tests call ``main(argv)`` and read its output with ``capsys``; the ones
about imports and ``python -m gradcheck`` run a fresh interpreter. Tests that
run real engines import the runner and the engine loader with
``pytest.importorskip`` so that the argument tests stand on their own.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from gradcheck import __version__
from gradcheck.cli import main
from gradcheck.reports.json import write_json
from gradcheck.results import CheckResult, Report
from tests.report_samples import passing_report, sample_report

GOLD = Path(__file__).parent / "gold"
REPO = Path(__file__).resolve().parent.parent

# Modules `gradcheck --help` must not pay for.
HEAVY = ("tensorflow", "hypothesis", "rich", "numpy", "gradcheck.runner", "gradcheck.engine")


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)


def heavy_modules_after(statement: str) -> list[str]:
    """Return the heavy modules imported by running ``statement`` in a fresh interpreter."""
    code = (
        "import sys\n"
        f"try:\n    {statement}\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1].replace("'", '"'))


def one_paragraph(text: str) -> bool:
    return bool(text.strip()) and "\n" not in text.strip() and "Traceback" not in text


def store(report: Report, path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as stream:
        write_json(report, stream)
    return path


# --- fast start ---------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param("import gradcheck.cli", id="import"),
        pytest.param("from gradcheck.cli import main; main(['--help'])", id="help"),
        pytest.param("from gradcheck.cli import main; main(['check', '--help'])", id="check-help"),
        pytest.param("from gradcheck.cli import main; main(['report', '--help'])", id="report-help"),
        pytest.param("from gradcheck.cli import main; main(['--version'])", id="version"),
    ],
)
def test_nothing_heavy_is_imported(statement):
    assert heavy_modules_after(statement) == []


def test_python_dash_m_answers_help_and_version():
    done = subprocess.run([sys.executable, "-m", "gradcheck", "--help"], capture_output=True,
                          text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0
    assert done.stdout.startswith("usage: gradcheck ")
    for command in ("check", "report", "demo"):
        assert command in done.stdout
    done = subprocess.run([sys.executable, "-m", "gradcheck", "--version"], capture_output=True,
                          text=True, cwd=REPO, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, f"gradcheck {__version__}")


def test_check_help_lists_every_option(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["check", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for option in ("--ops", "--max-examples", "--seed", "--report-dir", "--format", "--timeout", "TARGET"):
        assert option in out


def test_check_help_and_the_readme_give_the_same_ops_default(capsys):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    (row,) = [line for line in readme.splitlines() if line.startswith("| `--ops OP,OP...` |")]
    readme_default = row.strip("| ").rsplit(" | ", 1)[1]
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert readme_default == "every op gradcheck knows; those the engine does not define are reported unsupported"
    assert f"(default: {readme_default})" in help_text


# --- bad arguments: exit 2, one paragraph naming the bad value ----------------

# Each target is never loaded: arguments are all validated first.
BAD_ARGUMENTS = [
    pytest.param(["--max-examples", "0"], ["--max-examples=0", "at least 1"], id="max-examples-zero"),
    pytest.param(["--max-examples", "many"], ["--max-examples='many'", "whole number"], id="max-examples-word"),
    pytest.param(["--max-examples", "2.5"], ["--max-examples='2.5'", "whole number"], id="max-examples-float"),
    pytest.param(["--seed", "-1"], ["--seed=-1", "at least 0"], id="seed-negative"),
    pytest.param(["--seed", "0x10"], ["--seed='0x10'"], id="seed-hex"),
    pytest.param(["--timeout", "0"], ["--timeout=0", "greater than 0"], id="timeout-zero"),
    pytest.param(["--timeout", "nan"], ["--timeout=nan", "finite"], id="timeout-nan"),
    pytest.param(["--timeout", "soon"], ["--timeout='soon'", "number"], id="timeout-word"),
    pytest.param(["--format", "xml"], ["--format=xml", "text, json"], id="format-unknown"),
    pytest.param(["--format", "text,pdf"], ["--format=pdf", "text, json, html, junit, md"], id="format-unknown-among-known"),
    pytest.param(["--format", ","], ["names no format"], id="format-empty"),
    pytest.param(["--max-exampels", "5"], ["unrecognized arguments: --max-exampels"], id="option-typo"),
]


@pytest.mark.parametrize("arguments, fragments", BAD_ARGUMENTS)
def test_bad_option_values_exit_2_with_one_paragraph(arguments, fragments, capsys):
    status = _exit_status(["check", "no_such_engine_is_loaded", *arguments])
    out, err = capsys.readouterr()
    assert status == 2
    assert out == ""
    assert one_paragraph(err), err
    for fragment in fragments:
        assert fragment in err


def _exit_status(argv: list[str]) -> int:
    """Return main's status, whether it returns it or argparse exits with it."""
    try:
        return main(argv)
    except SystemExit as exited:
        return exited.code


@pytest.mark.parametrize(
    "argv, fragment",
    [
        pytest.param([], "required: COMMAND", id="no-command"),
        pytest.param(["check"], "required: TARGET", id="no-target"),
        pytest.param(["frobnicate"], "invalid choice: 'frobnicate'", id="unknown-command"),
    ],
)
def test_argparse_errors_are_one_paragraph_too(argv, fragment, capsys):
    assert _exit_status(argv) == 2
    err = capsys.readouterr().err
    assert one_paragraph(err), err
    assert fragment in err and "--help" in err


@pytest.mark.parametrize(
    "ops, fragments",
    [
        pytest.param("mtmul", ["'mtmul'", "Did you mean 'matmul'?", "logsumexp"], id="typo"),
        pytest.param("add,softmaxx", ["'softmaxx'", "Did you mean 'softmax'?"], id="second-of-two"),
        pytest.param("frobnicate", ["'frobnicate'", "Known ops:"], id="no-suggestion"),
        pytest.param(",", ["names no op"], id="empty"),
    ],
)
def test_unknown_ops_are_named_with_a_suggestion(ops, fragments, capsys):
    pytest.importorskip("gradcheck.runner")
    assert main(["check", "no_such_engine_is_loaded", "--ops", ops]) == 2
    err = capsys.readouterr().err
    assert one_paragraph(err), err
    for fragment in fragments:
        assert fragment in err


def test_a_target_that_does_not_load_exits_2(capsys):
    pytest.importorskip("gradcheck.engine")
    assert main(["check", "no_such_module_anywhere", "--ops", "add"]) == 2
    err = capsys.readouterr().err
    assert one_paragraph(err), err
    assert "no_such_module_anywhere" in err


# --- gradcheck report: re-render a stored run ---------------------------------


def test_report_rerenders_stored_json_as_the_live_text_report(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")  # the gold file's width
    path = store(sample_report(), tmp_path / "gradcheck.json")
    assert main(["report", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == (GOLD / "report_failures.txt").read_text(encoding="utf-8")
    assert err == ""


def test_report_exits_0_for_a_passing_run(tmp_path, capsys):
    path = store(passing_report(), tmp_path / "gradcheck.json")
    assert main(["report", str(path)]) == 0
    assert "2 passed, 0 failed, 4 unsupported (seed 0)" in capsys.readouterr().out


def test_report_writes_json_again_identically(tmp_path, capsys):
    source = store(sample_report(), tmp_path / "gradcheck.json")
    assert main(["report", str(source), "--format", "json", "--report-dir", str(tmp_path / "again")]) == 1
    assert (tmp_path / "again" / "gradcheck.json").read_text() == source.read_text()
    lines = capsys.readouterr().out.splitlines()
    # Files only: the one-line summary still says how the run went.
    assert lines == [f"Wrote json to {tmp_path / 'again' / 'gradcheck.json'}",
                     "1 passed, 3 failed, 1 unsupported (seed 7)"]


def test_report_can_overwrite_the_file_it_reads(tmp_path, capsys):
    source = store(sample_report(), tmp_path / "gradcheck.json")
    before = source.read_text()
    assert main(["report", str(source), "--format", "json", "--report-dir", str(tmp_path)]) == 1
    assert source.read_text() == before


def _valid_report_without(key: str) -> str:
    data = sample_report().to_dict()
    del data[key]
    return json.dumps(data)


BAD_REPORTS = [
    pytest.param(None, ["cannot read the report"], id="missing"),
    pytest.param("{ not json", ["not valid JSON", "line 1"], id="garbage"),
    pytest.param("", ["not valid JSON"], id="empty"),
    pytest.param("[1, 2]", ["not a gradcheck report", "format_version"], id="a-list"),
    pytest.param('{"hello": 1}', ["not a gradcheck report", "format_version"], id="other-json"),
    pytest.param('{"format_version": 2}', ["format_version=2", "upgrade gradcheck"], id="newer"),
    pytest.param('{"format_version": 0}', ["format_version=0", "re-run"], id="older"),
    pytest.param(_valid_report_without("target"), ["not a valid gradcheck report", "'target'"], id="no-target"),
    pytest.param('{"format_version": 1, "target": "e.py", "seed": 0, "results": [{"status": "passed"}]}',
                 ["not a valid gradcheck report", "'check'"], id="result-without-check"),
]


@pytest.mark.parametrize("content, fragments", BAD_REPORTS)
def test_report_on_a_bad_file_exits_2(content, fragments, tmp_path, capsys):
    path = tmp_path / "stored.json"
    if content is not None:
        path.write_text(content)
    assert main(["report", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert one_paragraph(err), err
    assert str(path) in err
    for fragment in fragments:
        assert fragment in err


def test_report_on_a_binary_file_exits_2(tmp_path, capsys):
    path = tmp_path / "stored.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    assert main(["report", str(path)]) == 2
    assert one_paragraph(capsys.readouterr().err)


# --- real runs (need the runner, the engine loader and, for the tapes, TensorFlow) ---


@pytest.fixture
def runner():
    pytest.importorskip("gradcheck.engine")
    return pytest.importorskip("gradcheck.runner")


@pytest.mark.usefixtures("runner")
def test_check_a_correct_engine_exits_0_and_writes_json(tmp_path, capsys):
    status = main(["check", "gradcheck.examples.numpy_engine", "--ops", "add,mul", "--max-examples", "5",
                   "--no-programs", "--seed", "3", "--format", "text,json", "--report-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0, out
    data = json.loads((tmp_path / "gradcheck.json").read_text())
    assert [result["check"] for result in data["results"]] == ["add", "multiply"]  # alias mapped
    assert data["seed"] == 3 and data["summary"]["failed"] == 0
    assert "2 passed, 0 failed, 0 unsupported (seed 3)" in out
    assert out.rstrip().endswith(f"Wrote json to {tmp_path / 'gradcheck.json'}")


@pytest.mark.usefixtures("runner")
def test_check_the_questions_tape_exits_1_with_a_replay_hint(capsys, monkeypatch, tmp_path):
    pytest.importorskip("tensorflow")
    monkeypatch.setenv("COLUMNS", "200")  # keep the replay command on one line
    monkeypatch.chdir(tmp_path)  # its reproducers go to ./reports
    # In process: the exit status and the hint are the point, not the engine's worker (test_isolation's).
    status = main(["check", "gradcheck.examples.question_tape", "--ops", "matmul", "--max-examples", "200",
                   "--in-process"])
    out = capsys.readouterr().out
    assert status == 1, out
    assert "gradcheck check gradcheck.examples.question_tape --ops matmul --no-programs --seed 0 --max-examples 200" in out


# --- demo -------------------------------------------------------------------------


def _report_failing(*checks: str) -> Report:
    results = [
        CheckResult(check, kind, "failed" if check in checks else "passed")
        for check, kind in (("add", "op"), ("matmul", "op"), ("programs", "program"))
    ]
    return Report("engine.py", 0, results=results)


@pytest.mark.parametrize(
    "step, failing, fragments",
    [
        pytest.param(0, (), None, id="correct-engine-clean"),
        pytest.param(0, ("add",), ["a correct engine", "add failed, which should have passed"],
                     id="correct-engine-fails"),
        pytest.param(1, ("matmul", "programs"), None, id="tape-fails-matmul-and-programs"),
        pytest.param(1, (), ["matmul, programs passed 200 examples", "a failure should have been found"],
                     id="tape-passes"),
        pytest.param(1, ("matmul",), ["programs passed 200 examples"], id="tape-programs-pass"),
        pytest.param(2, ("add", "matmul", "programs"), ["add failed, which should have passed"],
                     id="fix-fails-more"),
    ],
)
def test_demo_says_what_was_unexpected(step, failing, fragments):
    from gradcheck.demo import DEMO_STEPS, unexpected

    sentence = unexpected(DEMO_STEPS[step], _report_failing(*failing))
    if fragments is None:
        assert sentence is None
    else:
        for fragment in fragments:
            assert fragment in sentence
        assert sentence.endswith(".")


@pytest.mark.usefixtures("runner")
def test_demo_runs_as_intended(tmp_path):
    pytest.importorskip("tensorflow")
    from gradcheck.demo import DEMO_STEPS, run_demo

    # The correct engine on two ops only: the tapes are what this test is about.
    steps = [replace(DEMO_STEPS[0], ops=("add", "matmul"), max_examples=10), *DEMO_STEPS[1:]]
    console = Console(file=io.StringIO(), width=100, color_system=None)
    assert run_demo(console, steps=steps, report_dir=tmp_path) == 0, console.file.getvalue()
    for step in steps:
        data = json.loads((tmp_path / step.slug / "gradcheck.json").read_text())
        assert {r["check"] for r in data["results"] if r["status"] == "failed"} == step.expected_failures
    assert "The demo ran as intended" in console.file.getvalue()
