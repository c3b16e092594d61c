"""The pieces of order 2 and forward mode (gradcheck.higher): names, directions, transport, oracles, usage.

The behaviour on whole engines (correct ones pass, planted bugs fail exactly
their order or mode) is tests/test_order2_planted.py's.
"""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck._transport import case_from_message, case_message
from gradcheck.case import Case
from gradcheck.errors import UsageError
from gradcheck.higher import (
    FORWARD,
    ORDER2,
    SECOND_ORDER_ZERO,
    base_check,
    check_name,
    derive,
    has_second_order,
    mode_of_check,
    reference,
)
from gradcheck.ops import OP_NAMES
from gradcheck.program import ProgramCase, Step
from gradcheck.runner import derived_checks, derived_modes, run_checks


def _case(op: str, *inputs: np.ndarray, dtype: str = "float64", **params: object) -> Case:
    from gradcheck.ops import OPS

    spec = OPS[op]
    output = np.asarray(spec.reference(*inputs, **params))
    cotangent = np.linspace(-1.0, 1.0, output.size).reshape(output.shape) + 0.25
    return Case(op, spec.names_for(len(inputs)), tuple(inputs), dict(params), cotangent, dtype)


def test_check_names_say_their_mode_and_give_back_their_base() -> None:
    assert check_name("tanh", ORDER2) == "tanh (order 2)"
    assert check_name("programs", FORWARD) == "programs (forward)"
    assert mode_of_check("tanh (order 2)") == ORDER2 and base_check("tanh (order 2)") == "tanh"
    assert mode_of_check("matmul (forward)") == FORWARD and base_check("matmul (forward)") == "matmul"
    assert mode_of_check("tanh") is None and base_check("tanh") == "tanh"


def test_only_ops_with_a_second_derivative_get_an_order_2_check() -> None:
    assert SECOND_ORDER_ZERO <= set(OP_NAMES)
    assert has_second_order("tanh") and has_second_order("matmul") and has_second_order("multiply")
    assert not has_second_order("sum") and not has_second_order("relu")
    assert derived_checks("sum", (ORDER2, FORWARD)) == ["sum (forward)"]
    assert derived_checks("programs", (ORDER2,)) == ["programs (order 2)"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_directions_are_a_function_of_the_case_exact_in_its_dtype_and_never_zero(dtype: str) -> None:
    case = _case("multiply", np.array([[0.5, -1.25]]), np.array([2.0, 0.75]), dtype=dtype)
    first, again = derive(case, ORDER2), derive(case, ORDER2)
    assert all(np.array_equal(a, b) for a, b in zip(first.directions, again.directions))
    assert [d.shape for d in first.directions] == [(1, 2), (2,)]
    for direction in first.directions:
        assert np.all(direction != 0)
        assert np.array_equal(direction.astype(dtype).astype(np.float64), direction)
    # Forward mode's tangents are drawn apart from order 2's directions.
    assert not all(np.array_equal(a, b) for a, b in zip(first.directions, derive(case, FORWARD).directions))


def test_a_derived_case_travels_to_the_worker_and_back_whole() -> None:
    case = derive(_case("tanh", np.array([0.5, -0.25, 1.0])), ORDER2)
    header, arrays = case_message(case)
    back = case_from_message(header, arrays)
    assert back.mode == ORDER2 and back.base.op == "tanh"
    assert all(np.array_equal(a, b) for a, b in zip(back.directions, case.directions))
    assert np.array_equal(back.cotangent, case.cotangent)
    program = ProgramCase(("x0",), (np.array([0.5, 1.5]),), (Step("t0", "exp", ("x0",)), Step("y", "sum", ("t0",))),
                          np.array(0.5))
    back = case_from_message(*case_message(derive(program, FORWARD)))
    assert back.mode == FORWARD and back.base.steps == program.steps


def test_the_second_derivative_reference_is_tanh_s_closed_form() -> None:
    x = np.array([0.5, -0.25, 1.0])
    case = derive(_case("tanh", x), ORDER2)
    answer = reference(case)
    assert answer.agrees, answer.note
    t = np.tanh(x)
    u, (v,) = case.cotangent, case.directions
    np.testing.assert_allclose(answer.grads[0], u * (1 - t**2), rtol=1e-12)  # the first order, made again
    np.testing.assert_allclose(answer.grads[1], u * v * (-2 * t * (1 - t**2)), rtol=1e-12)


def test_the_forward_mode_reference_is_matmul_s_product_rule() -> None:
    a, b = np.array([[0.5, -1.0], [2.0, 0.25]]), np.array([[1.5], [-0.5]])
    case = derive(_case("matmul", a, b), FORWARD)
    answer = reference(case)
    assert answer.agrees, answer.note
    ta, tb = case.directions
    np.testing.assert_allclose(answer.grads[0], ta @ b + a @ tb, rtol=1e-12)


def test_order_2_of_an_engine_without_create_graph_is_refused_in_one_paragraph() -> None:
    from gradcheck.engine import load_engine

    engine = load_engine("gradcheck.examples.numpy_engine")
    assert not engine.takes_create_graph and not engine.has_jvp
    assert derived_modes(engine, None) == () and derived_modes(engine, 1) == ()
    with pytest.raises(UsageError, match=r"does not take create_graph.*docs/contract.md, section 1"):
        run_checks(engine, ops=["tanh"], order=2, max_examples=1, programs=0)
    with pytest.raises(UsageError, match="order=3 is not an order"):
        run_checks(engine, ops=["tanh"], order=3, max_examples=1, programs=0)
