"""Reports and reproducers of order-2 and forward-mode failures (issue 20).

Each failure here is made the way a run makes it, without a search and
without TensorFlow: a planted copy of ``tests/targets/second_order_engine.py``
answers a derived case (``gradcheck.higher.derive``) in process, and
gradcheck's own verdict judges it against a hand-written reference (tanh's
derivatives, checked by finite differences below). Every report format must
then name what was compared (``second derivative w.r.t. x``, ``gradient
w.r.t. x made with create_graph=True``, ``JVP along the tangents``) and show
the directions or tangents; the JSON report keeps them; and the reproducer
written for the failure fails on the planted engine and passes on the correct
one.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from gradcheck.case import Case
from gradcheck.engine import load_engine
from gradcheck.higher import FORWARD, ORDER2, check_name, derive, not_differentiable
from gradcheck.oracles import DerivedReference
from gradcheck.program import ProgramCase, Step
from gradcheck.reports.display import replay_command
from gradcheck.reports.html import render_html
from gradcheck.reports.junit import junit_tree
from gradcheck.reports.markdown import markdown_text
from gradcheck.reports.reproducer import write_reproducers
from gradcheck.reports.student import failed_replay
from gradcheck.reports.text import render_check_text
from gradcheck.results import CheckResult, Report
from gradcheck.tolerances import DEFAULT_TOLERANCES
from gradcheck.verdict import judge

CORRECT = Path(__file__).parent / "targets" / "second_order_engine.py"

# Appended to a copy of the correct engine: each replaces one rule (the last definition wins).
DETACHED_TANH = '''

def tanh(x):  # planted: the saved output is a constant, so the gradient has no graph behind it
    out = Node(np.tanh(x.data), (x,))
    out.backward = lambda g: [multiply(g, _constant(1.0 - out.data ** 2))]
    out.forward = lambda t: t * (1.0 - out.data ** 2)
    return out
'''
WRONG_TANH_JVP = '''

def tanh(x):  # planted: the JVP rule forgets the square
    out = Node(np.tanh(x.data), (x,))
    out.backward = lambda g: [multiply(g, subtract(_constant(np.ones_like(out.data)), multiply(out, out)))]
    out.forward = lambda t: t * (1.0 - out.data)
    return out
'''
WRONG_TANH_VJP = '''

def tanh(x):  # planted: the backward rule forgets the square (the JVP rule is right)
    out = Node(np.tanh(x.data), (x,))
    out.backward = lambda g: [multiply(g, subtract(_constant(np.ones_like(out.data)), out))]
    out.forward = lambda t: t * (1.0 - out.data ** 2)
    return out
'''
CREATE_GRAPH_DROPS_COTANGENT = '''

_first_order_grad = grad


def grad(y, xs, cotangent, create_graph=False):  # planted: with create_graph the cotangent is all ones
    return _first_order_grad(y, xs, np.ones_like(cotangent) if create_graph else cotangent, create_graph=create_graph)
'''

X = np.array([-1.5, 0.25, 0.75])
X1 = np.array([0.5, -2.0, 1.25])
U = np.array([0.5, -1.5, 2.0])


# --- the reference, by hand --------------------------------------------------------------


def _dtanh(x: np.ndarray) -> np.ndarray:
    return 1.0 - np.tanh(x) ** 2


def _d2tanh(x: np.ndarray) -> np.ndarray:
    return -2.0 * np.tanh(x) * _dtanh(x)


@dataclass(frozen=True)
class Calculus:
    """A computation's forward value, VJP, VJP of the VJP along ``v`` and JVP along ``t``, by hand."""

    forward: Callable[[list[np.ndarray]], np.ndarray]
    vjp: Callable[[list[np.ndarray], np.ndarray], list[np.ndarray]]
    second: Callable[[list[np.ndarray], np.ndarray, list[np.ndarray]], list[np.ndarray]]
    jvp: Callable[[list[np.ndarray], list[np.ndarray]], np.ndarray]


TANH = Calculus(
    forward=lambda xs: np.tanh(xs[0]),
    vjp=lambda xs, u: [u * _dtanh(xs[0])],
    second=lambda xs, u, v: [u * v[0] * _d2tanh(xs[0])],
    jvp=lambda xs, t: t[0] * _dtanh(xs[0]),
)
# y = multiply(tanh(x0), x1)
PROGRAM = Calculus(
    forward=lambda xs: np.tanh(xs[0]) * xs[1],
    vjp=lambda xs, u: [u * xs[1] * _dtanh(xs[0]), u * np.tanh(xs[0])],
    second=lambda xs, u, v: [u * v[0] * xs[1] * _d2tanh(xs[0]) + u * v[1] * _dtanh(xs[0]), u * v[0] * _dtanh(xs[0])],
    jvp=lambda xs, t: t[0] * _dtanh(xs[0]) * xs[1] + np.tanh(xs[0]) * t[1],
)


def tanh_case() -> Case:
    return Case("tanh", ("x",), (X,), {}, U, "float64")


def program_case() -> ProgramCase:
    steps = (Step("t0", "tanh", ("x0",)), Step("t1", "multiply", ("t0", "x1")))
    return ProgramCase(("x0", "x1"), (X, X1), steps, U, "float64")


@pytest.mark.parametrize("calculus", [TANH, PROGRAM], ids=["tanh", "program"])
def test_the_hand_written_references_agree_with_finite_differences(calculus):
    """The reference the failures below are judged against: its derivatives are those of its forward."""
    rng = np.random.default_rng(0)
    xs = [X, X1][: 1 if calculus is TANH else 2]
    step = 1e-6
    along = [rng.standard_normal(X.shape) for _ in xs]
    shifted = [[x + sign * step * d for x, d in zip(xs, along)] for sign in (1, -1)]
    jvp = (calculus.forward(shifted[0]) - calculus.forward(shifted[1])) / (2 * step)
    np.testing.assert_allclose(calculus.jvp(xs, along), jvp, rtol=1e-6, atol=1e-8)
    v = [rng.standard_normal(X.shape) for _ in xs]

    def inner(at: list[np.ndarray]) -> float:
        return float(sum(np.sum(g * d) for g, d in zip(calculus.vjp(at, U), v)))

    estimate = (inner(shifted[0]) - inner(shifted[1])) / (2 * step)
    exact = float(sum(np.sum(s * d) for s, d in zip(calculus.second(xs, U, v), along)))
    assert abs(estimate - exact) <= 1e-6 * (1 + abs(exact))
    exact_vjp = float(sum(np.sum(g * d) for g, d in zip(calculus.vjp(xs, U), along)))
    assert abs(float(np.sum(U * jvp)) - exact_vjp) <= 1e-6 * (1 + abs(exact_vjp))


# --- failures, as a run makes them ---------------------------------------------------------


def engine_file(folder: Path, planted: str) -> Path:
    """Return a copy of the correct engine with ``planted`` appended, written in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "engine.py"
    path.write_text(CORRECT.read_text(encoding="utf-8") + planted, encoding="utf-8")
    return path


def derived_failure(engine_path: Path, case: Any, calculus: Calculus, mode: str) -> Any:
    """Return gradcheck's verdict on the engine at ``engine_path`` for ``case`` in ``mode``, judged by ``calculus``."""
    derived = derive(case, mode)
    xs, directions = list(case.inputs), list(derived.directions)
    first = calculus.vjp(xs, case.cotangent)
    grads = (*first, *calculus.second(xs, case.cotangent, directions)) if mode == ORDER2 \
        else (calculus.jvp(xs, directions),)
    reference = DerivedReference(calculus.forward(xs), tuple(grads), tuple(first))
    outcome = load_engine(str(engine_path), quiet_tensorflow=False).run(derived, None, repeat=False)
    failure = judge(derived, outcome, reference, DEFAULT_TOLERANCES["float64"])
    assert failure is not None, f"{engine_path} passed {derived.describe()}"
    # As the runner names it (gradcheck.runner.check_op): the classic cause of a second derivative of zero.
    return dataclasses.replace(failure, diagnosis=not_differentiable(derived, failure))


@dataclass(frozen=True)
class Planted:
    """One derived failure to report: the bug, the case, the mode, and what the panels must say."""

    id: str
    planted: str
    program: bool
    mode: str
    # The row of the compared arrays (None: the failure compares no arrays), and the directions' row.
    compared: str | None
    directions: str
    message: str

    @property
    def check(self) -> str:
        return check_name("programs" if self.program else "tanh", self.mode)


PLANTED = [
    Planted("second-derivative", DETACHED_TANH, False, ORDER2, "second derivative w.r.t. x", "directions",
            "the second derivative w.r.t. x"),
    Planted("made-with-create-graph", CREATE_GRAPH_DROPS_COTANGENT, False, ORDER2,
            "gradient w.r.t. x made with create_graph=True", "directions",
            "the gradient w.r.t. x made with create_graph=True differs"),
    Planted("jvp", WRONG_TANH_JVP, False, FORWARD, "JVP along the tangents", "tangents", "the JVP"),
    Planted("jvp-grad-consistency", WRONG_TANH_VJP, False, FORWARD, None, "tangents", "jvp() and grad() disagree"),
    Planted("program-second-derivative", DETACHED_TANH, True, ORDER2, "second derivative w.r.t. x0",
            "directions", "the second derivative w.r.t. x0"),
]


def report_of(planted: Planted, engine_path: Path) -> Report:
    case, calculus = (program_case(), PROGRAM) if planted.program else (tanh_case(), TANH)
    failure = derived_failure(engine_path, case, calculus, planted.mode)
    assert failure.message.startswith(planted.message), failure.message
    result = CheckResult(
        planted.check, "program" if planted.program else "op", "failed", examples=12, failures=(failure,),
        order=2 if planted.mode == ORDER2 else 1, mode="forward" if planted.mode == FORWARD else "reverse",
    )
    passed = CheckResult("tanh", "op", "passed", examples=100)
    return Report(str(engine_path), seed=3, engine_name="second order tiny", dtype="float64", max_examples=100,
                  programs=50 if planted.program else 0, ops=["tanh", "multiply"], results=(passed, result))


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Report]:
    """One report per planted failure, each made from its own engine file."""
    folder = tmp_path_factory.mktemp("higher")
    return {planted.id: report_of(planted, engine_file(folder / planted.id, planted.planted))
            for planted in PLANTED}


def _label_rows(panel: str) -> list[str]:
    """Return the first cell of each row of a text panel (labels, and the message), a wrapped label joined again."""
    labels: list[str] = []
    for line in panel.splitlines():
        inner = line.strip("│ ").rstrip()
        if not line.startswith("│ ") or not inner:
            continue
        label = line[2:].split("  ", 1)[0].strip()
        if not label or label[0] in "[-0123456789":
            continue
        # The one label that wraps, "gradient w.r.t. x made with create_graph=True", goes on under itself.
        if labels and labels[-1].endswith(" with"):
            labels[-1] += " " + label
        else:
            labels.append(label)
    return labels


# --- the panels ------------------------------------------------------------------------------


@pytest.mark.parametrize("planted", PLANTED, ids=[planted.id for planted in PLANTED])
def test_every_format_names_what_was_compared_and_shows_the_directions(planted, reports):
    report = reports[planted.id]
    result = report.results[-1]
    failure = result.failures[0]
    assert failure.mode == planted.mode and len(failure.directions) == len(failure.inputs)

    panel = render_check_text(report, result, width=100)
    labels = _label_rows(panel)
    assert planted.directions in labels, panel
    assert (planted.compared in labels) if planted.compared else not any(
        label.startswith(("expected", "gradient w.r.t.", "JVP")) for label in labels), panel
    # Never worded as the first-order gradient it is not.
    assert not any(label.startswith("gradient w.r.t.") and "create_graph" not in label for label in labels), panel
    for record in failure.directions:
        assert f"{record.name}  {record.shape}  float64" in panel

    markdown = markdown_text(report)
    assert re.search(rf"\n{planted.directions} +{failure.directions[0].name} ", markdown), markdown
    if planted.compared:
        assert re.search(rf"\ncompared +{re.escape(planted.compared)}\n", markdown), markdown

    page = io.StringIO()
    render_html(report, page)
    assert f"<h3>{planted.directions}</h3>" in page.getvalue()
    if planted.compared:
        assert f"<h3>{planted.compared}</h3>" in page.getvalue()

    # JUnit's <failure> holds the text panel itself.
    (case,) = [case for case in junit_tree(report).iter("testcase") if case.get("name") == planted.check]
    assert (case.find("failure").text or "").strip() == panel.strip()


def test_a_first_order_failure_panel_is_unchanged_by_the_derived_rows(reports):
    """No directions row, no "compared" line, the gradient named as before: derived wording is for derived checks."""
    derived = reports["second-derivative"].results[-1].failures[0]
    first = dataclasses.replace(derived, mode=None, directions=(), message="the gradient w.r.t. x differs from the reference")
    report = dataclasses.replace(reports["second-derivative"], results=(
        CheckResult("tanh", "op", "failed", failures=(first,)),))
    labels = _label_rows(render_check_text(report, report.results[0], width=100))
    assert "gradient w.r.t. x" in labels and "directions" not in labels and "tangents" not in labels
    assert "compared" not in markdown_text(report)


# --- JSON, and the report re-rendered from it --------------------------------------------------


def test_the_json_report_keeps_order_mode_and_directions_and_re_renders_the_same_panel(
        reports, tmp_path, capsys, monkeypatch):
    from gradcheck.cli import main

    report = reports["second-derivative"]
    data = json.loads(json.dumps(report.to_dict()))
    result = data["results"][-1]
    assert (result["check"], result["order"], result["mode"]) == ("tanh (order 2)", 2, "reverse")
    assert result["failure"]["mode"] == "order 2"
    assert [record["name"] for record in result["failure"]["directions"]] == ["x"]
    again = Report.from_dict(data)
    assert again.to_dict() == report.to_dict()
    assert render_check_text(again, again.results[-1]) == render_check_text(report, report.results[-1])

    path = tmp_path / "gradcheck.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    monkeypatch.setenv("COLUMNS", "100")
    assert main(["report", str(path), "--format", "text"]) == 1
    printed = capsys.readouterr().out
    panel = render_check_text(report, report.results[-1], width=100)
    assert panel.strip() in printed


# --- replaying the check -----------------------------------------------------------------------


def test_replay_commands_name_the_op_and_the_order_not_the_checks_name(reports):
    order2 = reports["second-derivative"]
    command = replay_command(order2, order2.results[-1])
    assert " --ops tanh --no-programs --order 2 --seed 3 " in command and "(order 2)" not in command
    forward = reports["jvp"]
    command = replay_command(forward, forward.results[-1])
    assert " --ops tanh --no-programs --seed 3 " in command and "--order" not in command
    programs = reports["program-second-derivative"]
    assert " --ops tanh,multiply --programs 50 --order 2 " in replay_command(programs, programs.results[-1])
    both = dataclasses.replace(order2, results=(*order2.results, forward.results[-1]))
    assert " --ops tanh --no-programs --order 2 " in (failed_replay(both) or "")


# --- the reproducers -----------------------------------------------------------------------------


def _tests_of(path: Path, target: Path) -> dict[str, Callable[[], None]]:
    """Return the test functions of the reproducer at ``path``, run against the engine at ``target``."""
    namespace: dict[str, Any] = {"__name__": "reproducer", "__file__": str(path)}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)  # noqa: S102 - our own file
    namespace["TARGET"] = str(target)  # as if the student fixed the file the reproducer loads
    return {name: test for name, test in namespace.items() if name.startswith("test_") and callable(test)}


@pytest.mark.parametrize("planted", PLANTED, ids=[planted.id for planted in PLANTED])
def test_the_reproducer_fails_on_the_planted_engine_and_passes_on_the_correct_one(planted, reports, tmp_path):
    report = reports[planted.id]
    engine = load_engine(report.target, quiet_tensorflow=False)
    written = write_reproducers(report, tmp_path / "reports", engine)
    stem = planted.check.replace(" (", "__").replace(" ", "_").replace(")", "_")
    assert written == {planted.check: tmp_path / "reports" / f"repro_{stem}.py"}
    path = written[planted.check]
    source = path.read_text(encoding="utf-8")
    if planted.mode == ORDER2:
        assert "create_graph=True)" in source and "engine.grad(g, [" in source
    else:
        assert "engine.jvp(y, [" in source
    for record in report.results[-1].failures[0].directions:
        assert f"{'direction' if planted.mode == ORDER2 else 'tangent'}_{record.name} = np.array(" in source

    (name, buggy), = _tests_of(path, Path(report.target)).items()
    assert name == f"test_{stem}_mismatch"
    with pytest.raises(AssertionError) as caught:
        buggy()
    assert planted.message.split(" differs")[0].removeprefix("the ") in str(caught.value), caught.value
    (fixed,) = _tests_of(path, CORRECT).values()
    fixed()


def test_python_runs_an_order_2_reproducer_with_pytest_and_exits_with_its_status(reports, tmp_path):
    report = reports["second-derivative"]
    path = write_reproducers(report, tmp_path, load_engine(report.target, quiet_tensorflow=False))["tanh (order 2)"]
    done = subprocess.run(
        [sys.executable, str(path)], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTEST_ADDOPTS": "-p no:cacheprovider"},
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED" in done.stdout and "test_tanh__order_2__mismatch" in done.stdout, done.stdout
    assert "the second derivative w.r.t. x differs from the reference" in done.stdout, done.stdout


@pytest.mark.parametrize("mode", [ORDER2, FORWARD])
def test_a_reproducer_of_every_category_runs_and_passes_on_the_correct_engine(mode, reports, tmp_path):
    """Each category's test replays the mode's calls (twice, or on copies, where it says so) and passes on no bug."""
    report = reports["program-second-derivative" if mode == ORDER2 else "jvp"]
    result = report.results[-1]
    base = result.failures[0]
    bare = dict(wrt=None, expected=None, actual=None, worst_index=None, max_abs_error=None)
    calls = "grad(..., create_graph=True)" if mode == ORDER2 else "jvp()"
    failures = (
        base,
        dataclasses.replace(base, category="shape", message=(
            "grad(..., create_graph=True) returned 1 gradient(s) for 2 input(s)" if mode == ORDER2
            else "jvp() returned shape (2,), expected (3,) (the shape of the forward value)"), actual=np.ones(2),
            worst_index=None, wrt=None),
        dataclasses.replace(base, category="nonfinite", message=base.message.replace(
            "differs from the reference", "has NaN or inf where the reference is finite")),
        dataclasses.replace(base, category="exception", message=f"{calls} raised TypeError", **bare),
        dataclasses.replace(base, category="mutation", message=f"{calls} wrote into the array it was handed", **bare),
        dataclasses.replace(base, category="nondeterministic", message="the same case gave different answers", **bare),
        dataclasses.replace(base, category="forward", message="the forward value differs from the reference",
                            expected=np.zeros(3), actual=np.ones(3)),
    )
    report = dataclasses.replace(report, results=(dataclasses.replace(result, failures=failures),))
    path = write_reproducers(report, tmp_path, load_engine(CORRECT, quiet_tensorflow=False))[result.check]
    tests = _tests_of(path, CORRECT)
    stem = result.check.replace(" (", "__").replace(" ", "_").replace(")", "_")
    assert list(tests) == [f"test_{stem}_{failure.category}" for failure in failures]
    for test in tests.values():
        test()
