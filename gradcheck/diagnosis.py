"""Diagnosis: name the bug class behind a minimal failing case, with the fix.

On the minimal case of a failure, the engine's answer (``actual``) is compared
with the reference recomputed under the transformations hand-written backward
rules typically suffer: every axis reversed where only the last two should
swap, a permutation instead of its inverse, a sign, a constant factor, the
cotangent ignored, the derivative of a neighbouring function. A recognizer
fires only when the transformed reference matches ``actual`` *and* the
untransformed one does not, so a correct gradient is never diagnosed.

Recognizers are rows of one table, ``RECOGNIZERS``, tried in order, most
specific first; the first that fires gives the sentence. The wrong rules of
single ops (``SLIPS``) and the constant factors worth a name
(``NAMED_FACTORS``) are tables too. To teach gradcheck a new bug class, add a
row.

Pure: no engine calls and no printing. References are recomputed from the
failure's own inputs, parameters and cotangent, with NumPy or with
``tf.GradientTape`` in float64; comparisons use the failure's dtype tolerance
(``gradcheck.tolerances``), the verdict's own bound.

.. code-block:: pycon

    >>> from gradcheck.engine import load_engine
    >>> from gradcheck.runner import check_op
    >>> result = check_op(load_engine("gradcheck/examples/question_tape.py"), "matmul")
    >>> print(diagnose(result.failure, "matmul"))  # doctest: +SKIP
    The gradient w.r.t. a matches the reference with all axes of b reversed: ...
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from gradcheck.case import Case
from gradcheck.ops import OPS, canonical_op
from gradcheck.results import Failure
from gradcheck.tolerances import DEFAULT_TOLERANCES, allowed_error

__all__ = [
    "FUNCTION_RECOGNIZERS",
    "NAMED_FACTORS",
    "RECOGNIZERS",
    "RULES",
    "SLIPS",
    "Evidence",
    "Recognizer",
    "Slip",
    "describe_factor",
    "diagnose",
    "diagnose_function",
    "diagnoses",
]

#: What a recognizer adds to its sentence's fields when it fires.
Fields = dict[str, Any]
#: ``candidates(evidence)`` yields ``(fields, gradient a wrong rule would give)``.
Candidates = Callable[["Evidence"], Iterable[tuple[Fields, np.ndarray]]]


# --- Op groups, read off the op table (no op names hard-coded) ---------------

_BINARY = frozenset(name for name, spec in OPS.items() if len(spec.operands) == 2)
_REDUCTIONS = frozenset(name for name, spec in OPS.items() if spec.param_rule == "reduction")
_WITH_AXIS = frozenset(
    name for name, spec in OPS.items() if any(param.name == "axis" for param in spec.params)
)
_MATMUL = frozenset(name for name, spec in OPS.items() if spec.shapes == "matmul")
_PERMUTATIONS = frozenset(name for name, spec in OPS.items() if spec.param_rule == "permutation")
# Ops whose operand is broadcast to the output shape: its gradient is summed back.
_BROADCASTING = frozenset(
    name for name, spec in OPS.items()
    if spec.shapes == "broadcast" or spec.param_rule == "broadcast_target"
)


#: The right VJP of each op, per operand, as a person would write it.
RULES: dict[str, tuple[str, ...]] = {
    "add": ("g", "g"),
    "subtract": ("g", "-g"),
    "multiply": ("g * b", "g * a"),
    "divide": ("g / b", "-g * a / b**2"),
    "maximum": ("g where a > b, 0 elsewhere", "g where b > a, 0 elsewhere"),
    "negative": ("-g",),
    "exp": ("g * exp(x)",),
    "log": ("g / x",),
    "sqrt": ("g / (2 * sqrt(x))",),
    "tanh": ("g * (1 - tanh(x)**2)",),
    "sigmoid": ("g * s * (1 - s) with s = sigmoid(x)",),
    "relu": ("g where x > 0, 0 elsewhere",),
    "abs": ("g * sign(x)",),
    "sin": ("g * cos(x)",),
    "cos": ("-g * sin(x)",),
    "pow": ("g * p * x**(p - 1)",),
    "matmul": ("g @ swapaxes(b, -1, -2)", "swapaxes(a, -1, -2) @ g"),
    "matrix_transpose": ("swapaxes(g, -1, -2)",),
    "permute_dims": ("transpose(g, argsort(axes))",),
    "reshape": ("reshape(g, x.shape)",),
    "broadcast_to": ("g summed over the broadcast axes",),
    "sum": ("g spread back over the reduced axes",),
    "mean": ("g spread back over the reduced axes and divided by n, the number of elements averaged",),
    "max": ("g at the position of each maximum, 0 elsewhere",),
    "softmax": ("s * (g - sum(g * s, axis, keepdims=True)) with s = softmax(x)",),
    "log_softmax": ("g - softmax(x) * sum(g, axis, keepdims=True)",),
    "logsumexp": ("g spread back over the reduced axes, times softmax(x) over them",),
}


# --- Evidence: the failure, its case rebuilt, and what "matches" means -------


def _tupled(value: Any) -> Any:
    # A report read back from JSON has lists where the case had tuples (axes, shapes).
    return tuple(_tupled(item) for item in value) if isinstance(value, list) else value


class Evidence:
    """What recognizers look at: one failure of ``op``, with references recomputed on demand.

    Everything is computed lazily and at most once, so a recognizer that does
    not apply costs nothing. ``matches`` is the one notion of "equal" every
    recognizer uses: the verdict's bound for the failure's dtype.
    """

    def __init__(self, failure: Failure, op: str) -> None:
        self.failure = failure
        self.op = op
        self.names = tuple(record.name for record in failure.inputs)
        self.inputs = tuple(np.asarray(record.values, dtype=np.float64) for record in failure.inputs)
        self.params = {key: _tupled(value) for key, value in failure.params.items()}
        self.dtype = failure.inputs[0].dtype if failure.inputs else "float64"
        self.tolerance = DEFAULT_TOLERANCES.get(self.dtype, DEFAULT_TOLERANCES["float64"])
        self.wrt = self.names.index(failure.wrt) if failure.wrt in self.names else None
        self.expected = None if failure.expected is None else np.asarray(failure.expected, np.float64)
        self.actual = None if failure.actual is None else np.asarray(failure.actual, np.float64)

    @cached_property
    def output(self) -> np.ndarray:
        """The reference forward value (NumPy, float64)."""
        return np.asarray(OPS[self.op].reference(*self.inputs, **self.params), dtype=np.float64)

    @cached_property
    def g(self) -> np.ndarray:
        """The cotangent (all ones when the failure does not record one)."""
        if self.failure.cotangent is None:
            return np.ones_like(self.output)
        return np.asarray(self.failure.cotangent, dtype=np.float64)

    @cached_property
    def x(self) -> np.ndarray:
        """The operand the failing gradient is taken with respect to."""
        return self.inputs[self.wrt]

    @cached_property
    def case(self) -> Case:
        return Case(self.op, self.names, self.inputs, self.params, self.g, self.dtype)

    @cached_property
    def reference_grads(self) -> list[np.ndarray]:
        """The reference gradient of every operand (TensorFlow, float64)."""
        return self.vjp()

    def vjp(self, **changes: Any) -> list[np.ndarray]:
        """Return the reference VJP of the case with ``changes`` (op, params, cotangent) applied."""
        from gradcheck.oracles._tensorflow import tensorflow_vjp

        return tensorflow_vjp(dataclasses.replace(self.case, **changes))[1]

    @cached_property
    def terms(self) -> int:
        return self.case.terms(self.output.shape, self.wrt)

    def close(self, value: np.ndarray, reference: np.ndarray) -> bool:
        """Return whether ``value`` equals ``reference`` within the verdict's bound on ``reference``."""
        if np.shape(value) != np.shape(reference):
            return False
        bound = allowed_error(reference, self.tolerance, self.terms)
        return bool(np.all(np.abs(value - reference) <= bound))

    def matches(self, candidate: np.ndarray | None) -> bool:
        """Return whether the engine's answer is ``candidate`` (a transformed reference)."""
        return self.actual is not None and candidate is not None and self.close(self.actual, candidate)

    @cached_property
    def wrong(self) -> bool:
        """Whether the engine's answer differs from the untransformed reference."""
        return self.expected is not None and not self.matches(self.expected)

    @cached_property
    def fields(self) -> Fields:
        """The fields every sentence may use."""
        wrt = self.failure.wrt
        return {
            "op": self.op,
            "wrt": wrt,
            "subject": f"The gradient w.r.t. {wrt}" if wrt else "The forward value",
            "shape": None if self.wrt is None else self.x.shape,
            "actual_shape": None if self.actual is None else self.actual.shape,
            "rule": self.rule(self.wrt),
        }

    def rule(self, operand: int | None) -> str:
        """Return the right VJP of ``operand`` in words, saying so when it is summed back to shape."""
        rules = RULES.get(self.op)
        if rules is None or operand is None:
            return "the reference VJP"
        target = _broadcast_target(self, operand)
        shape = self.inputs[operand].shape
        if target is not None and target != shape:
            return f"{rules[operand]}, summed back to {self.names[operand]}'s shape {shape}"
        return rules[operand]


# --- Helpers the recognizers share ---------------------------------------------


def _sum_to(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``g`` down to ``shape`` as an unbroadcast does; ValueError if ``shape`` never broadcast to it."""
    leading = g.ndim - len(shape)
    if leading < 0:
        raise ValueError(f"cannot sum shape {g.shape} down to {shape}")
    g = np.sum(g, axis=tuple(range(leading)))
    stretched = tuple(axis for axis, size in enumerate(shape) if size == 1 and g.shape[axis] != 1)
    g = np.sum(g, axis=stretched, keepdims=True)
    if g.shape != tuple(shape):
        raise ValueError(f"cannot sum shape {g.shape} down to {shape}")
    return g


def _broadcast_target(evidence: Evidence, operand: int) -> tuple[int, ...] | None:
    """Return the shape ``operand`` was broadcast to in the forward pass, or None if it never is."""
    shape = evidence.inputs[operand].shape
    if evidence.op in _BROADCASTING:
        return evidence.output.shape
    if evidence.op in _MATMUL and len(shape) >= 2:
        # Batch axes broadcast; the matrix axes are the operand's own.
        batches = [x.shape[:-2] for x in evidence.inputs if x.ndim >= 2]
        return tuple(np.broadcast_shapes(*batches)) + shape[-2:]
    return None


def _swap_last_two(x: np.ndarray) -> np.ndarray:
    return np.swapaxes(x, -1, -2)


def _matmul_vjp(
    g: np.ndarray, a: np.ndarray, b: np.ndarray, operand: int,
    transpose: Callable[[np.ndarray], np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Return matmul's gradient of ``operand`` (0: a, 1: b) before and after summing it to shape.

    NumPy semantics: a 1-D ``a`` is a row, a 1-D ``b`` a column. ``transpose``
    is the rule's transpose, so a wrong one (``np.transpose``) gives the wrong
    rule's answer; it raises ValueError where that rule's matmul would.
    """
    raw, promoted = _matmul_raw(g, a, b, operand, transpose)
    return raw, _sum_to(raw, promoted).reshape((a, b)[operand].shape)


def _matmul_raw(
    g: np.ndarray, a: np.ndarray, b: np.ndarray, operand: int,
    transpose: Callable[[np.ndarray], np.ndarray],
) -> tuple[np.ndarray, tuple[int, ...]]:
    """Return matmul's gradient of ``operand`` before summing it to shape, and the promoted operand shape."""
    a2 = a[np.newaxis, :] if a.ndim == 1 else a
    b2 = b[:, np.newaxis] if b.ndim == 1 else b
    g2 = g[..., np.newaxis] if b.ndim == 1 else g
    g2 = g2[..., np.newaxis, :] if a.ndim == 1 else g2
    raw = np.matmul(g2, transpose(b2)) if operand == 0 else np.matmul(transpose(a2), g2)
    return raw, (a2, b2)[operand].shape


def _all_axes_fields(evidence: Evidence, operand: int) -> Fields:
    """Fields naming the operand whose axes a transpose over every axis reversed."""
    other = 1 - operand
    axes = tuple(range(evidence.inputs[other].ndim))
    return {"wrt": evidence.names[operand], "other": evidence.names[other],
            "axes": axes, "reversed": axes[::-1]}


def _axes_of(axis: Any, ndim: int) -> frozenset[int]:
    """Return the set of axes ``axis`` (None, an int or a tuple) names in an ``ndim``-D array."""
    if axis is None:
        return frozenset(range(ndim))
    if isinstance(axis, tuple):
        return frozenset(a % ndim for a in axis)
    return frozenset({axis % ndim})


def _fraction(value: float) -> str:
    """Return ``value`` as ``k`` or ``k/m`` with a small denominator."""
    return str(Fraction(value).limit_denominator(_MAX_DENOMINATOR))


# --- Constant factors ------------------------------------------------------------

# A fitted factor is a "simple rational" when it is k/m with m <= 12 and |k| <= 24,
# to within FACTOR_RTOL. The fit sees float32 rounding at most (~1e-7): any
# looser and a random ratio of two numbers would often pass for a simple one.
_MAX_DENOMINATOR = 12
_MAX_NUMERATOR = 24
FACTOR_RTOL = 1e-5


def _mean_factors(evidence: Evidence) -> list[tuple[float, str]]:
    size = evidence.inputs[0].size
    n = size // max(evidence.output.size, 1)
    averaged = f"n = {n}, the number of elements averaged"
    return [
        (float(n), f"{averaged} (the division by n is missing)"),
        (1 / n, f"1/{n} = 1/n with {averaged} (the division by n is applied twice)"),
        (n / size, f"{_fraction(n / size)} = n/size (the backward divides by x.size = {size} "
                   f"where {averaged}, was meant)"),
    ]


def _pow_factors(evidence: Evidence) -> list[tuple[float, str]]:
    p = evidence.params["p"]
    if p == 0:
        return []
    return [
        (p, f"p = {p} (the factor p is applied twice)"),
        (1 / p, f"{_fraction(1 / p)} = 1/p with p = {p} (the factor p of p * x**(p - 1) is missing)"),
    ]


#: Factors with a meaning for one op: ``op -> evidence -> [(value, phrase)]``, first match wins.
NAMED_FACTORS: dict[str, Callable[[Evidence], list[tuple[float, str]]]] = {
    "mean": _mean_factors,
    "pow": _pow_factors,
}


def describe_factor(
    factor: float, named: Sequence[tuple[float, str]] = (), rtol: float = FACTOR_RTOL
) -> str | None:
    """Return ``factor`` in words: a named value's phrase, a simple rational, or None.

    .. code-block:: pycon

        >>> describe_factor(2.0)
        '2'
        >>> describe_factor(1 / 3, [(1 / 3, "1/3 = 1/n with n = 3, the number of elements averaged")])
        '1/3 = 1/n with n = 3, the number of elements averaged'
        >>> describe_factor(0.8123) is None
        True
    """
    if not math.isfinite(factor):
        return None
    for value, phrase in named:
        if math.isclose(factor, value, rel_tol=rtol):
            return phrase
    simple = Fraction(factor).limit_denominator(_MAX_DENOMINATOR)
    if simple == 0 or abs(simple.numerator) > _MAX_NUMERATOR:
        return None
    if not math.isclose(factor, float(simple), rel_tol=rtol):
        return None
    return str(simple)


# --- Slips: wrong backward rules of one op ------------------------------------------


@dataclass(frozen=True)
class Slip:
    """A wrong backward rule hand-written engines are known to have for one op."""

    op: str
    found: str  # the wrong rule, as code
    meant: str  # the right one
    why: str  # the bug class, ending the sentence
    vjp: Callable[[Evidence], np.ndarray]  # the gradient the wrong rule gives


#: ``derivative(x, y, params)``: an elementwise op's local derivative at input x, output y.
Derivative = Callable[[np.ndarray, np.ndarray, dict[str, Any]], np.ndarray]


def _times_g(derivative: Derivative) -> Callable[[Evidence], np.ndarray]:
    """Return the VJP of an elementwise op whose local derivative is ``derivative(x, y, params)``."""
    return lambda evidence: evidence.g * derivative(evidence.x, evidence.output, evidence.params)


_IN_TERMS_OF_INPUT = "the derivative is written in terms of the input x where the output {y} was meant"

#: Wrong rules of single ops, tried in this order for the failing op.
SLIPS: tuple[Slip, ...] = (
    Slip("tanh", "g * (1 - x**2)", "g * (1 - y**2) with y = tanh(x)",
         _IN_TERMS_OF_INPUT.format(y="y"), _times_g(lambda x, y, p: 1 - x**2)),
    Slip("tanh", "g * (1 - tanh(x))", "g * (1 - tanh(x)**2)",
         "the square is missing", _times_g(lambda x, y, p: 1 - y)),
    Slip("sigmoid", "g * s", "g * s * (1 - s) with s = sigmoid(x)",
         "the factor (1 - s) is missing", _times_g(lambda x, y, p: y)),
    Slip("sigmoid", "g * x * (1 - x)", "g * s * (1 - s) with s = sigmoid(x)",
         _IN_TERMS_OF_INPUT.format(y="s"), _times_g(lambda x, y, p: x * (1 - x))),
    Slip("exp", "g * x", "g * y with y = exp(x)",
         "the input x is used where the output y was meant", _times_g(lambda x, y, p: x)),
    Slip("log", "g / x**2", "g / x",
         "one power of x too many", _times_g(lambda x, y, p: 1 / x**2)),
    Slip("log", "g * x", "g / x",
         "x multiplies where it should divide", _times_g(lambda x, y, p: x)),
    Slip("sqrt", "g / (2 * x)", "g / (2 * y) with y = sqrt(x)",
         _IN_TERMS_OF_INPUT.format(y="y"), _times_g(lambda x, y, p: 1 / (2 * x))),
    Slip("sqrt", "g * sqrt(x) / 2", "g / (2 * sqrt(x))",
         "sqrt(x) multiplies where it should divide", _times_g(lambda x, y, p: y / 2)),
    Slip("sin", "g * sin(x)", "g * cos(x)",
         "the function itself is used instead of its derivative", _times_g(lambda x, y, p: y)),
    Slip("cos", "g * sin(x)", "-g * sin(x)",
         "the minus sign of d cos(x)/dx = -sin(x) is missing", _times_g(lambda x, y, p: np.sin(x))),
    Slip("cos", "g * cos(x)", "-g * sin(x)",
         "the function itself is used instead of its derivative", _times_g(lambda x, y, p: y)),
    Slip("pow", "g * p * x**p", "g * p * x**(p - 1)",
         "the exponent was not lowered by one", _times_g(lambda x, y, p: p["p"] * y)),
    Slip("pow", "g * x**p * log(x)", "g * p * x**(p - 1)",
         "that is the derivative with respect to the exponent p, not the base x",
         _times_g(lambda x, y, p: y * np.log(x))),
    Slip("softmax", "g * s * (1 - s)", "s * (g - sum(g * s, axis, keepdims=True)) with s = softmax(x)",
         "only the Jacobian's diagonal is kept (sigmoid's rule); the term -s * sum(g * s, axis) "
         "coupling every output to every input is missing",
         _times_g(lambda x, y, p: y * (1 - y))),
    Slip("log_softmax", "g - softmax(x) * g", "g - softmax(x) * sum(g, axis, keepdims=True)",
         "the cotangent is not summed along the axis",
         lambda evidence: evidence.g - np.exp(evidence.output) * evidence.g),
    Slip("max", "sum's backward (g copied to every entry)", "g at the position of each maximum only",
         "the gradient is routed to every entry instead of only to the maximum (x == max)",
         lambda evidence: evidence.vjp(op="sum")[0]),
    Slip("logsumexp", "sum's backward (g copied to every entry)", "g * softmax(x) over the reduced axes",
         "the weights softmax(x) = exp(x - logsumexp(x)) are missing",
         lambda evidence: evidence.vjp(op="sum")[0]),
)


# --- Matchers: each returns the sentence's fields when it fires, else None ----------


def _reproduces(candidates: Candidates) -> Callable[[Evidence], Fields | None]:
    """Return a matcher that fires when a candidate reproduces a wrong answer of the engine.

    The candidate is the reference under one transformation; the guard
    ``evidence.wrong`` is what keeps every such recognizer silent on a correct
    gradient.
    """

    def match(evidence: Evidence) -> Fields | None:
        if not evidence.wrong:
            return None
        try:
            for fields, candidate in candidates(evidence):
                if evidence.matches(candidate):
                    return fields
        except Exception:  # noqa: BLE001 - a hypothetical that cannot be computed here does not apply
            return None
        return None

    return match


def _transpose_all_axes(evidence: Evidence) -> Iterator[tuple[Fields, np.ndarray]]:
    if evidence.inputs[1 - evidence.wrt].ndim < 3:
        return  # on matrices reversing every axis is the right swap
    raw, promoted = _matmul_raw(evidence.g, *evidence.inputs, evidence.wrt, np.transpose)
    fields = _all_axes_fields(evidence, evidence.wrt)
    try:
        summed = _sum_to(raw, promoted).reshape(evidence.x.shape)
    except ValueError:
        summed = None  # reversed batch axes that no sum brings back to the operand's shape
    # An unbroadcast that misses axes leaves the product's own shape, or the
    # shape left by summing its leading axes only.
    leading = raw.ndim - evidence.x.ndim
    candidates = [summed, raw.sum(axis=tuple(range(leading))) if leading > 0 else None, raw]
    shapes: set[tuple[int, ...]] = set()
    for candidate in candidates:
        if candidate is not None and candidate.shape not in shapes:
            shapes.add(candidate.shape)
            yield fields, candidate


def _permutation_again(evidence: Evidence) -> Iterator[tuple[Fields, np.ndarray]]:
    axes = tuple(evidence.params["axes"])
    inverse = tuple(int(i) for i in np.argsort(axes))
    yield {"axes": axes, "inverse": inverse}, np.transpose(evidence.g, axes)


def _slips(evidence: Evidence) -> Iterator[tuple[Fields, np.ndarray]]:
    for slip in SLIPS:
        if slip.op == evidence.op:
            with np.errstate(all="ignore"):  # a wrong rule may divide by zero where the right one does not
                candidate = slip.vjp(evidence)
            yield {"found": slip.found, "meant": slip.meant, "why": slip.why}, candidate


def _other_axes(evidence: Evidence) -> Iterator[tuple[Fields, np.ndarray]]:
    """Yield the reference for every other axis that gives an output of the same shape."""
    x = evidence.inputs[0]
    axis = evidence.params["axis"]
    takes_none = any(p.name == "axis" and p.default is None for p in OPS[evidence.op].params)
    options = ([None] if takes_none else []) + list(range(x.ndim))
    stage = "forward" if evidence.wrt is None else "backward"
    for other in options:
        if _axes_of(other, x.ndim) == _axes_of(axis, x.ndim):
            continue
        params = {**evidence.params, "axis": other}
        value = np.asarray(OPS[evidence.op].reference(x, **params))
        if value.shape != evidence.output.shape:
            continue
        candidate = value if evidence.wrt is None else evidence.vjp(params=params)[evidence.wrt]
        yield {"axis": axis, "other": other, "fix": _AXIS_FIXES[stage]}, candidate


_AXIS_FIXES = {
    "forward": "the op ignores or misreads its axis argument; pass it through",
    "backward": "the backward works along the wrong axis; use the op's axis in the backward as in "
                "the forward (a reduction puts the reduced axes back where they were with "
                "np.expand_dims(g, axis) before broadcasting to x's shape)",
}


def _sign_flipped(evidence: Evidence) -> Iterator[tuple[Fields, np.ndarray]]:
    yield {}, -evidence.expected


def _passed_through(evidence: Evidence) -> Iterator[tuple[Fields, np.ndarray]]:
    g = evidence.g
    yield {}, g if g.shape == evidence.actual.shape else _sum_to(g, evidence.x.shape)


def _swapped_gradients(evidence: Evidence) -> Iterator[tuple[Fields, np.ndarray]]:
    other = 1 - evidence.wrt
    yield ({"other": evidence.names[other], "other_rule": evidence.rule(other)},
           evidence.reference_grads[other])


def _ones_cotangent(evidence: Evidence) -> Iterator[tuple[Fields, np.ndarray]]:
    yield {}, evidence.vjp(cotangent=np.ones_like(evidence.g))[evidence.wrt]


def _scaled(evidence: Evidence) -> Iterator[tuple[Fields, np.ndarray]]:
    expected, actual = evidence.expected, evidence.actual
    energy = float(np.vdot(expected, expected))
    if expected.shape != actual.shape or energy == 0.0:
        return
    factor = float(np.vdot(actual, expected)) / energy
    named = NAMED_FACTORS.get(evidence.op, lambda _: [])(evidence)
    phrase = describe_factor(factor, named)
    if phrase is not None:
        yield {"factor": phrase}, factor * expected


def _zeros(evidence: Evidence) -> Iterator[tuple[Fields, np.ndarray]]:
    yield {}, np.zeros_like(evidence.expected)


def _shape_matcher(
    bug_shape: Callable[[Evidence], tuple[tuple[int, ...], Fields] | None],
    *,
    sums_back: bool = True,
) -> Callable[[Evidence], Fields | None]:
    """Return a matcher for a wrong gradient *shape*.

    ``bug_shape(evidence)`` gives the shape a bug produces and the sentence's
    fields, or None where the bug cannot arise. With ``sums_back`` the engine's
    gradient, summed down to the operand's shape, must also be the reference:
    the bug only left out a sum. A shape nothing sums down from is evidence
    by itself.
    """

    def match(evidence: Evidence) -> Fields | None:
        if evidence.actual is None or evidence.wrt is None or evidence.actual.shape == evidence.x.shape:
            return None
        found = bug_shape(evidence)
        if found is None or found[0] != evidence.actual.shape:
            return None
        shape, fields = found
        if not sums_back:
            return fields
        try:
            summed = _sum_to(evidence.actual, evidence.x.shape)
        except ValueError:
            return fields
        return fields if evidence.close(summed, evidence.expected) else None

    return match


def _unsummed_shape(evidence: Evidence) -> tuple[tuple[int, ...], Fields] | None:
    target = _broadcast_target(evidence, evidence.wrt)
    if target is None:
        return None
    shape = evidence.x.shape
    leading = len(target) - len(shape)
    axes = tuple(range(leading)) + tuple(
        leading + axis for axis, size in enumerate(shape) if size == 1 and target[leading + axis] != 1
    )
    return target, {"axes": axes}


def _leading_only_shape(evidence: Evidence) -> tuple[tuple[int, ...], Fields] | None:
    target = _broadcast_target(evidence, evidence.wrt)
    shape = evidence.x.shape
    if target is None:
        return None
    kept = target[len(target) - len(shape):]
    axes = tuple(axis for axis, (size, stretched) in enumerate(zip(shape, kept)) if size != stretched)
    return kept, {"axes": axes, "stretched": tuple(kept[axis] for axis in axes)}


def _reinserted_shape(evidence: Evidence) -> tuple[tuple[int, ...], Fields] | None:
    if not evidence.params.get("keepdims"):
        return None
    axes = tuple(sorted(_axes_of(evidence.params["axis"], evidence.x.ndim)))
    reinserted = np.expand_dims(np.empty(evidence.g.shape), axes).shape
    return tuple(np.broadcast_shapes(reinserted, evidence.x.shape)), {"axes": axes}


def _any_other_shape(evidence: Evidence) -> tuple[tuple[int, ...], Fields] | None:
    actual, shape = evidence.actual.shape, evidence.x.shape
    if len(actual) != len(shape):
        difference = f"{_axes_count(len(actual))} instead of {len(shape)}"
    else:
        differing = tuple(axis for axis, (a, b) in enumerate(zip(actual, shape)) if a != b)
        difference = f"axes {differing} differ"
    return actual, {"difference": difference}


def _axes_count(n: int) -> str:
    return f"{n} axis" if n == 1 else f"{n} axes"


def _transpose_all_axes_raises(evidence: Evidence) -> Fields | None:
    """Fire when matmul's backward raised a size mismatch that reversing all axes reproduces."""
    if not _SIZE_MISMATCH.search(evidence.failure.detail or "") or len(evidence.inputs) != 2:
        return None
    for operand in (0, 1):
        if evidence.inputs[1 - operand].ndim < 3:
            continue
        try:
            _matmul_vjp(evidence.g, *evidence.inputs, operand, _swap_last_two)
        except ValueError:
            continue  # the right rule fails here too: no evidence about the transpose
        try:
            _matmul_vjp(evidence.g, *evidence.inputs, operand, np.transpose)
        except ValueError:
            return _all_axes_fields(evidence, operand)
    return None


def _one_dimensional_operand(evidence: Evidence) -> Fields | None:
    vectors = [name for name, x in zip(evidence.names, evidence.inputs) if x.ndim == 1]
    if not vectors or not _RANK_ERROR.search(evidence.failure.detail or ""):
        return None
    noun = "operand" if len(vectors) == 1 else "operands"
    return {"vectors": f"{noun} {' and '.join(vectors)}"}


def _nonfinite(evidence: Evidence) -> Fields | None:
    expected, actual = evidence.expected, evidence.actual
    if expected is None or actual is None or expected.shape != actual.shape:
        return None
    bad = ~np.isfinite(actual) & np.isfinite(expected)
    if not np.any(bad):
        return None
    if np.all(bad):
        where = "every entry"
    else:
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f"{int(np.sum(bad))} of {bad.size} entries (first at index {first})"
    return {"where": where}


def _mutation(evidence: Evidence) -> Fields | None:
    found = _WROTE_INTO.match(evidence.failure.message or "")
    return None if found is None else {"function": found.group(1)}


# Engine error texts (NumPy, TensorFlow) for operands that do not line up in a product.
_SIZE_MISMATCH = re.compile(
    r"size-incompatible|mismatch in its core dimension|not aligned|Incompatible shapes", re.IGNORECASE
)
# ... and for an operand with too few axes.
_RANK_ERROR = re.compile(
    r"ndims must be >= 2|out of bounds for array of dimension 1|at least two-dimensional|"
    r"must be at least 2-D|different ndims", re.IGNORECASE
)
_WROTE_INTO = re.compile(r"(.+?) wrote into the array")


# --- The table ---------------------------------------------------------------------


@dataclass(frozen=True)
class Recognizer:
    """One bug class: where it can show, how to see it, and the sentence saying it with the fix.

    ``match(evidence)`` returns the sentence's fields when the bug is seen and
    None otherwise; ``template`` is formatted with them and ``Evidence.fields``.
    """

    name: str
    categories: frozenset[str]
    ops: frozenset[str] | None  # None: every op
    match: Callable[[Evidence], Fields | None]
    template: str

    def applies(self, evidence: Evidence) -> bool:
        return evidence.failure.category in self.categories and (self.ops is None or evidence.op in self.ops)

    def recognize(self, evidence: Evidence) -> str | None:
        """Return the sentence for ``evidence`` if this bug class is seen in it, else None."""
        if not self.applies(evidence):
            return None
        fields = self.match(evidence)
        return None if fields is None else self.template.format(**{**evidence.fields, **fields})


def _categories(*names: str) -> frozenset[str]:
    return frozenset(names)


_SWAP_ONLY_LAST_TWO = (
    "np.transpose/tf.transpose with no axes argument reverses {axes} to {reversed}, where only the "
    "last two should swap; use np.swapaxes({other}, -1, -2) / tf.linalg.matrix_transpose({other})."
)
_SUM_BACK = "sum over them (keepdims=True for the size-1 ones) to get back {wrt}'s shape {shape}."

#: Every recognizer, most specific first: the first that fires names the bug.
RECOGNIZERS: tuple[Recognizer, ...] = (
    Recognizer(
        "matmul_1d_operand", _categories("exception"), _MATMUL, _one_dimensional_operand,
        "{op} raised on the 1-D {vectors}: the engine assumes matrices, but CONTRACT 1 asks "
        "for NumPy semantics: promote a 1-D left operand to a row (1, n) and a right one to a "
        "column (n, 1), multiply, then drop the added axis (in the backward pass too).",
    ),
    Recognizer(
        "transpose_all_axes_raises", _categories("exception"), _MATMUL, _transpose_all_axes_raises,
        "The size mismatch inside grad() is what {op}'s backward for {wrt} hits when it reverses all "
        "axes of {other}: " + _SWAP_ONLY_LAST_TWO,
    ),
    Recognizer(
        "transpose_all_axes", _categories("mismatch", "shape"), _MATMUL,
        _reproduces(_transpose_all_axes),
        "{subject} matches the reference with all axes of {other} reversed: " + _SWAP_ONLY_LAST_TWO,
    ),
    Recognizer(
        "permutation_not_inverse", _categories("mismatch", "shape"), _PERMUTATIONS,
        _reproduces(_permutation_again),
        "{subject} is the cotangent permuted by axes={axes} again instead of by its inverse: "
        "transpose the cotangent with np.argsort(axes) = {inverse}.",
    ),
    Recognizer(
        "reinserted_reduced_axes", _categories("shape"), _REDUCTIONS,
        # The values need not sum back: the extra axes broadcast against x's own.
        _shape_matcher(_reinserted_shape, sums_back=False),
        "{subject} has shape {actual_shape} where {wrt} has {shape}: the reduced axes {axes} were "
        "inserted into the cotangent again although keepdims=True already kept them; expand the "
        "cotangent only when keepdims=False.",
    ),
    Recognizer(
        "summed_leading_axes_only", _categories("shape"), _BROADCASTING | _MATMUL,
        _shape_matcher(_leading_only_shape),
        "{subject} has shape {actual_shape} where {wrt} has {shape}: it was not summed over the "
        "size-1 axes {axes} of {wrt} that broadcasting stretched to {stretched} (an unbroadcast that "
        "sums the leading axes only misses them); " + _SUM_BACK,
    ),
    Recognizer(
        "not_summed_over_broadcast_axes", _categories("shape"), _BROADCASTING | _MATMUL,
        _shape_matcher(_unsummed_shape),
        "{subject} has the broadcast shape {actual_shape} where {wrt} has {shape}: it was not summed "
        "over the broadcast axes {axes}; " + _SUM_BACK,
    ),
    Recognizer(
        "derivative_slip", _categories("mismatch"), frozenset(slip.op for slip in SLIPS),
        _reproduces(_slips),
        "{subject} matches {found} where {meant} was meant: {why}.",
    ),
    Recognizer(
        "wrong_axis", _categories("mismatch", "forward"), _WITH_AXIS, _reproduces(_other_axes),
        "{subject} matches {op}(..., axis={other}) where axis={axis} was asked: {fix}.",
    ),
    Recognizer(
        "sign_flipped", _categories("mismatch"), None, _reproduces(_sign_flipped),
        "{subject} has the right magnitude but the wrong sign: a minus sign is missing or extra in "
        "{op}'s backward; it should be {rule}.",
    ),
    Recognizer(
        "passed_through", _categories("mismatch", "shape"), None, _reproduces(_passed_through),
        "{subject} is the cotangent passed through unchanged, as if {op}'s local derivative were 1; "
        "it should be {rule}.",
    ),
    Recognizer(
        "gradients_swapped", _categories("mismatch"), _BINARY, _reproduces(_swapped_gradients),
        "{subject} is what the gradient w.r.t. {other} should be ({other_rule}): the rule builds it "
        "from the wrong operand or returns the two gradients in swapped order; it should be {rule}.",
    ),
    Recognizer(
        "cotangent_ignored", _categories("mismatch"), None, _reproduces(_ones_cotangent),
        "{subject} is the one for an all-ones cotangent: the backward ignores the incoming gradient g; "
        "by the chain rule it must multiply g by the local derivative: {rule}.",
    ),
    Recognizer(
        "constant_factor", _categories("mismatch"), None, _reproduces(_scaled),
        "{subject} is off by a constant factor of {factor}; {op}'s backward should compute {rule}.",
    ),
    Recognizer(
        "zero_gradient", _categories("mismatch"), None, _reproduces(_zeros),
        "{subject} is all zeros where the reference is not: the input seems disconnected from the "
        "output: the backward pass never reached it or the rule returns zeros; it should be {rule}.",
    ),
    Recognizer(
        "nonfinite", _categories("nonfinite"), None, _nonfinite,
        "{subject} is NaN or inf at {where} although the reference is finite: {op}'s backward divides "
        "by zero or takes the log or sqrt of a non-positive number; it should be {rule}, finite here.",
    ),
    Recognizer(
        "mutation", _categories("mutation"), None, _mutation,
        "{function} wrote into an array it was handed: copy before modifying in place (out=x, x += ..., "
        "x[...] = ... on an input change the caller's array and the values the backward pass reads later).",
    ),
    Recognizer(
        "shape_differs", _categories("shape"), None, _shape_matcher(_any_other_shape, sums_back=False),
        "{subject} has shape {actual_shape} where {wrt} has {shape} ({difference}): the backward must "
        "return a gradient of exactly its operand's shape, summing over broadcast axes and undoing any "
        "reshape or transpose.",
    ),
)


# --- Public entry points -----------------------------------------------------------------


def diagnoses(failure: Failure, op: str) -> list[tuple[str, str]]:
    """Return ``(recognizer name, sentence)`` for every recognizer that fires, table order.

    ``diagnose`` keeps the first; the rest show where bug classes overlap on a case.
    """
    evidence = _evidence(failure, op)
    if evidence is None:
        return []
    found = ((recognizer.name, recognizer.recognize(evidence)) for recognizer in RECOGNIZERS)
    return [(name, sentence) for name, sentence in found if sentence is not None]


def diagnose(failure: Failure, op: str) -> str | None:
    """Return a one-sentence guess at the bug class behind ``failure`` of ``op``, with the fix, or None.

    ``op`` is an op name of CONTRACT 1 or an alias; for anything else (a
    composite program) there is no diagnosis here.
    """
    evidence = _evidence(failure, op)
    if evidence is None:
        return None
    for recognizer in RECOGNIZERS:
        sentence = recognizer.recognize(evidence)
        if sentence is not None:
            return sentence
    return None


def _evidence(failure: Failure, op: str) -> Evidence | None:
    name = canonical_op(op)
    return None if name is None else Evidence(failure, name)


# --- A user's function (``gradcheck.check_function``) ------------------------------


class _FunctionEvidence(Evidence):
    """Evidence on a user's function: its failure's own numbers, no formula to recompute them with.

    Only the recognizers that need no op's formula apply: a sign, a constant
    factor, zeros, a gradient of the wrong shape, ...
    """

    @cached_property
    def output(self) -> np.ndarray:
        # Only its shape is known: the cotangent's.
        return np.zeros(np.shape(self.failure.cotangent) if self.failure.cotangent is not None else ())

    @cached_property
    def terms(self) -> int:
        from gradcheck.function_case import function_terms

        return function_terms([x.shape for x in self.inputs], self.output.shape, self.wrt)

    def vjp(self, **changes: Any) -> list[np.ndarray]:
        raise LookupError("a user's function has no formula to recompute its gradient with")

    def rule(self, operand: int | None) -> str:
        return "the expected gradient"


def _summed_back(evidence: Evidence) -> Fields | None:
    """Fire when a gradient of the wrong shape, summed down to its input's shape, is the reference."""
    if evidence.actual is None or evidence.wrt is None or evidence.actual.shape == evidence.x.shape:
        return None
    try:
        summed = _sum_to(evidence.actual, evidence.x.shape)
    except ValueError:
        return None
    if evidence.expected is None or not evidence.close(summed, evidence.expected):
        return None
    leading = evidence.actual.ndim - evidence.x.ndim
    axes = tuple(range(leading)) + tuple(
        leading + axis for axis, size in enumerate(evidence.x.shape)
        if size == 1 and evidence.actual.shape[leading + axis] != 1
    )
    return {"axes": axes}


#: The recognizers for a user's function: those that need no op's formula, most specific first.
FUNCTION_RECOGNIZERS: tuple[Recognizer, ...] = (
    Recognizer(
        "not_summed_over_broadcast_axes", _categories("shape"), None, _summed_back,
        "{subject} has the broadcast shape {actual_shape} where {wrt} has {shape}: {wrt} is broadcast "
        "in the forward pass and its gradient was not summed over the broadcast axes {axes}; " + _SUM_BACK,
    ),
    *(recognizer for recognizer in RECOGNIZERS if recognizer.ops is None),
)


def diagnose_function(failure: Failure, name: str) -> str | None:
    """Return a one-sentence guess at the bug behind a failure of the user's function ``name``, or None."""
    evidence = _FunctionEvidence(failure, name)
    for recognizer in FUNCTION_RECOGNIZERS:
        sentence = recognizer.recognize(evidence)
        if sentence is not None:
            return sentence
    return None
