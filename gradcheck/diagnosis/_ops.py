"""Recognizers: the bug classes of single ops, as one table tried in order.

On the failed case, the engine's answer (``actual``) is compared with the
reference recomputed under the transformations hand-written backward rules
typically suffer: every axis reversed where only the last two should swap, a
permutation instead of its inverse, a sign, a constant factor, the cotangent
ignored, one of the op's known wrong rules (``OpSpec.slips``). A recognizer
fires only when the transformed reference matches ``actual`` *and* the
untransformed one does not, so a correct gradient is never diagnosed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from gradcheck.diagnosis._evidence import BROADCASTING, MATMUL, Evidence, Fields, broadcast_target, sum_to
from gradcheck.ops import OPS

__all__ = ["FACTOR_RTOL", "RECOGNIZERS", "SUM_BACK", "Recognizer", "describe_factor"]

#: ``candidates(evidence)`` yields ``(fields, gradient a wrong rule would give)``.
Candidates = Callable[[Evidence], Iterable[tuple[Fields, np.ndarray]]]


# --- Op groups, read off the op table (no op names hard-coded) ---------------

_BINARY = frozenset(name for name, spec in OPS.items() if len(spec.operands) == 2)
_REDUCTIONS = frozenset(name for name, spec in OPS.items() if spec.param_rule == "reduction")
_WITH_AXIS = frozenset(
    name for name, spec in OPS.items() if any(param.name == "axis" for param in spec.params)
)
_PERMUTATIONS = frozenset(name for name, spec in OPS.items() if spec.param_rule == "permutation")
_WITH_SLIPS = frozenset(name for name, spec in OPS.items() if spec.slips)


# --- Helpers the recognizers share ---------------------------------------------


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
    return raw, sum_to(raw, promoted).reshape((a, b)[operand].shape)


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
    operand = evidence.operand
    if evidence.inputs[1 - operand].ndim < 3:
        return  # on matrices reversing every axis is the right swap
    a, b = evidence.inputs
    raw, promoted = _matmul_raw(evidence.g, a, b, operand, np.transpose)
    fields = _all_axes_fields(evidence, operand)
    try:
        summed = sum_to(raw, promoted).reshape(evidence.x.shape)
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
    for slip in OPS[evidence.op].slips:
        with np.errstate(all="ignore"):  # a wrong rule may divide by zero where the right one does not
            candidate = slip.candidate(evidence.g, evidence.inputs, evidence.operand, evidence.output,
                                       evidence.params)
        if candidate is None:
            continue
        why = slip.reason(evidence.inputs, evidence.params)
        yield {"found": slip.found, "meant": slip.meant, "why": why}, candidate


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
    yield {}, -evidence.expected_value


def _passed_through(evidence: Evidence) -> Iterator[tuple[Fields, np.ndarray]]:
    g = evidence.g
    yield {}, g if g.shape == evidence.actual_value.shape else sum_to(g, evidence.x.shape)


def _swapped_gradients(evidence: Evidence) -> Iterator[tuple[Fields, np.ndarray]]:
    other = 1 - evidence.operand
    yield ({"other": evidence.names[other], "other_rule": evidence.rule(other)},
           evidence.reference_grads[other])


def _ones_cotangent(evidence: Evidence) -> Iterator[tuple[Fields, np.ndarray]]:
    yield {}, evidence.vjp(cotangent=np.ones_like(evidence.g))[evidence.operand]


def _scaled(evidence: Evidence) -> Iterator[tuple[Fields, np.ndarray]]:
    expected, actual = evidence.expected_value, evidence.actual_value
    energy = float(np.vdot(expected, expected))
    if expected.shape != actual.shape or energy == 0.0:
        return
    factor = float(np.vdot(actual, expected)) / energy
    named = [(value, phrase.format(fraction=_fraction(value))) for value, phrase in evidence.factors()]
    phrase = describe_factor(factor, named)
    if phrase is not None:
        yield {"factor": phrase}, factor * expected


def _zeros(evidence: Evidence) -> Iterator[tuple[Fields, np.ndarray]]:
    yield {}, np.zeros_like(evidence.expected_value)


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
        actual = evidence.actual
        if actual is None or evidence.wrt is None or actual.shape == evidence.x.shape:
            return None
        found = bug_shape(evidence)
        if found is None or found[0] != actual.shape:
            return None
        shape, fields = found
        if not sums_back:
            return fields
        try:
            summed = sum_to(actual, evidence.x.shape)
        except ValueError:
            return fields
        expected = evidence.expected
        return fields if expected is not None and evidence.close(summed, expected) else None

    return match


def _unsummed_shape(evidence: Evidence) -> tuple[tuple[int, ...], Fields] | None:
    target = broadcast_target(evidence, evidence.operand)
    if target is None:
        return None
    shape = evidence.x.shape
    leading = len(target) - len(shape)
    axes = tuple(range(leading)) + tuple(
        leading + axis for axis, size in enumerate(shape) if size == 1 and target[leading + axis] != 1
    )
    return target, {"axes": axes}


def _leading_only_shape(evidence: Evidence) -> tuple[tuple[int, ...], Fields] | None:
    target = broadcast_target(evidence, evidence.operand)
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
    actual, shape = evidence.actual_value.shape, evidence.x.shape
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
    r"ndims must be (>=|==) 2|out of bounds for array of dimension 1|at least two-dimensional|"
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
    # The wrong rule this recognizer reproduces, formatted with its fields: failures
    # of one check with the same cause are one bug (``gradcheck.diagnosis.explain``).
    # None for a description (a sign, a factor, a shape) that names no single rule.
    cause: str | None = None

    def applies(self, evidence: Evidence) -> bool:
        return evidence.failure.category in self.categories and (self.ops is None or evidence.op in self.ops)

    def recognize(self, evidence: Evidence) -> str | None:
        """Return the sentence for ``evidence`` if this bug class is seen in it, else None."""
        found = self.explain(evidence)
        return None if found is None else found[0]

    def explain(self, evidence: Evidence) -> tuple[str, str | None] | None:
        """Return ``(sentence, cause)`` if this bug class is seen in ``evidence``, else None."""
        if not self.applies(evidence):
            return None
        fields = self.match(evidence)
        if fields is None:
            return None
        values = {**evidence.fields, **fields}
        return self.template.format(**values), None if self.cause is None else self.cause.format(**values)


def _categories(*names: str) -> frozenset[str]:
    return frozenset(names)


_SWAP_ONLY_LAST_TWO = (
    "np.transpose/tf.transpose with no axes argument reverses {axes} to {reversed}, where only the "
    "last two should swap; use np.swapaxes({other}, -1, -2) / tf.linalg.matrix_transpose({other})."
)
_TRANSPOSE_CAUSE = "{op}: transpose over every axis"
SUM_BACK = "sum over them (keepdims=True for the size-1 ones) to get back {wrt}'s shape {shape}."

#: Every recognizer, most specific first: the first that fires names the bug.
RECOGNIZERS: tuple[Recognizer, ...] = (
    Recognizer(
        "matmul_1d_operand", _categories("exception"), MATMUL, _one_dimensional_operand,
        "{op} raised on the 1-D {vectors}: the engine assumes matrices, but the contract "
        "(docs/contract.md, section 1) asks for NumPy semantics: promote a 1-D left operand to a "
        "row (1, n) and a right one to a column (n, 1), multiply, then drop the added axis (in the "
        "backward pass too).",
        cause="{op}: 1-D operands",
    ),
    Recognizer(
        "transpose_all_axes_raises", _categories("exception"), MATMUL, _transpose_all_axes_raises,
        "The size mismatch inside grad() is what {op}'s backward for {wrt} hits when it reverses all "
        "axes of {other}: " + _SWAP_ONLY_LAST_TWO,
        cause=_TRANSPOSE_CAUSE,
    ),
    Recognizer(
        "transpose_all_axes", _categories("mismatch", "shape"), MATMUL,
        _reproduces(_transpose_all_axes),
        "{subject} matches the reference with all axes of {other} reversed: " + _SWAP_ONLY_LAST_TWO,
        cause=_TRANSPOSE_CAUSE,
    ),
    Recognizer(
        "permutation_not_inverse", _categories("mismatch", "shape"), _PERMUTATIONS,
        _reproduces(_permutation_again),
        "{subject} is the cotangent permuted by axes={axes} again instead of by its inverse: "
        "transpose the cotangent with np.argsort(axes) = {inverse}.",
        cause="{op}: permutation not inverted",
    ),
    Recognizer(
        "reinserted_reduced_axes", _categories("shape"), _REDUCTIONS,
        # The values need not sum back: the extra axes broadcast against x's own.
        _shape_matcher(_reinserted_shape, sums_back=False),
        "{subject} has shape {actual_shape} where {wrt} has {shape}: the reduced axes {axes} were "
        "inserted into the cotangent again although keepdims=True already kept them; expand the "
        "cotangent only when keepdims=False.",
        cause="{op}: reduced axes inserted again",
    ),
    Recognizer(
        "summed_leading_axes_only", _categories("shape"), BROADCASTING | MATMUL,
        _shape_matcher(_leading_only_shape),
        "{subject} has shape {actual_shape} where {wrt} has {shape}: it was not summed over the "
        "size-1 axes {axes} of {wrt} that broadcasting stretched to {stretched} (an unbroadcast that "
        "sums the leading axes only misses them); " + SUM_BACK,
        cause="{op}: unbroadcast sums leading axes only",
    ),
    Recognizer(
        "not_summed_over_broadcast_axes", _categories("shape"), BROADCASTING | MATMUL,
        _shape_matcher(_unsummed_shape),
        "{subject} has the broadcast shape {actual_shape} where {wrt} has {shape}: it was not summed "
        "over the broadcast axes {axes}; " + SUM_BACK,
        cause="{op}: no unbroadcast",
    ),
    Recognizer(
        # "shape" too: a wrong rule may give a gradient of the wrong shape (conv's uncropped padded
        # gradient, concat's split along another axis).
        "derivative_slip", _categories("mismatch", "shape"), _WITH_SLIPS,
        _reproduces(_slips),
        "{subject} matches {found} where {meant} was meant: {why}.",
        cause="{op}: {found} for {meant}",
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
