"""The op table's vocabulary: ``OpSpec`` (one row), ``Param``, ``Domain`` and ``Slip``.

``gradcheck.ops`` holds the table itself; the rows of op families with many
helpers of their own (convolution and pooling, indexing, lists of operands)
live in modules of their own that build their rows from these classes.
This module imports only NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from gradcheck._literals import source

__all__ = [
    "ABOVE_MINUS_ONE", "DISTINCT", "DIVISOR", "FREE", "LATTICE_A", "LATTICE_B", "NONZERO", "POSITIVE",
    "REQUIRED", "SPREAD_OUT", "TIE_GAP", "Domain", "Factors", "OpSpec", "Param", "Shapes", "Slip", "Stacked",
    "shifted_axis", "stack_axis_param",
]

class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: Default of a static parameter that has none: it is passed positionally.
REQUIRED: Any = _Required()


#: Smallest gap between two computed values that ``max`` or ``maximum`` may
#: compare: far wider than any finite-difference step or float32 rounding.
TIE_GAP = 0.01


@dataclass(frozen=True)
class Domain:
    """Where one operand's values may lie.

    ``intervals`` is a union of closed intervals, the preferred one first (values
    shrink toward the simplest number of the first interval). Kinks and poles sit
    in the gaps between intervals, a margin far wider than any finite-difference
    step. ``lattice=(step, offset)`` restricts values to ``offset + k * step`` so
    two operands on offset lattices can never tie; ``distinct=True`` makes every
    value of the array different (reductions like ``max`` then have no ties);
    ``min_gap`` is how far apart two computed values of a ``distinct`` operand
    must be (drawn ones are 0.5 apart).
    """

    intervals: tuple[tuple[float, float], ...] = ((-3.0, 3.0),)
    lattice: tuple[float, float] | None = None
    distinct: bool = False
    min_gap: float = TIE_GAP

    def admits(self, values: np.ndarray) -> bool:
        """Return whether computed (not drawn) ``values`` are safe operands.

        The outer ends of the intervals only bound what is *drawn*; for values
        a program computed, only the gaps count (kinks, poles, a positive
        lower end) and, for ``distinct``, ties. Lattices are a drawing device:
        ``maximum``'s operands are checked for ties by the program builder.
        """
        values = np.asarray(values)
        if self.distinct:
            # Distinct is not enough for computed values: two within a
            # finite-difference step of each other are a tie to the oracle.
            ordered_values = np.sort(values, axis=None)
            return bool(np.all(np.diff(ordered_values) >= self.min_gap))
        ordered = sorted(self.intervals)
        inside = np.zeros(values.shape, dtype=bool)
        for index, (low, high) in enumerate(ordered):
            if index == 0 and low < 0:
                low = -np.inf
            if index == len(ordered) - 1:
                high = np.inf
            inside |= (values >= low) & (values <= high)
        return bool(np.all(inside))


@dataclass(frozen=True)
class Param:
    """A static (non-tensor) parameter of an op, as the engine receives it.

    Required parameters are passed positionally; optional ones by keyword and
    only when they differ from their default, so an engine whose ``sum`` lacks
    ``keepdims`` still passes every case that does not use it.
    """

    name: str
    default: Any = REQUIRED
    # Passed positionally before the operands (``where``'s condition,
    # ``einsum``'s subscripts); such a parameter is always required.
    before: bool = False

    def at_default(self, value: Any) -> bool:
        """Return whether ``value`` is this parameter's default (left out of a call)."""
        return self.default is not REQUIRED and _same(value, self.default)


def _same(value: Any, default: Any) -> bool:
    """Return whether a parameter's value is its default; arrays (and keys holding them) never are."""
    if isinstance(value, np.ndarray) or isinstance(default, np.ndarray):
        return False
    try:
        return bool(value == default)
    except (TypeError, ValueError):  # a tuple holding an array: ambiguous truth
        return False


FREE = Domain()
# Away from 0: the kink of relu/abs, the pole of a negative power.
NONZERO = Domain(((0.25, 3.0), (-3.0, -0.25)))
DIVISOR = Domain(((0.5, 3.0), (-3.0, -0.5)))
POSITIVE = Domain(((0.25, 4.0),))
# log1p's pole is at -1.
ABOVE_MINUS_ONE = Domain(((-0.75, 3.0),))
DISTINCT = Domain(distinct=True)
# layer_norm: float32 rounding is amplified by 1 / std of each row, so computed
# operands must be as spread out as drawn ones (0.5 apart), not merely untied.
SPREAD_OUT = Domain(distinct=True, min_gap=0.5)
# ``maximum(a, b)``: a on the half-integers' lattice, b a quarter off it, so
# |a - b| >= 0.25 after any broadcast.
LATTICE_A = Domain(lattice=(0.5, 0.0))
LATTICE_B = Domain(lattice=(0.5, 0.25))


Shapes = tuple[tuple[int, ...], ...]
# What ``OpSpec.batch`` gives: a view shape per operand, and the call's parameters.
Stacked = tuple[Shapes, dict[str, Any]]
# What ``OpSpec.factors`` gives: ``(value, phrase)`` pairs.
Factors = list[tuple[float, str]]


@dataclass(frozen=True)
class Slip:
    """A wrong backward rule hand-written engines are known to have for an op.

    ``gradcheck.diagnosis`` recomputes the gradient the wrong rule gives and,
    when it is the engine's, says "matches {found} where {meant} was meant:
    {why}".
    """

    found: str  # the wrong rule, as code
    meant: str  # the right one
    why: str  # the bug class, ending the sentence
    # ``vjp(g, x, y, params)``: the wrong rule's gradient at input x, output y
    # and cotangent g (NumPy, float64). With ``many=True`` (ops of several
    # operands, whose wrong rule needs them all): ``vjp(g, inputs, y, params)``
    # gives one gradient per operand, None for an operand the slip leaves right.
    vjp: Callable[..., Any]
    many: bool = False
    # ``details(inputs, params)``: the words ``why`` names as ``{field}``s on
    # a given case (which indices repeat), for a sentence about that case.
    details: Callable[..., dict[str, str]] | None = None

    def reason(self, inputs: tuple[np.ndarray, ...], params: dict[str, Any]) -> str:
        """Return ``why`` for the case of ``inputs`` and ``params``, its fields filled in."""
        return self.why.format(**self.details(inputs, params)) if self.details else self.why

    def candidate(self, g: np.ndarray, inputs: tuple[np.ndarray, ...], operand: int, y: np.ndarray,
                  params: dict[str, Any]) -> np.ndarray | None:
        """Return the wrong rule's gradient of ``operand`` (None if the slip is not about that operand)."""
        if not self.many:
            return np.asarray(self.vjp(g, inputs[operand], y, params))
        grads = self.vjp(g, inputs, y, params)
        return None if operand >= len(grads) or grads[operand] is None else np.asarray(grads[operand])


@dataclass(frozen=True)
class OpSpec:
    """One op: how to call it, compute it, and draw cases for it."""

    name: str
    operands: tuple[str, ...]
    reference: Callable[..., np.ndarray]
    # ``tensorflow(tf, *tensors, **params)``: ``tf`` is passed in so that this
    # module never imports TensorFlow.
    tensorflow: Callable[..., Any]
    # Name of a shape rule in ``gradcheck.strategies`` (``SHAPE_RULES``).
    shapes: str
    params: tuple[Param, ...] = ()
    # Name of a parameter rule in ``gradcheck.strategies`` (``PARAM_RULES``).
    param_rule: str | None = None
    # One Domain per operand, or a function of the drawn parameters.
    domains: tuple[Domain, ...] | Callable[[dict[str, Any]], tuple[Domain, ...]] = ()
    # Length of the inner sum an output entry is made of (matmul's n, the
    # softmax axis), beyond what the operand/output size ratio already says;
    # ``contraction(shapes, params)`` scales tolerances.
    contraction: Callable[[tuple[tuple[int, ...], ...], dict[str, Any]], int] | None = None
    # How much the op amplifies its inputs' rounding beyond what the sizes of
    # its entries show (layer_norm's centering of a row far from 0):
    # ``conditioning(inputs, cotangent, params)`` >= 1 multiplies the tolerance.
    conditioning: Callable[[tuple[np.ndarray, ...], np.ndarray, dict[str, Any]], float] | None = None
    # How ``k`` cases of the same shapes and parameters run as one call, each
    # operand stacked on a new leading axis: ``stacked(shapes, params, k)``
    # gives the shape each stacked operand is viewed as after that axis, and
    # the parameters of the one call (see ``batch``). None: the op already
    # maps over leading axes (elementwise).
    stacked: Callable[[Shapes, dict[str, Any], int], Stacked] | None = None
    # The right VJP of each operand as a person would write it (``g`` is the
    # cotangent): diagnosis quotes it as the fix.
    vjp_rules: tuple[str, ...] = ()
    # Wrong backward rules of this op, tried in this order by diagnosis.
    slips: tuple[Slip, ...] = ()
    # Constant factors a wrong rule of this op is off by that have a meaning:
    # ``factors(shapes, output_shape, params)`` gives ``(value, phrase)``
    # pairs, first match wins; ``{fraction}`` in a phrase stands for the value
    # as a simple rational, as diagnosis writes it.
    factors: Callable[[Shapes, tuple[int, ...], dict[str, Any]], Factors] | None = None
    # The number of operands is drawn (1 to 4: ``concat``, ``stack``,
    # ``einsum``): ``operands`` holds one name, and a case's operands are
    # named ``xs[0]``, ``xs[1]``...; ``domains`` and ``vjp_rules`` hold one
    # entry that is every operand's.
    variadic: bool = False
    # The engine takes the operands as one list (``concat(xs, axis)``), not one argument each.
    listed: bool = False
    # The engine's function for this row when it is another form of an op of
    # the contract (``pow_tensor`` is ``pow(x, y)`` with a tensor exponent):
    # empty for the row's own name. ``--ops pow`` selects every form of pow.
    function: str = ""
    # How reports name the check where the row's name alone would confuse.
    title: str = ""

    @property
    def engine_function(self) -> str:
        """Return the name of the engine's function this row calls (``pow`` for ``pow_tensor``)."""
        return self.function or self.name

    @property
    def label(self) -> str:
        """Return how reports name this row's check: its title, else its name."""
        return self.title or self.name

    def names_for(self, count: int) -> tuple[str, ...]:
        """Return the operand names of a case with ``count`` operands."""
        if not self.variadic:
            return self.operands
        return tuple(f"{self.operands[0]}[{index}]" for index in range(count))

    def rule(self, operand: int) -> str:
        """Return the right VJP of ``operand`` in words (``vjp_rules``; a variadic op's one rule)."""
        return self.vjp_rules[min(operand, len(self.vjp_rules) - 1)]

    def engine_args(self, operands: list[Any], params: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Return the arguments the engine's op gets: ``before`` parameters, the operands, the others.

        ``operands`` are engine tensors (or, in a reproducer, their names): one
        argument each, or one list for a ``listed`` op.
        """
        before = [params[param.name] for param in self.params if param.before]
        args, kwargs = self.call_args(params)
        given = [list(operands)] if self.listed else list(operands)
        return (*before, *given, *args), kwargs

    def parse_args(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """Return ``(operands, params)`` of a call made as ``engine_args`` makes it (every default filled in).

        The inverse of ``engine_args``: how an engine built by gradcheck (a class
        engine) reads the contract's arguments back.
        """
        rest = list(args)
        params = {param.name: param.default for param in self.params if param.default is not REQUIRED}
        for param in self.params:
            if param.before:
                params[param.name] = rest.pop(0)
        required = [param.name for param in self.params if param.default is REQUIRED and not param.before]
        if self.listed:
            operands = list(rest.pop(0))
        elif self.variadic:
            operands, rest = rest[:len(rest) - len(required)], rest[len(rest) - len(required):]
        else:
            operands, rest = rest[:len(self.operands)], rest[len(self.operands):]
        params.update(zip(required, rest))
        params.update(kwargs)
        return operands, params

    def call_text(self, operands: list[str], params: dict[str, Any], function: str | None = None) -> str:
        """Return the engine call as Python source: ``function(a, b, axis=1)`` with ``operands`` as written."""
        before = [source(params[param.name]) for param in self.params if param.before]
        args, kwargs = self.call_args(params)
        given = [f"[{', '.join(operands)}]"] if self.listed else list(operands)
        parts = [*before, *given, *map(source, args), *(f"{key}={source(value)}" for key, value in kwargs.items())]
        return f"{function or self.engine_function}({', '.join(parts)})"

    def batch(self, shapes: Shapes, params: dict[str, Any], k: int) -> Stacked:
        """Return how to run ``k`` cases of ``shapes`` and ``params`` as one call.

        The result is one view shape per operand and the call's parameters:
        reshaping each operand's stack, of shape ``(k, *shape)``, to
        ``(k, *view)`` and calling the op on these with the new parameters
        gives the ``k`` outputs, in some shape of ``k * size`` entries that
        reshapes to ``(k, *output_shape)``. The same holds of the VJP: the
        gradients w.r.t. the views reshape to the stacked gradients. It is
        how the oracles answer for many value sets in one call, the way
        ``vmap`` batches an op.
        """
        if self.stacked is None:
            return shapes, params
        return self.stacked(shapes, params, k)

    def inner_length(self, shapes: tuple[tuple[int, ...], ...], params: dict[str, Any] | None = None) -> int:
        """Return the length of the inner sum behind one output entry (1 if none)."""
        return max(1, self.contraction(shapes, params or {})) if self.contraction else 1

    def domains_for(self, params: dict[str, Any], count: int | None = None) -> tuple[Domain, ...]:
        """Return one Domain per operand (``count`` operands of a variadic op)."""
        domains = self.domains(params) if callable(self.domains) else self.domains or (FREE,) * len(self.operands)
        if self.variadic and count is not None:
            return (domains[0],) * count
        return domains

    def call_args(self, params: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Split ``params`` into the positional and keyword arguments the engine gets after the operands."""
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for param in self.params:
            value = params[param.name]
            if param.before:
                continue
            if param.default is REQUIRED:
                args.append(value)
            elif not param.at_default(value):
                kwargs[param.name] = value
        return tuple(args), kwargs


# --- Batching helpers the rows share (``OpSpec.stacked``) ---


def shifted_axis(axis: int, rank: int) -> int:
    """Return ``axis`` of a rank-``rank`` operand once a stacking axis is put in front."""
    return axis % rank + 1


def stack_axis_param(shapes: Shapes, params: dict[str, Any], k: int) -> Stacked:
    """Batching rule of ops whose ``axis`` is None (every axis), an int or a tuple: the axes move one right."""
    rank, axis = len(shapes[0]), params["axis"]
    if axis is None:
        moved: Any = tuple(range(1, rank + 1))
    elif isinstance(axis, tuple):
        moved = tuple(shifted_axis(a, rank) for a in axis)
    else:
        moved = shifted_axis(axis, rank)
    return shapes, {**params, "axis": moved}

