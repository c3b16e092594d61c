"""Hypothesis strategies for gradient checks.

Built on ``hypothesis.extra.numpy``: broadcastable shapes, NumPy's matmul
signature for batched operand stacks, arrays inside an op's domain drawn from a
small recipe that shrinks toward constant, then integer, values, static
parameters and cotangents. Each public
strategy validates its arguments and raises Hypothesis's ``InvalidArgument``
naming the bad one.

.. code-block:: pycon

    >>> from hypothesis import given
    >>> from gradcheck.strategies import op_cases
    >>> @given(op_cases("matmul", dtype="float32"))
    ... def test_my_matmul(case): ...
"""

from gradcheck.strategies._cases import PARAM_RULES, case_size, op_cases, simplest_case, smaller_cases
from gradcheck.strategies._classes import CaseClass, case_class
from gradcheck.strategies._params import (
    EXPONENTS,
    broadcast_targets,
    exponents,
    permutations,
    reduction_axes,
    reshape_targets,
    single_axes,
)
from gradcheck.strategies._programs import PROGRAM_OPS, programs
from gradcheck.strategies._shapes import (
    MATMUL_SIGNATURE,
    SHAPE_RULES,
    broadcastable_shapes,
    matmul_shapes,
    operand_shapes,
)
from gradcheck.strategies._values import COTANGENT_RANGE, cotangents, values

__all__ = [
    "COTANGENT_RANGE",
    "CaseClass",
    "EXPONENTS",
    "MATMUL_SIGNATURE",
    "PARAM_RULES",
    "PROGRAM_OPS",
    "SHAPE_RULES",
    "broadcast_targets",
    "broadcastable_shapes",
    "case_class",
    "case_size",
    "cotangents",
    "exponents",
    "matmul_shapes",
    "op_cases",
    "operand_shapes",
    "permutations",
    "programs",
    "reduction_axes",
    "reshape_targets",
    "simplest_case",
    "single_axes",
    "smaller_cases",
    "values",
]
