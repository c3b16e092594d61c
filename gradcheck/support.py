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

from gradcheck.ops import OPS, canonical_op

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


def _subscripts(value: Any) -> Any:
    # Explicit subscripts only: the output's letters are part of the op's meaning.
    return value if isinstance(value, str) and value.count("->") == 1 else _INVALID


def _never(value: Any) -> Any:
    return _INVALID


def _shape_like(value: Any) -> Any:
    axes = _integers(value)
    return _INVALID if axes is None else axes


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
    ("concat_axis", "axis"): (_single_axis, "an int"),
    ("stack_axis", "axis"): (_single_axis, "an int"),
    ("einsum_subscripts", "subscripts"): (_subscripts, "explicit subscripts with '->', such as 'ij,jk->ik'"),
    # Labels are drawn for each case's logits: a list of them could fit no case.
    ("class_labels", "labels"): (_never, "no declaration (labels are drawn to fit each case's logits)"),
}


def _fits_some_shape(op: str, name: str, value: Any) -> bool:
    """Return whether ``op`` called with ``name=value`` accepts an operand of some shape gradcheck draws.

    Its other parameters keep their defaults (an op with a required parameter has no other).
    """
    spec = OPS[op]
    sides = range(1, PROBE_MAX_SIDE + 1)
    for rank in range(1, PROBE_MAX_DIMS + 1):
        for shape in itertools.product(sides, repeat=rank):
            try:
                with np.errstate(all="ignore"):
                    spec.reference(np.ones(shape), **{name: value})
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
