"""What kind of case a case is: the class of its operands' ranks and of its parameters.

A class is a set of features: the operands' rank features and the
parameters' features. Two failures of one op and one category are two bugs
when neither class contains the other (neither feature set is a subset of
the other): a matmul wrong on 1-D operands and wrong on batched stacks
(while plain matrices pass), a sum that raises on negative axes and raises
on ``keepdims``. A failure of a class that *contains* another's (a batched
stack is a stack of matrices, a negative axis is an axis) is taken for the
same bug, so a derivative wrong everywhere is told once, on its simplest
class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from gradcheck import ops

__all__ = ["CaseClass", "case_class"]

_Shapes = Sequence[Sequence[int]]


def _matmul_features(shapes: _Shapes) -> set[str]:
    # Matmul's 1-D operands follow a rule of their own in most engines
    # (promotion, then removal of the new axis), apart from batch axes; both
    # build on the plain matrix product, which has neither feature.
    found = {"1-D"} if any(len(shape) == 1 for shape in shapes) else set()
    batches = {tuple(shape[:-2]) for shape in shapes if len(shape) >= 2}
    if any(batches - {()}):
        found.add("batched")
    if len(batches) > 1:
        found.add("broadcast")
    return found


def _array_features(shapes: _Shapes) -> set[str]:
    # Each rank builds on the one below (an elementwise rule wrong on 0-D is
    # wrong on every rank): features accumulate.
    rank = max((len(shape) for shape in shapes), default=0)
    found = {name for least, name in ((1, "1-D"), (2, "matrix"), (3, "batched")) if rank >= least}
    if len({tuple(shape) for shape in shapes}) > 1:
        found.add("broadcast")
    return found


#: ``shapes`` column of the op table -> the rank features of its operand shapes.
_RANK_FEATURES: dict[str, Callable[[_Shapes], set[str]]] = {"matmul": _matmul_features}


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
    # Integer arrays (take's indices, an array in getitem's key): negative and repeated entries
    # are what gathers and their scatters get wrong.
    for array in (item for item in items if isinstance(item, np.ndarray) and item.dtype != np.bool_):
        found.add(f"array {name}")
        if np.any(array < 0):
            found.add(f"negative {name}")
        if np.unique(array).size < array.size:
            found.add(f"repeated {name}")
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
    """The class of a case of ``op``: the features that set it apart from the plainest case.

    Rank features come from the operand shapes (``1-D``, ``matrix``,
    ``batched``, ``broadcast``; matmul: ``1-D``, ``batched``, ``broadcast``
    over the plain matrix product), parameter features from the op table's
    parameters and their defaults (``axis``, ``negative axis``, ``several
    axis``, ``keepdims``). A class contains another when its features are a
    subset of the other's: every case of the other builds on it.
    """

    op: str
    features: frozenset[str] = frozenset()

    def contains(self, other: "CaseClass") -> bool:
        """Return whether every case of ``other`` builds on this class (a failure here explains one there)."""
        return self.op == other.op and self.features <= other.features

    def describe(self) -> str:
        """Return the class in words: ``batched, negative axis``, or ``plain``."""
        return ", ".join(sorted(self.features)) or "plain"


def case_class(case: Any) -> CaseClass:
    """Return the class of an op's case (a ``gradcheck.case.Case``): its rank and parameter features.

    .. code-block:: pycon

        >>> case_class(op_cases("sum", shapes=[(2, 3)], params={"axis": -1}).example()).describe()
        '1-D, axis, matrix, negative axis'
    """
    spec = ops.OPS[case.op]
    ranks = _RANK_FEATURES.get(spec.shapes, _array_features)(case.shapes)
    return CaseClass(case.op, frozenset(ranks) | _param_features(spec, case.params))
