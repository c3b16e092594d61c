"""``assert_gradients`` at order 2 and in forward mode (issue 20): what it returns and raises.

One op name gives back its ``CheckResult`` when that was its only check, else
the list of the name's checks, its own first (``tanh``, ``tanh (order 2)``,
``tanh (forward)``); a failed derived check raises with its own panel. The
engines are those of ``tests/test_pytest_derived.py``; searches are tiny.
"""

from __future__ import annotations

import pytest

from gradcheck.assertions import GradientAssertionError, assert_gradients
from gradcheck.errors import UsageError
from tests.test_pytest_derived import DETACHED_TANH, ORDER2_ENGINE, TWO_OPS

FAST = {"max_examples": 3, "programs": 5}


@pytest.mark.parametrize(
    ("order", "checks"),
    [
        pytest.param(2, ["tanh", "tanh (order 2)", "tanh (forward)"], id="order-2"),
        pytest.param(None, ["tanh", "tanh (order 2)", "tanh (forward)"], id="default"),
        pytest.param(1, ["tanh", "tanh (forward)"], id="order-1"),
    ],
)
def test_one_op_name_gives_back_its_own_check_and_its_derived_ones(order, checks):
    results = assert_gradients(str(ORDER2_ENGINE), "tanh", order=order, **FAST)
    assert [(result.check, result.status, result.order) for result in results] == [
        (check, "passed", 2 if "order 2" in check else 1) for check in checks
    ]


def test_programs_by_name_gives_back_the_program_checks_of_every_mode():
    results = assert_gradients(str(ORDER2_ENGINE), "programs", **FAST)
    assert [result.check for result in results] == ["programs", "programs (order 2)", "programs (forward)"]


def test_an_op_checked_at_order_1_only_still_gives_back_one_result():
    result = assert_gradients(str(TWO_OPS), "matmul", **FAST)
    assert (result.check, result.status) == ("matmul", "passed")


def test_a_failed_order_2_check_raises_with_its_panel(tmp_path):
    (tmp_path / "order2_two_ops.py").write_text(ORDER2_ENGINE.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "detached.py").write_text(DETACHED_TANH, encoding="utf-8")
    with pytest.raises(GradientAssertionError) as raised:
        assert_gradients(str(tmp_path / "detached.py"), "tanh", order=2, **FAST)
    assert [result.check for result in raised.value.results] == ["tanh (order 2)"]
    assert str(raised.value).startswith("tanh (order 2) · mismatch: the second derivative w.r.t. x")


def test_order_2_of_an_engine_without_create_graph_is_a_usage_error():
    with pytest.raises(UsageError, match=r"order 2 asks for second derivatives, but engine .*'s grad does not "
                                         r"take create_graph .*docs/contract\.md, section 1"):
        assert_gradients(str(TWO_OPS), "matmul", order=2, **FAST)
