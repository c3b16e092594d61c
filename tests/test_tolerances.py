"""The tolerance table and its one formula, checked against hand computations."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from gradcheck.errors import UsageError
from gradcheck.tolerances import DEFAULT_TOLERANCES, Tolerance, allowed_error, merge_tolerances

F32, F64 = DEFAULT_TOLERANCES["float32"], DEFAULT_TOLERANCES["float64"]


# --- the table ---------------------------------------------------------------


def test_the_defaults_are_the_documented_table():
    # docs and the CLI's --rtol help quote these numbers: a change here is a change there.
    assert DEFAULT_TOLERANCES == {
        "float32": Tolerance(rtol=1e-3, floor=1e-3),
        "float64": Tolerance(rtol=1e-7, floor=1e-3),
    }


def test_a_tolerance_cannot_be_changed_in_place():
    # The defaults are shared by every run: a run must not loosen the next one's.
    with pytest.raises(dataclasses.FrozenInstanceError):
        F32.rtol = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param(None, {"float32": F32, "float64": F64}, id="none"),
        pytest.param({}, {"float32": F32, "float64": F64}, id="empty"),
        pytest.param({"float32": 1e-2}, {"float32": Tolerance(rtol=1e-2), "float64": F64}, id="dtype-name"),
        pytest.param({np.float32: 1e-2}, {"float32": Tolerance(rtol=1e-2), "float64": F64}, id="numpy-type"),
        pytest.param({np.dtype("float64"): 1e-5}, {"float32": F32, "float64": Tolerance(rtol=1e-5)},
                     id="numpy-dtype"),
        pytest.param({"f8": 1e-5}, {"float32": F32, "float64": Tolerance(rtol=1e-5)}, id="type-code"),
        pytest.param({"float64": Tolerance(rtol=1e-5, floor=1e-9)},
                     {"float32": F32, "float64": Tolerance(rtol=1e-5, floor=1e-9)}, id="tolerance-object"),
        pytest.param({"float64": 2}, {"float32": F32, "float64": Tolerance(rtol=2.0)}, id="int-rtol"),
        pytest.param({"float32": 1e-2, "float64": 1e-6},
                     {"float32": Tolerance(rtol=1e-2), "float64": Tolerance(rtol=1e-6)}, id="both"),
    ],
)
def test_overrides_merge_into_the_defaults(overrides, expected):
    table = merge_tolerances(overrides)
    assert table == expected
    assert all(type(value.rtol) is float for value in table.values())


def test_merging_leaves_the_defaults_alone():
    table = merge_tolerances({"float32": 0.5})
    table["float64"] = Tolerance(rtol=1.0)
    assert DEFAULT_TOLERANCES == {"float32": F32, "float64": F64}


# The CLI checks --rtol; the Python API (assert_gradients(tolerances=...), the
# pytest marker) hands its mapping to merge_tolerances, which must check it as well.
@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        pytest.param({"float64": -1e-7}, "-1e-07", id="negative-rtol"),
        pytest.param({"float64": float("nan")}, "nan", id="nan-rtol"),
        pytest.param({"float64": Tolerance(rtol=1e-7, floor=-1.0)}, "-1.0", id="negative-floor"),
        pytest.param({"float33": 1e-3}, "float33", id="unknown-dtype"),
        # gradcheck checks float32 and float64 engines only: another dtype's tolerance is a slip.
        pytest.param({"float16": 1e-2}, "float16", id="unchecked-dtype"),
        pytest.param({"float64": "tight"}, "tight", id="not-a-number"),
    ],
)
def test_a_bad_override_is_a_usage_error_naming_it(overrides, named):
    with pytest.raises(UsageError, match=named):
        merge_tolerances(overrides)


# --- the formula -------------------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "tolerance", "terms", "by_hand"),
    [
        # rtol * sqrt(terms) * (|e_i| + max|e| + floor), worked out on paper.
        pytest.param([3.0, -0.5, 0.0], Tolerance(1e-3), 4,
                     [2e-3 * 6.001, 2e-3 * 3.501, 2e-3 * 3.001], id="float32-four-terms"),
        pytest.param([[1.0, -2.0], [0.0, 0.5]], Tolerance(1e-7), 1,
                     [[1e-7 * 3.001, 1e-7 * 4.001], [1e-7 * 2.001, 1e-7 * 2.501]], id="float64-matrix"),
        pytest.param(-4.0, Tolerance(1e-3, floor=0.0), 9, 3e-3 * 8.0, id="scalar-no-floor"),
        pytest.param([0.0, 0.0], Tolerance(1e-3), 1, [1e-6, 1e-6], id="zeros-get-the-floor"),
        pytest.param(np.zeros((0, 3)), Tolerance(1e-3), 1, np.zeros((0, 3)), id="empty"),
    ],
)
def test_allowed_error_is_the_documented_formula(expected, tolerance, terms, by_hand):
    bound = allowed_error(np.asarray(expected, dtype=np.float64), tolerance, terms)
    assert bound.shape == np.shape(by_hand)
    np.testing.assert_allclose(bound, by_hand, rtol=1e-12, atol=0)


@pytest.mark.parametrize("terms", [1, 2, 4, 64, 1000])
def test_the_bound_grows_with_the_square_root_of_the_terms(terms):
    expected = np.array([1.5, -0.25, 8.0])
    ratio = allowed_error(expected, F32, terms) / allowed_error(expected, F32, 1)
    np.testing.assert_allclose(ratio, math.sqrt(terms), rtol=1e-12)


@pytest.mark.parametrize("terms", [0, -1, -100])
def test_no_terms_count_as_one(terms):
    expected = np.array([1.5, -0.25])
    np.testing.assert_array_equal(allowed_error(expected, F64, terms), allowed_error(expected, F64, 1))


@pytest.mark.parametrize("tolerance", [F32, F64], ids=["float32", "float64"])
def test_the_bound_is_norm_wise(tolerance):
    """An entry that cancels to nearly zero next to a large one is held to the large one's scale."""
    alone = allowed_error(np.array([1e-12]), tolerance)
    beside_large = allowed_error(np.array([1e-12, 1000.0]), tolerance)
    # Alone it gets little more than the floor; beside 1000 it gets rtol * 1000.
    assert alone[0] < 2 * tolerance.rtol * tolerance.floor
    assert beside_large[0] >= tolerance.rtol * 1000.0
    # And at least half the large entry's own bound: the same arithmetic made both.
    assert beside_large[0] >= 0.5 * beside_large[1]


def test_an_error_of_rounding_size_passes_and_a_wrong_factor_does_not():
    """The module's promise, on float32: rounding is well inside the bound, a 1% factor well outside."""
    expected = np.array([0.75, -2.5, 3.25, 1e-3])
    rounded = expected.astype(np.float32).astype(np.float64)
    bound = allowed_error(expected, F32)
    assert np.all(np.abs(rounded - expected) <= 0.01 * bound)
    assert np.any(np.abs(1.01 * expected - expected) > bound)


# --- conditioning: layer_norm of rows far from 0 -------------------------------------------------


#: jax.nn.standardize's float32 answer (JAX 0.10.2, CPU) on the case below: its
#: variance is mean(x**2) - mean(x)**2, which cancels on rows far from 0.
_JAX_Y = np.float32(0.9999200105667114) * np.tile([-1.0, 1.0], (2, 4, 1))
_JAX_GRAD = np.array([
    [[0.000316619873046875, -0.0003204345703125], [-0.00127410888671875, 0.00128173828125],
     [0.0, 0.0], [0.0003197193145751953, -0.00032019615173339844]],
    [[0.0009603500366210938, -0.0009584426879882812], [0.0003199577331542969, -0.00031948089599609375],
     [0.0, 0.0], [0.0003204345703125, -0.0003204345703125]],
], dtype=np.float32)


def test_a_correct_float32_layer_norm_of_rows_far_from_zero_passes(monkeypatch):
    # The adapter campaign's case (JAX, float32): rows 0.5 apart around 3.5;
    # the float32 gradient was off by 5.6e-6 over a bound of 5.0e-6.
    from gradcheck.case import Case
    from gradcheck.execution import EngineOutcome
    from gradcheck.oracles import references_for
    from gradcheck.verdict import judge

    x = np.arange(-3.75, 4.0, 0.5).reshape(2, 4, 2)
    g = np.array([[[-1, -2], [-2, 2], [2, 2], [2, 1]], [[2, -1], [-1, -2], [-1, -1], [-1, -2]]], dtype=float)
    case = Case("layer_norm", ("x",), (x,), {"axis": -1, "eps": 1e-5}, g, "float32")
    (reference,) = references_for([case])
    y, grad = _JAX_Y.astype(np.float32), _JAX_GRAD
    assert case.conditioning() > 100  # max|x| / std = 15, max|g| / std = 8
    assert judge(case, EngineOutcome(y, [grad]), reference, DEFAULT_TOLERANCES["float32"]) is None
    # The missing term (g - mean(g)) / std is still far outside the raised floor.
    wrong = (g - g.mean(axis=-1, keepdims=True)) / np.sqrt(x.var(axis=-1, keepdims=True) + 1e-5)
    failure = judge(case, EngineOutcome(y, [wrong.astype(np.float32)]), reference, DEFAULT_TOLERANCES["float32"])
    assert failure is not None and failure.category == "mismatch"
    # With the usual floor, JAX's right answer was a mismatch (the campaign's false alarm).
    monkeypatch.setattr(Case, "conditioning", lambda self: 1.0)
    usual = judge(case, EngineOutcome(y, [grad]), reference, DEFAULT_TOLERANCES["float32"])
    assert usual is not None and usual.category == "mismatch"
