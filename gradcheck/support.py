"""Declared partial support: the parameter values an engine says an op handles.

An engine may define ``supported_params`` (docs/contract.md, section 1): for
some ops, the values each static parameter may take, e.g.
``{"sum": {"keepdims": [False]}, "softmax": {"axis": [-1]}}``. gradcheck then
draws only those values for that op (in its own check and in programs) and the
reports say what was checked and what was not. A parameter the engine does
not declare is drawn as usual, so a limit it does not declare still fails.

``parse_supported_params`` validates a declaration and returns it in one
canonical form (op names canonical, values as tuples); the same function checks
what an engine worker reports (``gradcheck.isolation``), so a declaration
means the same in process and in a worker. Only NumPy and the op table are
imported: loading an engine must stay fast.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Callable, Mapping

import numpy as np

from gradcheck.ops import OPS, REQUIRED, canonical_op

__all__ = [
    "ATTRIBUTE",
    "PROBE_MAX_DIMS",
    "PROBE_MAX_SIDE",
    "SupportedParams",
    "parse_supported_params",
    "support_note",
    "supported_params_data",
]

#: The optional engine attribute that declares partial support.
ATTRIBUTE = "supported_params"

#: Canonical op name -> parameter name -> the values gradcheck may pass.
SupportedParams = dict[str, dict[str, tuple[Any, ...]]]

#: A declared value must fit some operand of at most this rank and side
#: (the largest ``gradcheck check`` draws), or there would be nothing to draw.
PROBE_MAX_DIMS = 3
PROBE_MAX_SIDE = 4

#: What a normal-form function gives for a value that is not of its kind.
_INVALID: Any = object()


def _integer(value: Any) -> int | None:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        return None
    return int(value)


def _integers(value: Any) -> tuple[int, ...] | None:
    if not isinstance(value, (list, tuple)):
        return None
    items = [_integer(item) for item in value]
    return tuple(item for item in items if item is not None) if None not in items else None


def _axis(value: Any) -> Any:
    if value is None:
        return None
    single = _integer(value)
    if single is not None:
        return single
    axes = _integers(value)
    return axes if axes else _INVALID


def _flag(value: Any) -> Any:
    return bool(value) if isinstance(value, (bool, np.bool_)) else _INVALID


def _single_axis(value: Any) -> Any:
    single = _integer(value)
    return _INVALID if single is None else single


def _scan_axis(value: Any) -> Any:
    if value is None:
        return None
    single = _integer(value)
    return _INVALID if single is None else single


def _correction(value: Any) -> Any:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return _INVALID
    # The corrections gradcheck draws: 0 (population) and 1 (Bessel's).
    return float(value) if float(value) in (0.0, 1.0) else _INVALID


def _eps(value: Any) -> Any:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return _INVALID
    return float(value) if float(value) > 0 and math.isfinite(float(value)) else _INVALID


def _geometry(low: int) -> Callable[[Any], Any]:
    """Return the normal form of a convolution's or pooling's int-or-pair parameter, each int >= ``low``."""

    def normal(value: Any) -> Any:
        single = _integer(value)
        if single is not None:
            return single if single >= low else _INVALID
        pair = _integers(value)
        return pair if pair is not None and len(pair) == 2 and min(pair) >= low else _INVALID

    return normal


def _conv1d_geometry(low: int) -> Callable[[Any], Any]:
    def normal(value: Any) -> Any:
        single = _integer(value)
        return single if single is not None and single >= low else _INVALID

    return normal


def _pool_stride(value: Any) -> Any:
    return None if value is None else _geometry(1)(value)


def _subscripts(value: Any) -> Any:
    # Explicit subscripts only: the output's letters are part of the op's meaning.
    return value if isinstance(value, str) and value.count("->") == 1 else _INVALID


def _never(value: Any) -> Any:
    return _INVALID


def _shape_like(value: Any) -> Any:
    axes = _integers(value)
    return _INVALID if axes is None else axes


def _pad_width(value: Any) -> Any:
    single = _integer(value)
    if single is not None:
        return single if single >= 0 else _INVALID
    if not isinstance(value, (list, tuple)) or not value:
        return _INVALID
    pair = _integers(value)
    if pair is not None:
        return pair if len(pair) == 2 and min(pair) >= 0 else _INVALID
    pairs = tuple(_integers(item) for item in value)
    if any(item is None or len(item) != 2 or min(item) < 0 for item in pairs):
        return _INVALID
    return pairs


def _exponent(value: Any) -> Any:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return _INVALID
    p = float(value)
    # The exponents gradcheck draws: away from 0 (x ** 0 has a 0 * inf gradient at 0).
    return p if math.isfinite(p) and 0.25 <= abs(p) <= 3.0 else _INVALID


#: For each parameter rule of the op table and parameter: the normal form of a
#: declared value (``_INVALID`` when it is not one), and the values it may be, in words.
_KINDS: dict[tuple[str, str], tuple[Callable[[Any], Any], str]] = {
    ("reduction", "axis"): (_axis, "None (all axes), an int or a non-empty tuple of ints"),
    ("reduction", "keepdims"): (_flag, "True or False"),
    ("single_axis", "axis"): (_single_axis, "an int"),
    ("permutation", "axes"): (_shape_like, "a tuple of ints"),
    ("reshape_target", "shape"): (_shape_like, "a tuple of ints"),
    ("broadcast_target", "shape"): (_shape_like, "a tuple of ints"),
    ("exponent", "p"): (_exponent, "a number with 0.25 <= abs(p) <= 3"),
    ("scan_axis", "axis"): (_scan_axis, "None (the flattened array) or an int"),
    ("variance", "axis"): (_axis, "None (all axes), an int or a non-empty tuple of ints"),
    ("variance", "keepdims"): (_flag, "True or False"),
    ("variance", "correction"): (_correction, "0 or 1"),
    ("normalization", "axis"): (_single_axis, "an int"),
    ("normalization", "eps"): (_eps, "a positive number"),
    ("take_indices", "axis"): (_scan_axis, "None (the flattened array) or an int"),
    ("flip_axes", "axis"): (_axis, "None (all axes), an int or a non-empty tuple of ints"),
    ("pad_width", "pad_width"): (_pad_width, "an int, a (before, after) pair or one such pair per axis"),
    ("conv1d", "stride"): (_conv1d_geometry(1), "an int >= 1"),
    ("conv1d", "padding"): (_conv1d_geometry(0), "an int >= 0"),
    ("conv1d", "dilation"): (_conv1d_geometry(1), "an int >= 1"),
    ("conv2d", "stride"): (_geometry(1), "an int >= 1 or a (height, width) pair of them"),
    ("conv2d", "padding"): (_geometry(0), "an int >= 0 or a (height, width) pair of them"),
    ("conv2d", "dilation"): (_geometry(1), "an int >= 1 or a (height, width) pair of them"),
    ("pool2d", "kernel_size"): (_geometry(1), "an int >= 1 or a (height, width) pair of them"),
    ("pool2d", "stride"): (_pool_stride, "None (the kernel size), an int >= 1 or a (height, width) pair of them"),
    ("concat_axis", "axis"): (_single_axis, "an int"),
    ("stack_axis", "axis"): (_single_axis, "an int"),
    ("einsum_subscripts", "subscripts"): (_subscripts, "explicit subscripts with '->', such as 'ij,jk->ik'"),
    # Labels are drawn for each case's logits: a list of them could fit no case.
    ("class_labels", "labels"): (_never, "no declaration (labels are drawn to fit each case's logits)"),
}

#: Parameters drawn afresh for each case (integer and boolean arrays, keys): an
#: engine cannot restrict them, for why; and the value a declared parameter of the
#: same op is probed with (``_fits_some_shape``).
_DRAWN: dict[tuple[str, str], tuple[Any, str]] = {
    ("take_indices", "indices"): (np.array([0]), "the indices are drawn to fit each case's shape"),
    ("index_key", "key"): (0, "the keys are drawn to fit each case's shape"),
    ("condition", "condition"): (np.array(True), "the condition is drawn to fit each case's shapes"),
}

#: Operands to try a declared value on, for ops whose operands are not one
#: array of any rank: (N, C, *sizes) inputs and (O, C, *kernel) weights, from
#: small to large, so that a declared stride, padding, dilation or window fits one.
_PROBES: dict[str, tuple[tuple[tuple[int, ...], ...], ...]] = {
    "conv1d": tuple(((1, 1, side), (1, 1, kernel)) for side in range(1, 10) for kernel in range(1, 4)),
    "conv2d": tuple(((1, 1, side, side), (1, 1, kernel, kernel))
                    for side in range(1, 10) for kernel in range(1, 4)),
    "pool2d": tuple(((1, 1, side, side),) for side in range(1, 10)),
}


def _fits_some_shape(op: str, name: str, value: Any) -> bool:
    """Return whether ``op`` called with ``name=value`` accepts an operand of some shape gradcheck draws.

    Its other parameters keep their defaults; a drawn one (``_DRAWN``) takes its probe
    value, another required one (pooling's ``kernel_size`` when ``stride`` is
    declared) is 1. Convolution and pooling are tried on their own operands (``_PROBES``).
    """
    spec = OPS[op]
    rule = spec.param_rule or ""
    fixed = {param.name: _DRAWN[(rule, param.name)][0] for param in spec.params
             if param.name != name and (rule, param.name) in _DRAWN}
    # A required parameter other than ``name`` (pooling's kernel_size) takes its smallest value.
    fixed.update({param.name: 1 for param in spec.params
                  if param.default is REQUIRED and param.name != name and param.name not in fixed})
    sides = range(1, PROBE_MAX_SIDE + 1)
    probes = _PROBES.get(spec.shapes) or tuple(
        (shape,) for rank in range(1, PROBE_MAX_DIMS + 1) for shape in itertools.product(sides, repeat=rank)
    )
    for shapes in probes:
        try:
            with np.errstate(all="ignore"):
                spec.reference(*(np.ones(shape) for shape in shapes), **fixed, **{name: value})
        except Exception:  # noqa: BLE001 - NumPy saying the value does not fit this shape
            continue
        return True
    return False


def parse_supported_params(declared: object, defined_ops: Mapping[str, Any] | None = None) -> SupportedParams:
    """Return ``declared`` (an engine's ``supported_params``) in canonical form, or raise ValueError.

    ``defined_ops`` (canonical names) are the ops the engine defines: a
    declaration for another op is a mistake. The ValueError's text is the
    middle of a one-paragraph message: what is wrong, with the value.

    >>> parse_supported_params({"sum": {"keepdims": [False]}, "softmax": {"axis": [-1]}})
    {'sum': {'keepdims': (False,)}, 'softmax': {'axis': (-1,)}}
    """
    example = '{"sum": {"keepdims": [False]}, "softmax": {"axis": [-1]}}'
    if not isinstance(declared, Mapping):
        raise ValueError(
            f"it is {_short(declared)}, where a dict from op names to parameters to lists of values "
            f"was meant, e.g. {example}"
        )
    parsed: SupportedParams = {}
    for op_name, params in declared.items():
        op = canonical_op(op_name) if isinstance(op_name, str) else None
        if op is None:
            raise ValueError(f"it names {_short(op_name)}, which is not an op gradcheck checks")
        if defined_ops is not None and op not in defined_ops:
            raise ValueError(f"it declares {op_name!r}, which the engine does not define")
        spec = OPS[op]
        names = [param.name for param in spec.params]
        if not names:
            raise ValueError(f"it declares {op_name!r}, which has no parameters to restrict")
        if not isinstance(params, Mapping) or not params:
            raise ValueError(
                f"its entry for {op_name!r} is {_short(params)}, where a non-empty dict from "
                f"{op_name}'s parameters ({', '.join(names)}) to lists of values was meant"
            )
        parsed[op] = {}
        for name, values in params.items():
            if name not in names:
                raise ValueError(
                    f"it declares {_short(name)} for {op_name!r}, which has no such parameter "
                    f"(its parameters: {', '.join(names)})"
                )
            if not isinstance(values, list):
                raise ValueError(
                    f"it gives {op_name}'s {name} as {_short(values)}, where a list of the values "
                    f"the engine supports was meant, e.g. [{_short(values)}]"
                )
            if not values:
                raise ValueError(f"it gives {op_name}'s {name} an empty list, which leaves nothing to check")
            assert spec.param_rule is not None  # an op with parameters has a rule to draw them
            if (spec.param_rule, name) in _DRAWN:
                raise ValueError(
                    f"it declares {op_name}'s {name}, which cannot be restricted: "
                    f"{_DRAWN[(spec.param_rule, name)][1]}"
                )
            normal_form, allowed = _KINDS[(spec.param_rule, name)]
            kept: list[Any] = []
            for value in values:
                normal = normal_form(value)
                if normal is _INVALID:
                    raise ValueError(f"it gives {op_name}'s {name} the value {_short(value)}, where {allowed} was meant")
                if not _fits_some_shape(op, name, normal):
                    raise ValueError(
                        f"it gives {op_name}'s {name} the value {normal!r}, which fits no operand gradcheck "
                        f"draws (up to {PROBE_MAX_DIMS} axes of size up to {PROBE_MAX_SIDE}): nothing could be checked"
                    )
                if normal not in kept:
                    kept.append(normal)
            parsed[op][name] = tuple(kept)
    return parsed


def supported_params_data(supported: SupportedParams) -> dict[str, dict[str, list[Any]]]:
    """Return ``supported`` as JSON data (tuples as lists); ``parse_supported_params`` reads it back."""

    def plain(value: Any) -> Any:
        return [plain(item) for item in value] if isinstance(value, tuple) else value

    return {op: {name: [plain(value) for value in values] for name, values in params.items()}
            for op, params in supported.items()}


def support_note(op: str, declared: Mapping[str, tuple[Any, ...]]) -> tuple[str, str]:
    """Return what an op's check covered under a declaration, as ``(checked_on, not_checked)`` phrases.

    >>> support_note("sum", {"keepdims": (False,)})
    ('keepdims=False', 'keepdims=True')
    >>> support_note("softmax", {"axis": (-1,)})
    ('axis=-1', 'any other axis')
    """
    checked: list[str] = []
    missing: list[str] = []
    for param in OPS[op].params:
        if param.name not in declared:
            continue
        values = declared[param.name]
        checked.append(f"{param.name}=" + " or ".join(repr(value) for value in values))
        if all(isinstance(value, bool) for value in values):
            missing.extend(f"{param.name}={other!r}" for other in (False, True) if other not in values)
        else:
            missing.append(f"any other {param.name}")
    return ", ".join(checked), ", ".join(missing) or "nothing"


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
