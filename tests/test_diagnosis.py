"""Diagnosis names the planted bug on its minimal case, and never a correct gradient.

Three kinds of test, like the anchors: each recognizer fires on the planted
bug it is about (the minimal case ``check_op`` found, and the hand-picked
case of ``test_planted_sanity``); no recognizer fires on a correct gradient
(a Hypothesis property over every op, in both dtypes); and the factor
phrasing, as a table.
"""

from __future__ import annotations

import functools
import re
from typing import Any, NamedTuple

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from gradcheck.case import Case
from gradcheck.diagnosis import RECOGNIZERS, Evidence, describe_factor, diagnose, diagnoses
from gradcheck.engine import load_engine
from gradcheck.examples import question_tape
from gradcheck.examples.numpy_engine import binary_op, make_engine, with_backward
from gradcheck.execution import run_engine
from gradcheck.ops import OP_NAMES, OPS
from gradcheck.oracles import reference_for, tensorflow_vjp
from gradcheck.results import ArrayRecord, Failure
from gradcheck.strategies import op_cases
from gradcheck.tolerances import DEFAULT_TOLERANCES
from gradcheck.verdict import judge
from tests.engines import PLANTED
from tests.engines._compare import cotangent_like
from tests.shared_checks import searched
from tests.test_planted_sanity import CASES

DTYPES = ("float32", "float64")

# Bug classes no planted engine shows first on its minimal case: one-rule engines for them.
_ADD_ZERO_FOR_A = binary_op("add", np.add, lambda g, a, b, out: (np.zeros_like(g), g))
_EXP_EXTRA_AXIS = with_backward("exp", lambda out, x: lambda g: ((g * out.data)[..., np.newaxis],))

#: Engine sources by id: ``(engine, op)``.
SOURCES: dict[str, tuple[Any, str]] = {
    **{planted.id: (planted.engine, planted.op) for planted in PLANTED},
    "question_tape": (question_tape, "matmul"),
    "add_zero_for_a": (make_engine(name="test: add_zero_for_a", overrides={"add": _ADD_ZERO_FOR_A}), "add"),
    "exp_extra_axis": (make_engine(name="test: exp_extra_axis", overrides={"exp": _EXP_EXTRA_AXIS}), "exp"),
}


class Row(NamedTuple):
    """On ``source``'s minimal ``category`` failure, ``recognizer`` fires first and says ``words``."""

    source: str
    category: str
    recognizer: str
    words: tuple[str, ...]
    # On the hand-picked case of test_planted_sanity, when another recognizer comes first there.
    hand_picked: str | None = None
    # An engine with two real bugs of the same category: which one its shrunk
    # case shows depends on Hypothesis's draws (which mix in constants from the
    # modules imported so far), and either diagnosis is right. (recognizer, words)
    or_else: tuple[str, tuple[str, ...]] | None = None


# A word starting with "re:" is a regular expression.
REVERSED_AXES = r"re:reverses \(0, 1, 2(, 3)?\) to \((3, )?2, 1, 0\)"
ROWS = [
    Row("question_tape", "mismatch", "transpose_all_axes",
        ("all axes of b reversed", "(0, 1, 2)", "last two")),
    # The question's tape transposes all axes *and* unbroadcasts leading axes
    # only. Its minimal shape and exception cases may have a 3-D or a 4-D
    # operand, whose axes the sentence names.
    Row("question_tape", "shape", "transpose_all_axes", (REVERSED_AXES, "last two"),
        or_else=("summed_leading_axes_only", ("not summed",))),
    Row("question_tape", "exception", "transpose_all_axes_raises", (REVERSED_AXES, "last two")),
    Row("matmul_transpose_all_axes", "mismatch", "transpose_all_axes", ("all axes of", "last two")),
    Row("matmul_transpose_all_axes", "exception", "transpose_all_axes_raises",
        ("reverses all axes", "last two")),
    Row("matmul_2d_only", "exception", "matmul_1d_operand", ("1-D operand", "NumPy semantics")),
    Row("add_no_unbroadcast", "shape", "not_summed_over_broadcast_axes", (r"re:broadcast axes \(\d",)),
    Row("multiply_leading_axes_only", "shape", "summed_leading_axes_only",
        (r"re:size-1 axes \(\d", "leading axes only")),
    Row("broadcast_to_no_sum", "shape", "not_summed_over_broadcast_axes", (r"re:broadcast axes \(\d",)),
    Row("multiply_swapped_operands", "mismatch", "gradients_swapped", ("wrong operand", "g * b")),
    Row("multiply_ignores_cotangent", "mismatch", "cotangent_ignored", ("all-ones cotangent",)),
    Row("subtract_sign", "mismatch", "sign_flipped", ("wrong sign", "-g")),
    Row("divide_missing_minus", "mismatch", "sign_flipped", ("wrong sign", "-g * a / b**2")),
    Row("maximum_routes_both", "mismatch", "passed_through", ("passed through unchanged", "a > b")),
    Row("negative_sign", "mismatch", "sign_flipped", ("wrong sign",)),
    Row("log_derivative_squared", "mismatch", "derivative_slip", ("g / x**2 where g / x was meant",)),
    # Added with log1p's row in ops.py alone: the slip is data on the row.
    Row("log1p_derivative_of_log", "mismatch", "derivative_slip",
        ("g / x where g / (1 + x) was meant", "the derivative of log(x), not of log(1 + x)")),
    Row("leaky_relu_slope_ignored", "mismatch", "derivative_slip",
        ("(relu's rule) where g * (1 if x > 0 else negative_slope) was meant",
         "negative slope is ignored")),
    Row("elu_alpha_missing", "mismatch", "derivative_slip",
        ("g * (1 if x > 0 else exp(x)) where g * (1 if x > 0 else alpha * exp(x)) was meant",
         "alpha is missing")),
    Row("clip_passes_gradient_outside", "mismatch", "derivative_slip",
        ("g (a derivative of 1 everywhere) where g * (min < x < max) was meant",
         "gradient through outside [min, max]")),
    Row("tanh_derivative_of_input", "mismatch", "derivative_slip",
        ("1 - x**2", "in terms of the input x where the output y was meant")),
    Row("sigmoid_derivative_s", "mismatch", "derivative_slip", ("g * s where", "(1 - s) is missing")),
    # Minimal x < 0: a derivative of 1 and a flipped sign agree there, and the rule of 1 is the bug
    # (it was told as "sign flipped" until issue 15); on mixed signs only the rule of 1 fits.
    Row("abs_derivative_one", "mismatch", "derivative_slip", ("g (a derivative of 1) where g * sign(x)",
                                                             "-1 where x < 0")),
    Row("cos_derivative_sign", "mismatch", "derivative_slip", ("-g * sin(x) was meant",)),
    Row("pow_derivative_p_x_p", "mismatch", "derivative_slip", ("p * x**p where", "not lowered by one")),
    Row("matrix_transpose_no_swap", "shape", "passed_through", ("swapaxes(g, -1, -2)",)),
    Row("matrix_transpose_no_swap", "mismatch", "passed_through", ("swapaxes(g, -1, -2)",)),
    Row("permute_dims_not_inverse", "mismatch", "permutation_not_inverse", ("inverse", "argsort")),
    Row("permute_dims_not_inverse", "shape", "permutation_not_inverse", ("inverse", "argsort")),
    Row("reshape_to_requested_shape", "shape", "passed_through", ("reshape(g, x.shape)",)),
    Row("sum_reduced_axes_first", "mismatch", "wrong_axis", ("axis=0) where axis=1",)),
    Row("mean_missing_1_over_n", "mismatch", "constant_factor",
        ("the number of elements averaged", "division by n is missing")),
    Row("mean_divides_by_size", "mismatch", "constant_factor", ("n/size", "x.size")),
    Row("max_routes_to_all", "mismatch", "derivative_slip", ("every entry",)),
    Row("logsumexp_keepdims_twice", "shape", "reinserted_reduced_axes", ("keepdims=True",)),
    Row("softmax_diagonal_jacobian", "mismatch", "derivative_slip", ("diagonal",)),
    Row("log_softmax_no_sum", "mismatch", "derivative_slip", ("not summed along the axis",)),
    # Its gradient is right for the function its forward computes: no mismatch is reported
    # (test_a_wrong_forward_is_not_blamed_on_the_backward); sum_reduced_axes_first shows
    # wrong_axis on a mismatch.
    Row("softmax_ignores_axis", "forward", "wrong_axis", ("axis=1) where axis=0",)),
    Row("sqrt_nonfinite", "nonfinite", "nonfinite", ("NaN or inf", "g / (2 * sqrt(x))")),
    Row("relu_inplace", "mutation", "mutation", ("relu()", "copy before modifying in place")),
    Row("add_zero_for_a", "mismatch", "zero_gradient", ("disconnected from the output",)),
    Row("exp_extra_axis", "shape", "shape_differs", ("1 axis instead of 0",)),
    # Course ops: the slips are data on the rows of ops.py.
    Row("cumsum_not_reversed", "mismatch", "derivative_slip", ("cumsum(g, axis) where", "not reversed")),
    Row("var_correction_ignored", "mismatch", "derivative_slip", ("/ N where", "correction is ignored")),
    Row("layer_norm_missing_term", "mismatch", "derivative_slip",
        ("(g - mean(g, axis)) / sqrt(var(x, axis) + eps) where", "through the variance")),
    # Indexing: the sentence names the repeated indices.
    Row("take_overwrites_repeats", "mismatch", "derivative_slip",
        ("grad[indices] = g where np.add.at(grad, indices, g)", "re:name \\d+ \\(as ", "scatter-add")),
    Row("getitem_overwrites_repeats", "mismatch", "derivative_slip",
        ("grad[key] = g where np.add.at(grad, key, g)", "re:name \\d+ \\(as ", "scatter-add")),
    Row("where_both_branches", "mismatch", "derivative_slip", ("sent to both branches",)),
    Row("flip_not_flipped", "mismatch", "derivative_slip", ("g (not flipped) where flip(g, axis)",)),
    Row("pad_cropped_wrong_side", "mismatch", "derivative_slip", ("cropped from the wrong side",)),
    Row("pad_not_cropped", "shape", "passed_through", ("g cropped back to x",)),
    Row("conv2d_stride_ignored", "mismatch", "derivative_slip", ("(stride ignored) where", "stride is ignored")),
    Row("conv2d_padding_cropped_at_start", "mismatch", "derivative_slip",
        ("dx_padded[..., :size] (cropped at the start) where", "padding is not cropped right")),
    Row("conv1d_kernel_flipped", "mismatch", "derivative_slip", ("kernel flipped in the backward", "cross-correlation")),
    Row("max_pool2d_routes_to_window", "mismatch", "derivative_slip",
        ("g copied to every entry of its window where", "routed to the whole window")),
    Row("avg_pool2d_not_divided", "mismatch", "derivative_slip",
        ("g copied to every entry of its window where", "not divided by the window size")),
    Row("concat_split_wrong_axis", "shape", "derivative_slip",
        ("np.split(g, offsets) along axis 0", "split along the wrong axis")),
    Row("cross_entropy_missing_mean", "mismatch", "constant_factor",
        ("constant factor of N = ", "the number of rows", "1/N of the mean over N is missing")),
    Row("pow_tensor_missing_log", "mismatch", "derivative_slip",
        ("w.r.t. y matches g * x**y where g * x**y * log(x)", "log(x)")),
]


def _row_id(row: Row) -> str:
    return f"{row.source}-{row.category}"


@functools.lru_cache(maxsize=None)
def _minimal_failures(source: str) -> dict[str, Failure]:
    """Return the first minimal failure of each category ``check_op`` finds for ``source``.

    A category may repeat (a second bug in another class of cases): the
    first is the one a search by category alone finds. A failure told as
    another way the same bug showed (``also_seen_as``) is one too: its own
    diagnosis still fires on its own case.
    """
    engine, op = SOURCES[source]
    result = searched(engine, op)  # check_op, 100 examples, seed 0: test_planted's search
    first: dict[str, Failure] = {}
    for failure in result.failures:
        for seen in (failure, *failure.also_seen_as):
            first.setdefault(seen.category, seen)
    return first


def _tupled(value: Any) -> Any:
    # A report read back from JSON has lists where the case had tuples (axes, shapes).
    return tuple(_tupled(item) for item in value) if isinstance(value, list) else value


def _case_of(failure: Failure, op: str) -> Case:
    """Return the case ``failure`` records (as a report, live or read back from JSON, has it)."""
    names = tuple(record.name for record in failure.inputs)
    inputs = tuple(np.asarray(record.values, dtype=np.float64) for record in failure.inputs)
    params = {key: _tupled(value) for key, value in failure.params.items()}
    return Case(op, names, inputs, params, np.asarray(failure.cotangent, np.float64), failure.inputs[0].dtype)


def _diagnoses(failure: Failure, op: str) -> list[tuple[str, str]]:
    """Return what fires on ``failure`` of ``op`` under the tolerance ``check_op`` compared with."""
    return diagnoses(_case_of(failure, op), failure, DEFAULT_TOLERANCES[failure.inputs[0].dtype])


def _diagnose(failure: Failure, op: str) -> str | None:
    return diagnose(_case_of(failure, op), failure, DEFAULT_TOLERANCES[failure.inputs[0].dtype])


def _assert_says(sentence: str | None, words: tuple[str, ...]) -> None:
    assert sentence is not None
    for word in words:
        if word.startswith("re:"):
            assert re.search(word[3:], sentence), (word, sentence)
        else:
            assert word in sentence, (word, sentence)


# --- Each recognizer fires on its planted bug ----------------------------------------


def test_every_recognizer_has_a_planted_bug():
    assert {row.recognizer for row in ROWS} == {recognizer.name for recognizer in RECOGNIZERS}


def test_recognizer_names_are_unique():
    names = [recognizer.name for recognizer in RECOGNIZERS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("row", ROWS, ids=[_row_id(row) for row in ROWS])
def test_recognizer_fires_on_the_minimal_case(row: Row):
    op = SOURCES[row.source][1]
    failures = _minimal_failures(row.source)
    assert row.category in failures, f"check_op found {sorted(failures)}"
    failure = failures[row.category]
    found = _diagnoses(failure, op)
    assert found, f"no recognizer fires on {failure.to_dict()}"
    name, sentence = found[0]
    if row.or_else is not None and name == row.or_else[0]:
        _assert_says(sentence, row.or_else[1])
    else:
        assert name == row.recognizer, found
        _assert_says(sentence, row.words)
    # The runner stored it (a wrong forward followed by what self-consistency says),
    # and a report read back from JSON says the same.
    assert failure.diagnosis is not None and failure.diagnosis.startswith(sentence)
    assert sentence == _diagnose(failure, op)
    assert _diagnose(Failure.from_dict(failure.to_dict()), op) == sentence


HAND_PICKED = [row for row in ROWS if row.source in CASES and any(
    planted.id == row.source and planted.category == row.category for planted in PLANTED
)]


@pytest.mark.parametrize("row", HAND_PICKED, ids=[row.source for row in HAND_PICKED])
def test_recognizer_fires_on_the_hand_picked_case(row: Row):
    # Larger, non-degenerate values than a minimal case: fewer bug classes agree by accident.
    engine, op = SOURCES[row.source]
    inputs, params = CASES[row.source]
    spec = OPS[op]
    params = {param.name: params.get(param.name, param.default) for param in spec.params}
    output = spec.reference(*inputs, **params)
    case = Case(op, spec.operands, tuple(inputs), params, cotangent_like(np.shape(output)))
    failure = judge(case, run_engine(load_engine(engine), case), reference_for(case),
                    DEFAULT_TOLERANCES["float64"])
    assert failure is not None and failure.category == row.category
    found = diagnoses(case, failure, DEFAULT_TOLERANCES["float64"])
    assert found and found[0][0] == (row.hand_picked or row.recognizer), found


def test_unknown_op_gets_no_diagnosis():
    failure = Failure("mismatch", "m", [ArrayRecord("x", np.ones(2), "float64")],
                      wrt="x", expected=np.ones(2), actual=-np.ones(2))
    tolerance = DEFAULT_TOLERANCES["float64"]
    assert diagnose(Case("programs", ("x",), (np.ones(2),), {}, np.ones(2)), failure, tolerance) is None
    # Aliases are ops.
    assert diagnose(Case("neg", ("x",), (np.ones(2),), {}, np.ones(2)), failure, tolerance) is not None


def test_a_program_needs_its_culprits():
    from gradcheck.program import ProgramCase, Step

    program = ProgramCase(("x0",), (np.ones(2),), (Step("y", "negative", ("x0",)),), np.ones(2))
    failure = Failure("mismatch", "m", [ArrayRecord("x0", np.ones(2), "float64")],
                      wrt="x0", expected=-np.ones(2), actual=np.ones(2))
    with pytest.raises(ValueError, match="culprits=blame_steps"):
        diagnose(program, failure, DEFAULT_TOLERANCES["float64"])



# --- No recognizer fires on a correct gradient -----------------------------------------

#: Categories whose failures carry a gradient: a correct one must never be diagnosed.
GRADIENT_CATEGORIES = ("mismatch", "shape", "nonfinite")


def _as_computed(reference: np.ndarray, dtype: str) -> np.ndarray:
    """Return ``reference`` as a correct engine of ``dtype`` could return it: rounded."""
    if dtype == "float32":
        return reference.astype(np.float32).astype(np.float64)
    return np.nextafter(reference, np.inf)  # one ulp off, as two float64 formulas are


def _correct_failures(case: Case) -> list[Failure]:
    """Return failures of every category whose ``actual`` is in fact the reference."""
    forward, grads = tensorflow_vjp(case)
    records = [ArrayRecord(name, x, case.dtype) for name, x in zip(case.names, case.inputs)]

    def failure(category: str, wrt: str | None, expected: np.ndarray) -> Failure:
        return Failure(category, "a correct answer", records, dict(case.params), case.cotangent,
                       wrt=wrt, expected=expected, actual=_as_computed(expected, case.dtype))

    return [failure("forward", None, forward)] + [
        failure(category, name, grad)
        for name, grad in zip(case.names, grads) for category in GRADIENT_CATEGORIES
    ]


def _assert_no_recognizer_fires(op: str, dtype: str, max_examples: int, derandomize: bool) -> dict[str, int]:
    """Check correct answers to cases of ``op``; return how many cases and answers were checked."""
    checked = {"cases": 0, "answers": 0}

    @settings(max_examples=max_examples, database=None, deadline=None, derandomize=derandomize,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(op_cases(op, dtype=dtype))
    def check(case: Case) -> None:
        checked["cases"] += 1
        for failure in _correct_failures(case):
            checked["answers"] += 1
            evidence = Evidence(case, failure, DEFAULT_TOLERANCES[dtype])
            # Every predicate, whether or not the recognizer applies to this op and category.
            fired = [recognizer.name for recognizer in RECOGNIZERS if recognizer.match(evidence) is not None]
            assert fired == [], f"{fired} fired on a correct {failure.category} of {case.describe()}"

    check()
    return checked


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", OP_NAMES)
def test_no_recognizer_fires_on_a_correct_gradient(op, dtype, record_property):
    for key, count in _assert_no_recognizer_fires(op, dtype, 50, derandomize=True).items():
        record_property(key, count)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", OP_NAMES)
def test_no_recognizer_fires_on_a_correct_gradient_campaign(op, dtype, record_property):
    # The figures go to the JUnit XML (--junitxml) of the campaign.
    for key, count in _assert_no_recognizer_fires(op, dtype, 1000, derandomize=False).items():
        record_property(key, count)


# --- Factors in words ---------------------------------------------------------------------

_AVERAGED = "1/3 = 1/n with n = 3, the number of elements averaged"


@pytest.mark.parametrize(
    ("factor", "named", "words"),
    [
        (2.0, (), "2"),
        (0.5, (), "1/2"),
        (1 / 3, (), "1/3"),
        (float(np.float32(1 / 3)), (), "1/3"),  # what a float32 engine's fit gives
        (1.5, (), "3/2"),
        (-2.0, (), "-2"),
        (1 / 3, [(1 / 3, _AVERAGED)], _AVERAGED),
        (2.0, [(2.0, "p = 2.0")], "p = 2.0"),
        (2.0, [(3.0, "n = 3")], "2"),  # a name only for its own value
        (0.8123, (), None),  # no simple rational
        (1 / 13, (), None),  # denominator too large
        (0.0, (), None),  # zero is no factor: the zero-gradient recognizer's case
        (float("nan"), (), None),
    ],
    ids=["2", "1/2", "1/3", "1/3-float32", "3/2", "-2", "1/n", "p", "unnamed", "irrational",
         "1/13", "zero", "nan"],
)
def test_describe_factor(factor, named, words):
    assert describe_factor(factor, named) == words
