"""The order-2 and forward-mode engine ``tests/targets/higher_engine.py`` is what it claims, and so are its planted bugs.

Independently of gradcheck's checks: its Hessian-vector products (the VJP of
the VJP, ``sum_j grad(g_j, xs, v_j)`` after ``grad(..., create_graph=True)``)
equal central differences of its own first-order gradient and, for the
elementwise ops, NumPy closed forms; its gradients and ``jvp`` equal central
differences of its forward. Each planted engine differs from it exactly where
its docstring says (second derivatives, the values ``create_graph=True``
returns, or ``jvp``) and nowhere else.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
import pytest

from tests.engines._higher import PLANTED_HIGHER, higher, load_planted

EPS = 1e-5
#: Central differences in float64 with EPS: truncation ~1e-10, rounding ~1e-11.
RTOL, ATOL = 1e-6, 1e-7

Program = Callable[..., Any]  # (engine, *leaves) -> the output node


class Case(NamedTuple):
    id: str
    program: Program
    shapes: tuple[tuple[int, ...], ...]
    positive: tuple[bool, ...] = ()  # per operand: drawn in [0.5, 2] (log, sqrt, divisors, pow bases)


def _case(id: str, program: Program, *shapes: tuple[int, ...], positive: Sequence[bool] = ()) -> Any:
    return pytest.param(Case(id, program, shapes, tuple(positive)), id=id)


CASES = [
    _case("add", lambda e, a, b: e.add(a, b), (2, 3), (3,)),
    _case("subtract", lambda e, a, b: e.subtract(a, b), (2, 1), (2, 3)),
    _case("multiply", lambda e, a, b: e.multiply(a, b), (2, 3), (2, 1)),
    _case("divide", lambda e, a, b: e.divide(a, b), (2, 3), (3,), positive=(False, True)),
    _case("maximum", lambda e, a, b: e.maximum(a, b), (2, 3), (3,)),
    _case("negative", lambda e, x: e.negative(x), (2, 3)),
    _case("exp", lambda e, x: e.exp(x), (2, 3)),
    _case("log", lambda e, x: e.log(x), (2, 3), positive=(True,)),
    _case("sqrt", lambda e, x: e.sqrt(x), (2, 3), positive=(True,)),
    _case("tanh", lambda e, x: e.tanh(x), (2, 3)),
    _case("sigmoid", lambda e, x: e.sigmoid(x), (2, 3)),
    _case("sin", lambda e, x: e.sin(x), (2, 3)),
    _case("cos", lambda e, x: e.cos(x), (2, 3)),
    _case("relu", lambda e, x: e.relu(x), (2, 3)),
    _case("abs", lambda e, x: e.abs(x), (2, 3)),
    _case("pow", lambda e, x: e.pow(x, 2.5), (2, 3), positive=(True,)),
    _case("pow-integer", lambda e, x: e.pow(x, 3.0), (2, 3)),
    _case("pow_tensor", lambda e, x, y: e.pow(x, y), (2, 3), (3,), positive=(True, False)),
    _case("matmul", lambda e, a, b: e.matmul(a, b), (2, 3), (3, 4)),
    _case("matmul-batched", lambda e, a, b: e.matmul(a, b), (2, 1, 2, 3), (3, 3, 2)),
    _case("matmul-vector-matrix", lambda e, a, b: e.matmul(a, b), (3,), (2, 3, 2)),
    _case("matmul-matrix-vector", lambda e, a, b: e.matmul(a, b), (2, 3), (3,)),
    _case("matmul-vectors", lambda e, a, b: e.matmul(a, b), (3,), (3,)),
    _case("matrix_transpose", lambda e, x: e.matrix_transpose(x), (2, 3, 4)),
    _case("permute_dims", lambda e, x: e.permute_dims(x, (2, 0, 1)), (2, 3, 4)),
    _case("reshape", lambda e, x: e.reshape(x, (3, -1)), (2, 3)),
    _case("broadcast_to", lambda e, x: e.broadcast_to(x, (2, 3, 4)), (3, 1)),
    _case("sum", lambda e, x: e.sum(x), (2, 3)),
    _case("sum-axes-keepdims", lambda e, x: e.sum(x, axis=(0, -1), keepdims=True), (2, 3, 2)),
    _case("mean", lambda e, x: e.mean(x, axis=1), (2, 3)),
    _case("logsumexp", lambda e, x: e.logsumexp(x, axis=(0, 2)), (2, 3, 2)),
    _case("softmax", lambda e, x: e.softmax(x, axis=0), (3, 2)),
    _case("log_softmax", lambda e, x: e.log_softmax(x), (2, 3)),
    # Nonlinear steps after linear ones, and a value used twice.
    _case("tanh-of-sum", lambda e, x: e.tanh(e.sum(x, axis=0)), (3, 2)),
    _case("x-sin-x", lambda e, x: e.multiply(x, e.sin(x)), (4,)),
    _case("mlp", lambda e, w, x: e.log_softmax(e.matmul(e.tanh(e.matmul(x, w)), w)), (3, 3), (2, 3)),
]


def _operands(case: Case, rng: np.random.Generator) -> list[np.ndarray]:
    # At least 0.3 away from 0, so that relu's and abs's kinks and maximum's ties are out of EPS's reach.
    arrays = []
    for i, shape in enumerate(case.shapes):
        if i < len(case.positive) and case.positive[i]:
            arrays.append(rng.uniform(0.5, 2.0, shape))
        else:
            arrays.append(rng.choice([-1.0, 1.0], shape) * rng.uniform(0.3, 1.5, shape))
    return arrays


def _forward(engine: Any, case: Case, arrays: Sequence[np.ndarray]) -> np.ndarray:
    return np.asarray(engine.value(case.program(engine, *map(engine.variable, arrays))), dtype=np.float64)


def _gradient(engine: Any, case: Case, arrays: Sequence[np.ndarray], u: np.ndarray) -> list[np.ndarray]:
    xs = [engine.variable(a) for a in arrays]
    return [np.asarray(g) for g in engine.grad(case.program(engine, *xs), xs, u)]


def _second_order(engine: Any, case: Case, arrays: Sequence[np.ndarray], u: np.ndarray,
                  v: Sequence[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Return (the gradients create_graph=True gives, as values; the Hessian-vector product along v)."""
    xs = [engine.variable(a) for a in arrays]
    gs = engine.grad(case.program(engine, *xs), xs, u, create_graph=True)
    hvp = [np.zeros_like(a) for a in arrays]
    for g, v_j in zip(gs, v):
        for total, term in zip(hvp, engine.grad(g, xs, v_j)):
            total += term
    return [np.asarray(engine.value(g)) for g in gs], hvp


def _jvp(engine: Any, case: Case, arrays: Sequence[np.ndarray], t: Sequence[np.ndarray]) -> np.ndarray:
    xs = [engine.variable(a) for a in arrays]
    return np.asarray(engine.jvp(case.program(engine, *xs), xs, t))


def _along(arrays: Sequence[np.ndarray], direction: Sequence[np.ndarray], step: float) -> list[np.ndarray]:
    return [a + step * d for a, d in zip(arrays, direction)]


def _draw(case: Case, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray, list[np.ndarray]]:
    """Return operands, a cotangent for the output and a direction (one array per operand)."""
    rng = np.random.default_rng(seed)
    arrays = _operands(case, rng)
    u = rng.standard_normal(_forward(higher.engine64, case, arrays).shape)
    v = [rng.standard_normal(a.shape) for a in arrays]
    return arrays, u, v


@pytest.mark.parametrize("case", CASES)
def test_gradient_and_jvp_are_central_differences_of_the_forward(case: Case) -> None:
    engine = higher.engine64
    arrays, u, t = _draw(case)
    difference = (_forward(engine, case, _along(arrays, t, EPS))
                  - _forward(engine, case, _along(arrays, t, -EPS))) / (2 * EPS)
    np.testing.assert_allclose(_jvp(engine, case, arrays, t), difference, rtol=RTOL, atol=ATOL)
    # <u, J t> = <J^T u, t>: the VJP seen along the same direction.
    along = sum(float(np.sum(g * d)) for g, d in zip(_gradient(engine, case, arrays, u), t))
    np.testing.assert_allclose(along, float(np.sum(u * difference)), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("case", CASES)
def test_hessian_vector_product_is_central_differences_of_the_gradient(case: Case) -> None:
    engine = higher.engine64
    arrays, u, v = _draw(case)
    values, hvp = _second_order(engine, case, arrays, u, v)
    for value, first in zip(values, _gradient(engine, case, arrays, u)):
        np.testing.assert_allclose(value, first, rtol=1e-12, atol=0)
    ahead = _gradient(engine, case, _along(arrays, v, EPS), u)
    behind = _gradient(engine, case, _along(arrays, v, -EPS), u)
    for product, g_ahead, g_behind in zip(hvp, ahead, behind):
        np.testing.assert_allclose(product, (g_ahead - g_behind) / (2 * EPS), rtol=RTOL, atol=ATOL)


#: f'' of the elementwise ops, in NumPy: their HVP is f''(x) * u * v.
SECOND_DERIVATIVES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "exp": np.exp,
    "log": lambda x: -1 / x**2,
    "sqrt": lambda x: -0.25 * x**-1.5,
    "tanh": lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2),
    "sigmoid": lambda x: (s := 1 / (1 + np.exp(-x))) * (1 - s) * (1 - 2 * s),
    "sin": lambda x: -np.sin(x),
    "cos": lambda x: -np.cos(x),
    "negative": np.zeros_like,
    "relu": np.zeros_like,
    "abs": np.zeros_like,
}


@pytest.mark.parametrize("op", sorted(SECOND_DERIVATIVES))
def test_elementwise_hessian_vector_product_is_the_closed_form(op: str) -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(0.5, 2.0, (2, 3)) * (1 if op in ("log", "sqrt") else rng.choice([-1.0, 1.0], (2, 3)))
    u, v = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    case = Case(op, lambda e, a: getattr(e, op)(a), ((2, 3),))
    _, (hvp,) = _second_order(higher.engine64, case, [x], u, [v])
    np.testing.assert_allclose(hvp, SECOND_DERIVATIVES[op](x) * u * v, rtol=1e-12, atol=1e-15)


def test_gradients_are_arrays_or_tensors_and_zeros_where_the_output_does_not_depend() -> None:
    for engine, dtype in ((higher.engine64, np.float64), (higher.engine32, np.float32)):
        x, unused = engine.variable(np.array([0.5, -1.0])), engine.variable(np.array([[2.0]]))
        y = engine.add(x, x)  # its gradient is constant: differentiating it again gives zeros
        arrays = engine.grad(engine.tanh(x), [x, unused], np.ones(2))
        assert [type(g) for g in arrays] == [np.ndarray, np.ndarray]
        assert [g.dtype for g in arrays] == [dtype, dtype]
        np.testing.assert_array_equal(arrays[1], np.zeros((1, 1)))
        tensors = engine.grad(y, [x, unused], np.ones(2), create_graph=True)
        assert all(isinstance(g, higher.Tensor) for g in tensors)
        for g, v in zip(tensors, (np.ones(2), np.ones((1, 1)))):
            again = engine.grad(g, [x, unused], v)
            np.testing.assert_array_equal(again[0], np.zeros(2))
            np.testing.assert_array_equal(again[1], np.zeros((1, 1)))
        np.testing.assert_array_equal(engine.jvp(y, [unused], [np.ones((1, 1))]), np.zeros(2))


# --- the planted engines ---------------------------------------------------------------

#: What each planted engine computes differently from the correct one, on a program that shows it:
#: "first" (grad), "values" (what create_graph=True returns), "hvp", "jvp".
PROBES: dict[str, tuple[Case, set[str]]] = {
    "order2_tanh_detached": (Case("tanh", lambda e, x: e.tanh(x), ((2, 3),)), {"hvp"}),
    "order2_exp_numpy_backward": (Case("exp", lambda e, x: e.exp(x), ((2, 3),)), {"hvp"}),
    "order2_sum_numpy_backward": (
        Case("tanh-of-sum", lambda e, x: e.tanh(e.sum(x, axis=0)), ((3, 2),)), {"hvp"}),
    "order2_matmul_create_graph_values": (
        Case("matmul", lambda e, a, b: e.matmul(a, b), ((2, 3), (3, 4))), {"values", "hvp"}),
    "forward_sin_wrong_jvp": (Case("sin", lambda e, x: e.sin(x), ((2, 3),)), {"jvp"}),
    "forward_matmul_jvp_one_side": (
        Case("matmul-batched", lambda e, a, b: e.matmul(a, b), ((2, 2, 3), (3, 4))), {"jvp"}),
}


def _everything(engine: Any, case: Case) -> dict[str, list[np.ndarray]]:
    arrays, u, v = _draw(case, seed=2)
    values, hvp = _second_order(engine, case, arrays, u, v)
    return {"first": _gradient(engine, case, arrays, u), "values": values, "hvp": hvp,
            "jvp": [_jvp(engine, case, arrays, v)]}


def _differ(ours: Sequence[np.ndarray], theirs: Sequence[np.ndarray]) -> bool:
    return not all(np.allclose(a, b, rtol=1e-9, atol=1e-12) for a, b in zip(ours, theirs))


def test_every_planted_engine_has_a_probe() -> None:
    assert sorted(PROBES) == sorted(PLANTED_HIGHER)


@pytest.mark.parametrize("name", PLANTED_HIGHER)
def test_planted_engine_differs_exactly_where_its_docstring_says(name: str) -> None:
    module = load_planted(name)
    case, expected = PROBES[name]
    assert module.OP in case.id
    assert (getattr(module, "ORDER", None) == 2) != (getattr(module, "MODE", None) == "forward")
    assert ("jvp" in expected) == (getattr(module, "MODE", None) == "forward")
    planted, correct = _everything(module.engine, case), _everything(higher.engine64, case)
    assert {what for what in correct if _differ(planted[what], correct[what])} == expected


def test_sum_numpy_backward_shows_only_after_a_nonlinear_step() -> None:
    # The incoming gradient of a sum the output ends with is the constant cotangent: copying it changes nothing.
    module = load_planted("order2_sum_numpy_backward")
    case = Case("sum-of-tanh", lambda e, x: e.sum(e.tanh(x), axis=0), ((3, 2),))
    planted, correct = _everything(module.engine, case), _everything(higher.engine64, case)
    assert not any(_differ(planted[what], correct[what]) for what in correct)

