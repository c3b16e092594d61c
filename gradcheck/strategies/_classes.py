"""What kind of case a case is: the class of its operands' ranks and of its parameters.

Two failures of one op and one category are two bugs when they sit in
different classes and neither class contains the other: a matmul wrong on
1-D operands and wrong on batched stacks (while plain matrices pass), a sum
that raises on negative axes and raises on ``keepdims``. A failure of a
class that *contains* another's (a batched stack is a stack of matrices, a
negative axis is an axis) is taken for the same bug, so a derivative wrong
everywhere is told once, on its simplest class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from gradcheck import ops

__all__ = ["CaseClass", "case_class"]

_Shapes = Sequence[Sequence[int]]

#: The rank classes of a shape rule, each with the classes it contains (its
#: bases): a failure on a base explains a failure of the same category on
#: the class. Matmul's 1-D operands follow a rule of their own in most
#: engines (promotion, then removal of the new axis), so its 1-D and batched
#: classes are apart, both over the plain matrix product.
_MATMUL_BASES: dict[str, tuple[str, ...]] = {
    "matrix": (),
    "1-D": ("matrix",),
    "batched": ("matrix",),
    "broadcast": ("batched",),
}
_ARRAY_BASES: dict[str, tuple[str, ...]] = {
    "scalar": (),
    "1-D": ("scalar",),
    "matrix": ("1-D",),
    "batched": ("matrix",),
    "broadcast": ("batched",),
}


def _matmul_class(shapes: _Shapes) -> str:
    if any(len(shape) == 1 for shape in shapes):
        return "1-D"
    batches = {tuple(shape[:-2]) for shape in shapes}
    if batches == {()}:
        return "matrix"
    return "batched" if len(batches) == 1 else "broadcast"


def _array_class(shapes: _Shapes) -> str:
    if len({tuple(shape) for shape in shapes}) > 1:
        return "broadcast"
    rank = len(shapes[0]) if shapes else 0
    return ("scalar", "1-D", "matrix")[rank] if rank < 3 else "batched"


#: ``shapes`` column of the op table -> (rank class of the operand shapes, bases of each class).
_RANK_RULES: dict[str, tuple[Callable[[_Shapes], str], dict[str, tuple[str, ...]]]] = {
    "matmul": (_matmul_class, _MATMUL_BASES),
}
_DEFAULT_RANK_RULE = (_array_class, _ARRAY_BASES)


def _contains(bases: dict[str, tuple[str, ...]], outer: str, inner: str) -> bool:
    """Return whether rank class ``outer`` contains ``inner`` (is it, or builds on it)."""
    return outer == inner or any(_contains(bases, base, inner) for base in bases.get(outer, ()))


def _features(value: Any, name: str) -> set[str]:
    """Return what sets a parameter value apart: given, negative, several entries, not whole."""
    found = {name}
    items = value if isinstance(value, (tuple, list)) else (value,)
    numbers = [item for item in items if isinstance(item, (int, float)) and not isinstance(item, bool)]
    if any(item < 0 for item in numbers):
        found.add(f"negative {name}")
    if isinstance(value, (tuple, list)) and len(value) > 1:
        found.add(f"several {name}")
    if any(isinstance(item, float) and not item.is_integer() for item in numbers):
        found.add(f"fractional {name}")
    return found


def _param_features(spec: ops.OpSpec, params: dict[str, Any]) -> frozenset[str]:
    found: set[str] = set()
    for param in spec.params:
        value = params.get(param.name, param.default)
        if param.default is not ops.REQUIRED and value == param.default:
            continue  # a default is the plain case
        if isinstance(value, bool):
            found.add(param.name)  # True, the default being False
        elif value is None:
            found.add(f"{param.name}=None")
        else:
            found |= _features(value, param.name)
    return frozenset(found)


@dataclass(frozen=True)
class CaseClass:
    """The class of a case of ``op``: its operands' rank class and its parameters' features.

    ``ranks`` is one of ``scalar``, ``1-D``, ``matrix``, ``batched``,
    ``broadcast`` (matmul: ``1-D``, ``matrix``, ``batched``, ``broadcast``);
    ``params`` holds features such as ``axis``, ``negative axis``,
    ``several axis`` and ``keepdims``, each derived from the op table's
    parameters and their defaults.
    """

    op: str
    ranks: str
    params: frozenset[str] = frozenset()

    def contains(self, other: "CaseClass") -> bool:
        """Return whether every case of ``other`` builds on this class (a failure here explains one there)."""
        if self.op != other.op:
            return False
        bases = _RANK_RULES.get(ops.OPS[self.op].shapes, _DEFAULT_RANK_RULE)[1]
        return _contains(bases, other.ranks, self.ranks) and self.params <= other.params

    def describe(self) -> str:
        """Return the class in words: ``batched operands, negative axis``."""
        return ", ".join([f"{self.ranks} operands", *sorted(self.params)])


def case_class(case: Any) -> CaseClass:
    """Return the class of an op's case (a ``gradcheck.case.Case``): rank class and parameter features.

    .. code-block:: pycon

        >>> case_class(op_cases("sum", shapes=[(2, 3)], params={"axis": -1}).example()).describe()
        'matrix operands, axis, negative axis'
    """
    spec = ops.OPS[case.op]
    classify = _RANK_RULES.get(spec.shapes, _DEFAULT_RANK_RULE)[0]
    return CaseClass(case.op, classify(case.shapes), _param_features(spec, case.params))
