"""Reproducers (issue 4): each failed check becomes a pytest file that fails on the bug, passes on the fix.

The heart is ``test_reproducer_fails_on_the_bug_and_passes_on_the_fix``: a
student's engine file (a planted bug of ``tests/engines``, copied) is checked
by its file path, its reproducer is written and run by pytest in a fresh
interpreter from another folder (it must fail, on the test of the category
the bug is about), then the file is overwritten with the fixed engine and the
same reproducer must pass. The other tests pin the generated code without
running gradcheck: it compiles, holds the case as exact literals, and tells
the student how to run it.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from gradcheck import sandbox
from gradcheck.program import ProgramCase, Step
from gradcheck.reports import reproducer
from gradcheck.reports.reproducer import reproducer_source, write_reproducers
from gradcheck.tolerances import Tolerance
from gradcheck.verdict import failure_for
from gradcheck.results import ArrayRecord, CheckResult, Failure, Report
from tests.report_samples import sample_report

# Machines without bubblewrap grade in plain workers: these tests are not about the sandbox.
NO_SANDBOX = [] if sandbox.available() is None else ["--no-sandbox"]

ENGINES = Path(__file__).parent / "engines"

FIXED = "from gradcheck.examples.numpy_engine import make_engine\n\nengine = make_engine()\n"

# Code appended to both the buggy and the fixed file: it rebinds ``engine`` to
# a variant the reproducer must cope with.
ALIAS_MUL = """
import types as _types
engine = _types.SimpleNamespace(variable=engine.variable, value=engine.value, grad=engine.grad, mul=engine.multiply)
"""
GRAD_WITHOUT_COTANGENT = """
import types as _types
_base = engine
engine = _types.SimpleNamespace(
    variable=_base.variable, value=_base.value, grad=lambda y, xs: _base.grad(y, xs), mean=_base.mean,
)
"""
FLOAT32 = '\nengine = make_engine("float32", overrides={"matmul": engine.matmul})\n'
# Not a planted module: the bug lives in the wrapper, so only the buggy file has it.
GRAD_COUNTS_CALLS = """
import types as _types
_base, _calls = engine, []


def _grad(y, xs, cotangent):
    _calls.append(None)  # module state: the second identical call answers twice as much
    return [g * len(_calls) for g in _base.grad(y, xs, cotangent)]


engine = _types.SimpleNamespace(variable=_base.variable, value=_base.value, grad=_grad, add=_base.add)
"""


@dataclass(frozen=True)
class Student:
    """A student's engine file, buggy then fixed, and what checking it must find."""

    id: str
    buggy: str
    fixed: str
    ops: tuple[str, ...]
    category: str
    programs: int = 0

    @property
    def check(self) -> str:
        return "programs" if self.programs else self.ops[0]


def planted(id: str, module: str, ops: tuple[str, ...], category: str, wrapper: str = "",
            programs: int = 0) -> Student:
    """Return a student whose file is ``tests/engines/<module>.py`` (plus ``wrapper``), fixed by the reference."""
    buggy = (ENGINES / f"{module}.py").read_text(encoding="utf-8") + wrapper
    return Student(id, buggy, FIXED + wrapper, ops, category, programs)


STUDENTS = [
    planted("op-mismatch", "matmul_transpose_all_axes", ("matmul",), "mismatch"),
    planted("shape", "reshape_to_requested_shape", ("reshape",), "shape"),
    planted("mutation", "relu_inplace", ("relu",), "mutation"),
    planted("exception", "matmul_2d_only", ("matmul",), "exception"),
    planted("nonfinite", "sqrt_nonfinite", ("sqrt",), "nonfinite"),
    planted("positional-param", "pow_derivative_p_x_p", ("pow",), "mismatch"),
    planted("keyword-params", "sum_reduced_axes_first", ("sum",), "mismatch"),
    planted("integer-labels", "cross_entropy_missing_mean", ("cross_entropy",), "mismatch"),
    planted("listed-operands", "concat_split_wrong_axis", ("concat",), "shape"),
    planted("alias-mul", "multiply_swapped_operands", ("multiply",), "mismatch", ALIAS_MUL),
    planted("grad-without-cotangent", "mean_missing_1_over_n", ("mean",), "mismatch", GRAD_WITHOUT_COTANGENT),
    planted("float32", "matmul_transpose_all_axes", ("matmul",), "mismatch", FLOAT32),
    planted("program", "traversal_overwrites", ("sin", "multiply", "exp"), "mismatch", programs=100),
    Student("nondeterministic", FIXED + GRAD_COUNTS_CALLS, FIXED, ("add",), "nondeterministic"),
    # Integer and boolean arrays as parameters (docs/contract.md, section 1b): written as np.array literals.
    planted("integer-array-param", "take_overwrites_repeats", ("take",), "mismatch"),
    planted("before-param", "where_both_branches", ("where",), "mismatch"),
]


def run_pytest(path: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run pytest on ``path`` in a fresh interpreter, as a student would, from ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", str(path)],
        cwd=cwd, capture_output=True, text=True, timeout=120,
        # Only the plugins a reproducer needs: none.
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )


def failed_tests(done: subprocess.CompletedProcess[str]) -> set[str]:
    """Return the names of the tests pytest's summary (``-rA``) lists as FAILED."""
    return {line.split("::", 1)[1].split(" ", 1)[0] for line in done.stdout.splitlines()
            if line.startswith("FAILED ")}


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A student's project folder, the current folder while gradcheck runs."""
    folder = tmp_path / "project"
    (folder / "student").mkdir(parents=True)
    monkeypatch.chdir(folder)
    return folder


# --- the heart: fails on the bug, passes on the fix -----------------------------------


@pytest.mark.parametrize("student", STUDENTS, ids=[student.id for student in STUDENTS])
def test_reproducer_fails_on_the_bug_and_passes_on_the_fix(student, project, tmp_path):
    from gradcheck.engine import load_engine
    from gradcheck.runner import run_checks

    engine_file = project / "student" / "engine.py"
    engine_file.write_text(student.buggy, encoding="utf-8")
    engine = load_engine("student/engine.py")
    report = run_checks(engine, ops=list(student.ops), max_examples=100, seed=0, programs=student.programs)
    failed = {result.check: result for result in report.results if result.status == "failed"}
    assert list(failed) == [student.check], report.to_dict()
    assert student.category in [failure.category for failure in failed[student.check].failures]

    written = write_reproducers(report, "reports", engine)
    relative = Path("reports") / f"repro_{student.check}.py"
    assert written == {student.check: relative}

    # From another folder: the relative TARGET must still lead to the engine.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    before = run_pytest(project / relative, cwd=elsewhere)
    assert before.returncode == 1, before.stdout + before.stderr
    assert f"test_{student.check}_{student.category}" in failed_tests(before), before.stdout

    engine_file.write_text(student.fixed, encoding="utf-8")
    after = run_pytest(project / relative, cwd=elsewhere)
    assert after.returncode == 0, after.stdout + after.stderr
    assert f"{len(failed[student.check].failures)} passed" in after.stdout


def run_python(path: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python path`` in a fresh interpreter, as a student would who never heard of pytest."""
    return subprocess.run(
        [sys.executable, str(path)], cwd=cwd, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTEST_ADDOPTS": "-p no:cacheprovider"},
    )


def test_python_runs_the_reproducer_with_pytest_and_exits_with_its_status(project):
    """``python repro_negative.py``: 1 with the failure shown on the bug, 0 on the fix (not 0 silently)."""
    from gradcheck.engine import load_engine
    from gradcheck.runner import run_checks

    engine_file = project / "student" / "engine.py"
    engine_file.write_text((ENGINES / "negative_sign.py").read_text(encoding="utf-8"), encoding="utf-8")
    engine = load_engine("student/engine.py")
    report = run_checks(engine, ops=["negative"], max_examples=20, seed=0, programs=0)
    path = write_reproducers(report, "reports", engine)["negative"]

    before = run_python(path, cwd=project)
    assert before.returncode == 1, before.stdout + before.stderr
    assert "FAILED" in before.stdout and "test_negative_mismatch" in before.stdout, before.stdout
    assert "differs from the reference" in before.stdout, before.stdout

    engine_file.write_text(FIXED, encoding="utf-8")
    after = run_python(path, cwd=project)
    assert after.returncode == 0, after.stdout + after.stderr
    assert "1 passed" in after.stdout, after.stdout


def test_the_file_calls_the_engines_own_names_and_its_grad_signature(project):
    """An alias engine is called as it spells the op; a two-argument grad gets no cotangent."""
    report = _report_for("multiply", params={})
    engine = SimpleNamespace(aliases={"multiply": "mul"}, grad_takes_cotangent=False)
    source = _source(report, engine)
    assert "y = engine.mul(a, b)" in source
    assert "grads = as_arrays(engine.grad(y, [a, b]))" in source
    assert "cotangent = np.array" not in source


@pytest.mark.parametrize(
    "op, params, call",
    [
        pytest.param("pow", {"p": 2.5}, "y = engine.pow(x, 2.5)", id="required-positional"),
        pytest.param("sum", {"axis": [0, -1], "keepdims": True}, "y = engine.sum(x, axis=(0, -1), keepdims=True)",
                     id="optional-by-keyword-tuples-from-json"),
        pytest.param("sum", {"axis": None, "keepdims": False}, "y = engine.sum(x)", id="defaults-left-out"),
        pytest.param("reshape", {"shape": (4, -1)}, "y = engine.reshape(x, (4, -1))", id="shape"),
    ],
)
def test_static_params_are_passed_as_the_engine_receives_them(op, params, call):
    report = _report_for(op, params=params, names=("x",), shape=(2, 2))
    assert call in _source(report)


# --- the generated code -------------------------------------------------------------


def _report_for(op: str, params: dict, names: tuple[str, ...] = ("a", "b"), shape=(2, 2),
                category: str = "exception", dtype: str = "float64") -> Report:
    """Return a report whose one failed check is ``op`` on arrays of ``shape``."""
    inputs = [ArrayRecord(name, np.full(shape, 0.5 + index), dtype) for index, name in enumerate(names)]
    failure = Failure(category, f"{op}() raised ValueError", inputs, params=params, cotangent=np.ones(shape))
    return Report("student/engine.py", seed=0, dtype=dtype, max_examples=100,
                  results=[CheckResult(op, "op", "failed", failures=[failure])])


def _source(report: Report, engine=None, path="reports/repro_x.py", checked_from="/home/student/hw",
            check: str | None = None) -> str:
    """Return the reproducer of ``check`` (default: the first failed check) of ``report``."""
    engine = engine or SimpleNamespace(aliases={}, grad_takes_cotangent=True)
    result = next(result for result in report.results
                  if result.status == "failed" and check in (None, result.check))
    return reproducer_source(report, result, engine, path=path, checked_from=checked_from)


def _every_category() -> Report:
    """Return the sample report plus one failure of each category it lacks."""
    report = sample_report()
    x = [ArrayRecord("x", np.array([[1.0, -0.5], [0.25, 2.0]]), "float64")]
    base = Failure("mismatch", "the gradient w.r.t. x differs from the reference", x, cotangent=np.ones((2, 2)),
                   wrt="x", expected=np.array([[1.0, 0.0], [1.0, 0.0]]), actual=np.ones((2, 2)))
    extra = [
        replace(base, category="shape", message="the gradient w.r.t. x has shape (4,), expected (2, 2)",
                actual=np.ones(4)),
        replace(base, category="nonfinite", message="the gradient w.r.t. x has NaN or inf",
                actual=np.array([[np.nan, 0.0], [np.inf, 0.0]])),
        replace(base, category="mutation", message="relu() wrote into the array it was handed for input x",
                wrt=None, expected=None, actual=None),
        replace(base, category="nondeterministic", message="the same case gave different answers",
                wrt=None, expected=None, actual=None),
        replace(base, category="timeout", message="relu() did not return within 10 s",
                wrt=None, expected=None, actual=None),
        replace(base, category="crash", message="the engine's process died (SIGSEGV)",
                wrt=None, expected=None, actual=None),
    ]
    return replace(report, results=(*report.results, CheckResult("relu", "op", "failed", failures=extra)))


@pytest.mark.parametrize("check", ["matmul", "sum", "programs", "relu"])
def test_generated_code_compiles_with_one_test_per_category(check):
    report = _every_category()
    result = next(result for result in report.results if result.check == check)
    source = _source(report, check=check)
    tree = ast.parse(source)
    compile(source, f"repro_{check}.py", "exec")
    tests = [node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")]
    assert tests == [f"test_{check}_{failure.category}" for failure in result.failures]
    # Imported with the file: only NumPy and gradcheck's engine loader (plus os or sys to find the target).
    *definitions, script = tree.body
    imported = {alias.name for node in definitions for node in ast.walk(node)
                if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
    modules = {node.module for node in definitions for node in ast.walk(node) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"numpy", "os", "sys", "load_engine"} and modules == {"gradcheck.engine"}
    # Run as a script, and only then, it imports pytest and runs itself.
    assert isinstance(script, ast.If) and ast.unparse(script.test) == "__name__ == '__main__'"
    assert "sys.exit(pytest.main([__file__, *sys.argv[1:]]))" in ast.unparse(script)


def test_docstring_says_what_failed_how_to_run_it_and_how_to_replay():
    report = sample_report()
    source = _source(report, path="reports/repro_matmul.py")
    docstring = ast.get_docstring(ast.parse(source))
    assert "Reproduce gradcheck's failures of matmul on student/engine.py." in docstring
    assert "test_matmul_mismatch   The gradient w.r.t. b differs from the reference." in docstring
    assert "    pytest reports/repro_matmul.py" in docstring
    assert "`python reports/repro_matmul.py` does the same" in docstring
    assert "pytest --trace reports/repro_matmul.py" in docstring
    assert "gradcheck check student/engine.py --ops matmul --no-programs --seed 7 --max-examples 100" in docstring


def test_arrays_are_exact_literals():
    """repr round-trips each float: the float32 engine is handed the very numbers gradcheck used."""
    values = np.array([[0.1, -2.5e-8], [1 / 3, 3.0]], dtype=np.float32).astype(np.float64)
    report = _report_for("exp", params={}, names=("x",), dtype="float32")
    result = report.results[0]
    failure = replace(result.failures[0], inputs=(ArrayRecord("x", values, "float32"),))
    report = replace(report, results=(replace(result, failures=(failure,)),))
    source = _source(report)
    test = next(node for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)
                and node.name.startswith("test_"))
    literal = next(node.value for node in test.body if isinstance(node, ast.Assign)
                   and node.targets[0].id == "x_array")
    rebuilt = eval(compile(ast.Expression(literal), "<literal>", "eval"), {"np": np})  # noqa: S307 - ours
    assert rebuilt.dtype == np.float32 and np.array_equal(rebuilt.astype(np.float64), values)
    assert "RTOL = 0.001" in source


def test_a_program_failure_keeps_its_steps_as_data_through_json():
    steps = (
        Step("t0", "pow", ("x0",), {"p": 2.5}),
        Step("t1", "multiply", ("t0", "x1")),
        Step("t2", "sum", ("t1",), {"axis": (0, -1), "keepdims": True}),
    )
    program = ProgramCase(("x0", "x1"), (np.ones((2, 3)), np.ones(3)), steps, np.ones((1, 1)))
    printed = steps[:-1] + (replace(steps[-1], out="y"),)
    assert program.printed_steps() == printed
    failure = failure_for(program, "mismatch", "the gradient w.r.t. x0 differs from the reference")
    assert failure.steps == printed and failure.program == program.code()
    assert Failure.from_dict(json.loads(json.dumps(failure.to_dict()))).steps == printed


def test_a_relative_target_is_found_from_anywhere_and_a_module_from_the_check_folder(project):
    (project / "student" / "engine.py").write_text(FIXED, encoding="utf-8")
    as_file = _source(_report_for("add", {}), checked_from=str(project))
    assert 'if not os.path.exists("student/engine.py"):' in as_file
    assert f'TARGET = {json.dumps(str(project / "student/engine.py"))}' in as_file

    module_report = replace(_report_for("add", {}), target="student.engine")
    assert f"sys.path.append({json.dumps(str(project))})" in _source(module_report, checked_from=str(project))


# --- writing files --------------------------------------------------------------------


def test_only_failed_checks_get_a_file_and_the_failures_point_at_it(tmp_path):
    report = sample_report()
    engine = SimpleNamespace(aliases={}, grad_takes_cotangent=True)
    written = write_reproducers(report, tmp_path / "out", engine)
    assert written == {check: tmp_path / "out" / f"repro_{check}.py" for check in ("matmul", "sum", "programs")}
    report = report.with_reproducers({check: str(path) for check, path in written.items()})
    for result in report.results:
        expected = str(tmp_path / "out" / f"repro_{result.check}.py") if result.status == "failed" else None
        assert all(failure.reproducer == expected for failure in result.failures)
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == sorted(path.name for path in written.values())


def test_a_failed_write_leaves_no_file_behind(tmp_path, monkeypatch):
    def refuse(source, destination):
        raise OSError("disk full")

    monkeypatch.setattr(reproducer.os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_reproducers(sample_report(), tmp_path, SimpleNamespace(aliases={}, grad_takes_cotangent=True))
    assert list(tmp_path.iterdir()) == []


# --- the command line -------------------------------------------------------------------


@pytest.mark.parametrize("isolation", [[], ["--isolate", *NO_SANDBOX]], ids=["in-process", "isolated"])
def test_check_writes_the_reproducer_and_both_reports_name_it(isolation, project, capsys, monkeypatch):
    from gradcheck.cli import main

    monkeypatch.setenv("COLUMNS", "200")
    (project / "student" / "engine.py").write_text(
        (ENGINES / "matmul_transpose_all_axes.py").read_text(encoding="utf-8"), encoding="utf-8"
    )
    status = main(["check", "student/engine.py", "--ops", "matmul", "--no-programs", "--max-examples", "100",
                   "--format", "text,json", "--report-dir", "out", *isolation])
    out = capsys.readouterr().out
    assert status == 1, out
    data = json.loads((project / "out" / "gradcheck.json").read_text())
    (matmul,) = data["results"]
    assert matmul["failure"]["reproducer"] == "out/repro_matmul.py"
    assert (project / "out" / "repro_matmul.py").is_file()
    assert "reproducer" in out and "out/repro_matmul.py" in out
    assert out.rstrip().endswith("Wrote reproducer to out/repro_matmul.py")

    # Re-rendering a stored report runs nothing and writes no reproducer: the path stays.
    assert main(["report", "out/gradcheck.json", "--format", "json", "--report-dir", "again"]) == 1
    assert not (project / "again" / "repro_matmul.py").exists()
    again = json.loads((project / "again" / "gradcheck.json").read_text())
    assert again["results"][0]["failure"]["reproducer"] == "out/repro_matmul.py"


def test_a_tolerance_override_reaches_the_report_json_and_reproducer():
    """The tolerance a run compared with is the one its reproducer asserts with, not the default."""
    from gradcheck.engine import load_engine
    from gradcheck.runner import run_checks
    from tests.engines import negative_sign

    report = run_checks(load_engine(negative_sign.engine), ops=["negative"], max_examples=5, programs=0,
                        tolerances={"float64": 2.5e-4})
    assert report.tolerance == Tolerance(rtol=2.5e-4)
    assert Report.from_dict(json.loads(json.dumps(report.to_dict()))).tolerance == Tolerance(rtol=2.5e-4)
    source = _source(report, engine=SimpleNamespace(aliases={}, grad_takes_cotangent=True))
    assert "RTOL = 0.00025" in source and "RTOL = 1e-07" not in source
