"""The pytest plugin's items for order 2 and forward mode (issue 20).

* An engine checked at order 2 and in forward mode gets one item per derived
  check after the op's own (``gradcheck[tanh (order 2)]``, ``gradcheck[tanh
  (forward)]``, ``gradcheck[programs (order 2)]``); a printed id reruns its
  item alone; ``--gradcheck-order 1`` leaves the order-2 items out, and
  ``--gradcheck-order 2`` for an engine whose grad takes no ``create_graph``
  is a usage error.
* A node id naming a derived item that is not there is answered with the
  session's items, a close one, and what makes a derived item.
* Under pytest-xdist every gradcheck item, derived ones too, runs on one
  worker, so ``gradcheck[programs (order 2)]`` does not report tanh's order-2
  bug again (the run itself is marked slow; the scheduler's grouping of the
  derived ids is checked directly).

The engine is ``tests/targets/order2_two_ops.py`` (tanh and multiply, right at
every order) and, written next to it, the same engine with the classic bug
planted: tanh's backward built from a detached copy of its output, right at
order 1 and zero at order 2. Searches are tiny, over tanh only.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gradcheck.assertions import CheckSettings, check_report

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent
ORDER2_ENGINE = REPO / "tests" / "targets" / "order2_two_ops.py"
TWO_OPS = REPO / "tests" / "targets" / "two_ops.py"
DETACHED_TANH = '''"""order2_two_ops.py with tanh's backward built from a detached copy of its output."""
import numpy as np
from order2_two_ops import Node, _one_minus_square, grad, jvp, multiply, value, variable


def tanh(x):
    out = Node(np.tanh(x.data), (x,), None, lambda t: t * (1 - np.tanh(x.data) ** 2))
    out.backward = lambda g: [multiply(g, _one_minus_square(Node(out.data)))]  # the bug: out, detached
    return out
'''
FAST = ("--gradcheck-ops", "tanh", "--gradcheck-max-examples", "5", "--gradcheck-programs", "10",
        "-p", "no:cacheprovider", "-p", "no:randomly")
ITEMS = ["tanh", "tanh (order 2)", "tanh (forward)", "programs", "programs (order 2)", "programs (forward)"]
# An item's -v line, in-process ("engine.py::gradcheck[tanh (order 2)] FAILED [ 33%]") or under xdist.
ITEM_LINE = re.compile(
    r"^(?:(?P<id>\S+::gradcheck\[[^\]]+\]) (?:PASSED|FAILED|SKIPPED)"
    r"|(?P<worker>\[gw\d+\]) \[ *\d+%\] (?:PASSED|FAILED|SKIPPED) (?P<xdist_id>\S+::gradcheck\[[^\]]+\]))"
)


@pytest.fixture(scope="module", autouse=True)
def _imports_done_before_pytester():
    """Import what a check imports before pytester runs (it restores sys.modules; TensorFlow cannot load twice)."""
    check_report(str(ORDER2_ENGINE), ["tanh"], CheckSettings(max_examples=2, programs=2))


@pytest.fixture
def planted(pytester: pytest.Pytester) -> pytest.Pytester:
    """Return a pytester folder holding the order-2 engine and its detached-tanh variant, ``engine.py``."""
    pytester.makepyfile(order2_two_ops=ORDER2_ENGINE.read_text(encoding="utf-8"), engine=DETACHED_TANH)
    return pytester


def printed(result: pytest.RunResult) -> list[tuple[str | None, str]]:
    """Return the (xdist worker or None, node id) of each gradcheck item an inner run printed, in order."""
    return [(match["worker"], match["id"] or match["xdist_id"])
            for line in result.stdout.lines if (match := ITEM_LINE.match(line))]


@pytest.mark.parametrize("check", ITEMS)
def test_the_xdist_scheduler_puts_every_derived_item_in_the_gradcheck_unit(check):
    # The scheduler's one unit is every node id under the target's "::gradcheck[" prefix.
    from types import SimpleNamespace

    from gradcheck._pytest_xdist import GradcheckScheduling

    scheduling = SimpleNamespace(prefix="engine.py::gradcheck[")
    assert GradcheckScheduling._split_scope(scheduling, f"engine.py::gradcheck[{check}]") == "engine.py::gradcheck["


@pytest.mark.slow  # two xdist workers importing TensorFlow: about a minute on a busy machine
def test_xdist_keeps_derived_items_on_one_worker_and_programs_do_not_repeat_tanhs_bug(planted):
    result = planted.runpytest_subprocess("--gradcheck=engine.py", *FAST, "-n", "2", "-v", "-rA",
                                          "--gradcheck-report-dir", "reports")
    result.assert_outcomes(passed=5, failed=1)
    items = printed(result)
    assert [node_id for _, node_id in items] == [f"engine.py::gradcheck[{check}]" for check in ITEMS]
    assert len({worker for worker, _ in items}) == 1, items
    result.stdout.fnmatch_lines([
        # programs at order 2 are told tanh failed its own order-2 check.
        "programs (order 2): passed*",
        "not repeated here: program failures due only to tanh, which failed their own checks",
        "FAILED engine.py::gradcheck[[]tanh (order 2)[]] - *tanh (order 2) · mism*",
    ])
    report = json.loads((planted.path / "reports" / "gradcheck.json").read_text(encoding="utf-8"))
    assert [(entry["check"], entry["status"], entry["order"]) for entry in report["results"]] == [
        ("tanh", "passed", 1), ("tanh (order 2)", "failed", 2), ("tanh (forward)", "passed", 1),
        ("programs", "passed", 1), ("programs (order 2)", "passed", 2), ("programs (forward)", "passed", 1),
    ]


@pytest.mark.parametrize("check", ["tanh (order 2)", "programs (forward)"])
def test_a_printed_derived_node_id_runs_that_item_alone(planted, check):
    result = planted.runpytest("--gradcheck=engine.py", f"engine.py::gradcheck[{check}]", *FAST, "-v")
    assert printed(result) == [(None, f"engine.py::gradcheck[{check}]")]
    if check == "tanh (order 2)":
        result.assert_outcomes(failed=1)
    else:
        result.assert_outcomes(passed=1)


def test_order_1_leaves_the_order_2_items_out(planted):
    result = planted.runpytest("--gradcheck=engine.py", "--gradcheck-order", "1", *FAST, "-v")
    result.assert_outcomes(passed=4)
    assert [node_id for _, node_id in printed(result)] == [
        f"engine.py::gradcheck[{check}]" for check in ITEMS if "order 2" not in check
    ]
    result.stdout.fnmatch_lines(["gradcheck: engine.py (engine *), *, ops: tanh, order 1 and forward mode; *"])


def test_order_2_of_an_engine_whose_grad_takes_no_create_graph_is_a_usage_error(pytester):
    pytester.makepyfile(two_ops=TWO_OPS.read_text(encoding="utf-8"))
    result = pytester.runpytest("--gradcheck=two_ops.py", "--gradcheck-order", "2", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        ("ERROR: --gradcheck-order: order 2 asks for second derivatives, but engine matmul and sum's grad "
         "does not take create_graph (*docs/contract.md, section 1)*"),
    ])


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        pytest.param([], "Did you mean gradcheck[[]tanh (order 2)[]]?", id="close-id"),
        pytest.param(["--gradcheck-order", "1"], "Order-2 items are made when the engine's grad takes create_graph "
                     "and --gradcheck-order is not 1 (docs/contract.md, section 1).", id="order-1"),
    ],
)
def test_a_derived_node_id_naming_no_item_says_which_there_are(planted, args, hint):
    named = "tanh (order2)" if not args else "tanh (order 2)"
    result = planted.runpytest("--gradcheck=engine.py", f"engine.py::gradcheck[{named}]", *args, *FAST)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: not found: engine.py::gradcheck[[]{named}[]]; *gradcheck[[]tanh (forward)[]]*{hint}"])
    if args:
        assert "Did you mean" not in result.stderr.str()
