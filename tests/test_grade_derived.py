"""Grading order-2 checks (issue 20): columns, weights, the LMS outputs, ``--order`` for every submission.

* ``grade --order 2`` adds a column per order-2 check (``tanh (order 2)``,
  ``programs (order 2)``), the same for every submission; an engine whose grad
  takes no ``create_graph`` earns none of their points, and its first-order
  columns are graded as before. Without ``--order 2`` each submission is
  checked with ``--order 1``: the columns a first-order course had.
* A weights file weighs a derived check by its quoted name (an op's alias
  too); one it does not weigh takes its ``default``.
* Gradescope, Classroom and Canvas carry the derived columns and their points.

The engines: ``tests/targets/order2_two_ops.py`` (tanh and multiply, right at
every order), ``tests/targets/two_ops.py`` (no create_graph), and the
detached-tanh variant of ``tests/test_pytest_derived.py``.
"""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from gradcheck.assertions import CheckSettings, check_report
from gradcheck.cli import main
from gradcheck.errors import UsageError
from gradcheck.grade import GradeOptions, load_weights
from gradcheck.reports.lms import GradedReport, Grading, classroom_result, gradescope_results
from tests.test_grade import NO_SANDBOX
from tests.test_pytest_derived import DETACHED_TANH, ORDER2_ENGINE, TWO_OPS

COLUMNS = ["tanh", "tanh (order 2)", "multiply", "multiply (order 2)", "programs", "programs (order 2)"]
WEIGHTS = '[weights]\n"tanh (order 2)" = 3\n"mul (order 2)" = 2\nprograms = 0\ndefault = 1\n'


@pytest.fixture
def weights_file(tmp_path):
    path = tmp_path / "weights.toml"
    path.write_text(WEIGHTS, encoding="utf-8")
    return path


def test_order_2_adds_a_column_per_order_2_check_and_is_asked_of_no_engine_by_name():
    options = GradeOptions(ops=("tanh", "multiply", "add"), order=2)
    # add's second derivative is zero everywhere: it has no order-2 check, so no column.
    assert options.checks == ("tanh", "tanh (order 2)", "multiply", "multiply (order 2)", "add",
                              "programs", "programs (order 2)")
    assert "--order" not in options.check_arguments()
    assert options.to_dict()["order"] == 2


@pytest.mark.parametrize("order", [None, 1])
def test_without_order_2_the_columns_are_first_order_and_each_submission_is_checked_at_order_1(order):
    options = GradeOptions(ops=("tanh", "multiply"), order=order)
    assert options.checks == ("tanh", "multiply", "programs")
    arguments = options.check_arguments()
    assert arguments[arguments.index("--order") + 1] == "1"
    # A gradebook graded before --order existed compares equal.
    assert "order" not in GradeOptions(ops=("tanh",)).to_dict()


def test_weights_weigh_a_derived_check_by_its_quoted_name_and_the_rest_take_the_default(weights_file):
    weights = load_weights(weights_file, COLUMNS)
    assert weights.of("tanh (order 2)") == 3
    assert weights.of("multiply (order 2)") == 2  # given under multiply's alias, mul
    assert weights.of("programs (order 2)") == 1  # not listed: the default, as for any check
    assert weights.of("tanh (forward)") == 1


@pytest.mark.parametrize(
    ("key", "words"),
    [
        pytest.param('"tanhh (order 2)"', "'tanhh (order 2)' is not a check gradcheck grades. Did you mean "
                     "'tanh (order 2)'?", id="typo"),
        pytest.param('"add (order 2)"', "'add (order 2)' is not a check gradcheck grades.", id="no-order-2-check"),
    ],
)
def test_a_derived_weight_gradcheck_does_not_grade_is_refused(tmp_path, key, words):
    path = tmp_path / "weights.toml"
    path.write_text(f"[weights]\n{key} = 2\n", encoding="utf-8")
    with pytest.raises(UsageError) as raised:
        load_weights(path)
    assert words in str(raised.value)
    assert "quoted ('tanh (order 2)' = 2)" in str(raised.value)


def test_gradescope_and_classroom_score_a_failed_order_2_column(tmp_path, weights_file):
    (tmp_path / "order2_two_ops.py").write_text(ORDER2_ENGINE.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "detached.py").write_text(DETACHED_TANH, encoding="utf-8")
    report = check_report(str(tmp_path / "detached.py"), ["tanh", "multiply", "programs"],
                          CheckSettings(max_examples=5, programs=10, order=2))
    grading = Grading(weights=load_weights(weights_file, COLUMNS), checks=tuple(COLUMNS))
    graded = GradedReport.of(report, grading)
    tests = {test["name"]: test for test in gradescope_results(graded)["tests"]}
    assert list(tests) == COLUMNS  # the columns, not tanh (forward): forward mode is no column
    assert (tests["tanh (order 2)"]["status"], tests["tanh (order 2)"]["score"],
            tests["tanh (order 2)"]["max_score"]) == ("failed", 0, 3)
    assert tests["tanh (order 2)"]["output"].startswith("tanh (order 2): failed: mismatch, 0 / 3 points.")
    assert "the second derivative w.r.t. x is zero where the reference's is not" in " ".join(
        tests["tanh (order 2)"]["output"].split())
    assert (tests["multiply (order 2)"]["status"], tests["multiply (order 2)"]["score"]) == ("passed", 2)
    assert gradescope_results(graded)["score"] == 1 + 1 + 2 + 0 + 1  # all but tanh (order 2)
    classroom = {test["name"]: test for test in classroom_result(graded)["tests"]}
    assert classroom["tanh (order 2)"]["status"] == "fail"
    # Its replay command (reports.display's) checks tanh again, on the student's file.
    assert classroom["tanh (order 2)"]["test_code"].startswith("gradcheck check detached.py --ops ")


def test_grade_order_2_grades_an_engine_without_create_graph_on_its_first_order_columns(tmp_path, weights_file):
    submissions = tmp_path / "submissions"
    for name, source in (("good", ORDER2_ENGINE), ("first", TWO_OPS)):
        (submissions / name).mkdir(parents=True)
        shutil.copy(source, submissions / name / "engine.py")
    (tmp_path / "roster.csv").write_text("folder,student_id,name\ngood,s1,Ann\nfirst,s2,Bo\n", encoding="utf-8")
    status = main([
        "grade", str(submissions / "good"), str(submissions / "first"), "--order", "2",
        "--ops", "tanh,multiply,matmul", "--max-examples", "3", "--programs", "5", "--weights", str(weights_file),
        "--format", "gradescope,classroom,canvas", "--roster", str(tmp_path / "roster.csv"),
        "--report-dir", str(tmp_path / "grades"), *NO_SANDBOX,
    ])
    assert status == 0
    with open(tmp_path / "grades" / "gradebook.csv", newline="", encoding="utf-8") as stream:
        rows = {row["submission"]: row for row in csv.DictReader(stream)}
    columns = ["tanh", "tanh (order 2)", "multiply", "multiply (order 2)", "matmul", "matmul (order 2)",
               "programs", "programs (order 2)"]
    assert {column: rows["good"][column] for column in columns} == {
        **dict.fromkeys(columns, "passed"), "matmul": "unsupported", "matmul (order 2)": "unsupported"}
    # two_ops defines matmul but its grad takes no create_graph: matmul is graded, matmul (order 2) earns nothing.
    assert {column: rows["first"][column] for column in columns} == {
        **dict.fromkeys(columns, "unsupported"), "matmul": "passed", "programs": "passed"}
    # tanh 1, tanh (order 2) 3, multiply 1, multiply (order 2) 2 (as mul), matmul 1, matmul (order 2) 1
    # (the default), programs 0, programs (order 2) 1 (the default): 10 points.
    assert (rows["first"]["points"], rows["first"]["max_points"]) == ("1", "10")
    assert (rows["good"]["points"], rows["good"]["max_points"]) == ("8", "10")
    gradescope = json.loads((tmp_path / "grades" / "first" / "results.json").read_text(encoding="utf-8"))
    order2 = next(test for test in gradescope["tests"] if test["name"] == "matmul (order 2)")
    assert order2["output"] == ("matmul (order 2): not checked, 0 / 1 points: the engine's grad does not take "
                                "create_graph (docs/contract.md, section 1).")
    canvas = (tmp_path / "grades" / "canvas.csv").read_text(encoding="utf-8").splitlines()
    assert sorted(canvas[1:]) == ["Ann,,s1,,,8", "Bo,,s2,,,1"]
