"""A drawn case: one op, its operands, static parameters and cotangent.

A case is a *computation* the rest of the harness can run three ways: with
NumPy in float64 (``reference``, for finite differences), with TensorFlow
(``tensorflow``, for the tape) and with the user's engine (``apply``).
``gradcheck.program.ProgramCase`` is the other computation: many ops chained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Protocol

import numpy as np

from gradcheck._literals import source
from gradcheck.ops import OPS

__all__ = ["Case", "CaseBatch", "Computation", "EngineCall", "largest_magnitude"]

#: ``call(stage, function, *args, **kwargs)``: how ``apply`` calls into the
#: engine, so that every call is guarded (time limit, output capture, mutation
#: check) by ``gradcheck.execution``.
EngineCall = Callable[..., Any]


class Computation(Protocol):
    """What every stage after drawing needs of a case: one op (``Case``), a program or a user's function.

    The oracles evaluate ``reference`` (and, for ops and programs,
    ``tensorflow``), ``gradcheck.execution`` runs ``apply`` on the engine, the
    verdict bounds errors with ``terms``; reports show ``names``, ``inputs``,
    ``params`` and ``describe()``. ``magnitude()`` is the largest ``|value|``
    the computation works with in float64 (its inputs, and a program's
    intermediate values): what a repeated call's rounding scales with.
    """

    @property
    def kind(self) -> str: ...  # "op", "program" or "function"

    @property
    def op(self) -> str: ...

    @property
    def names(self) -> tuple[str, ...]: ...

    @property
    def inputs(self) -> tuple[np.ndarray, ...]: ...

    @property
    def params(self) -> dict[str, Any]: ...

    @property
    def cotangent(self) -> np.ndarray: ...

    @property
    def dtype(self) -> str: ...

    @property
    def shapes(self) -> tuple[tuple[int, ...], ...]: ...

    def describe(self) -> str: ...

    def reference(self, *inputs: np.ndarray) -> np.ndarray: ...

    def apply(self, engine: Any, xs: list[Any], call: EngineCall) -> Any: ...

    def terms(self, output_shape: tuple[int, ...], wrt: int | None = None) -> int: ...

    def magnitude(self) -> float: ...

    def conditioning(self) -> float: ...


def op_conditioning(op: str, inputs: tuple[np.ndarray, ...], cotangent: np.ndarray, params: dict[str, Any]) -> float:
    """Return ``OpSpec.conditioning`` of ``op`` on these arrays, at least 1 (1 where the op has none)."""
    rule = OPS[op].conditioning
    if rule is None:
        return 1.0
    with np.errstate(all="ignore"):
        value = float(rule(inputs, cotangent, params))
    return value if np.isfinite(value) and value > 1.0 else 1.0


def largest_magnitude(arrays: Any) -> float:
    """Return the largest finite ``|value|`` in ``arrays`` (0 if there is none)."""
    largest = 0.0
    for array in arrays:
        magnitude = np.abs(np.asarray(array, dtype=np.float64))
        largest = max(largest, float(np.max(magnitude[np.isfinite(magnitude)], initial=0.0)))
    return largest


@dataclass(frozen=True)
class Case:
    """One op applied to concrete arrays, with the cotangent of its VJP.

    ``inputs`` and ``cotangent`` are float64 arrays whose values are exactly
    representable in ``dtype`` (the engine's dtype), so the engine and both
    oracles see the same numbers.
    """

    op: str
    names: tuple[str, ...]
    inputs: tuple[np.ndarray, ...]
    params: dict[str, Any] = field(default_factory=dict)
    cotangent: np.ndarray = field(default_factory=lambda: np.ones(()))
    dtype: str = "float64"

    kind = "op"

    @property
    def shapes(self) -> tuple[tuple[int, ...], ...]:
        return tuple(x.shape for x in self.inputs)

    def describe(self) -> str:
        """Return a one-line summary such as ``matmul(a: (2, 1, 2), b: (2, 2))``."""
        operands = ", ".join(f"{name}: {x.shape}" for name, x in zip(self.names, self.inputs))
        params = "".join(f", {key}={source(value)}" for key, value in self.params.items())
        return f"{self.op}({operands}{params})"

    def reference(self, *inputs: np.ndarray) -> np.ndarray:
        """Return the NumPy float64 forward value at ``inputs``."""
        return OPS[self.op].reference(*inputs, **self.params)

    def tensorflow(self, tf: Any, *tensors: Any) -> Any:
        """Return the TensorFlow forward value at ``tensors`` (under a tape)."""
        return OPS[self.op].tensorflow(tf, *tensors, **self.params)

    def apply(self, engine: Any, xs: list[Any], call: EngineCall) -> Any:
        """Return the engine's output node for the engine variables ``xs``."""
        args, kwargs = OPS[self.op].engine_args(xs, self.params)
        # Named as the engine names it: pow_tensor's function is the engine's pow.
        return call(f"{OPS[self.op].engine_function}()", engine.ops[self.op], *args, **kwargs)

    def terms(self, output_shape: tuple[int, ...], wrt: int | None = None) -> int:
        """Return how many numbers one output (``wrt=None``) or gradient entry sums, at most."""
        # Asked for every answer judged: a kept plan's case is judged again for each engine.
        key = (output_shape, wrt)
        known = self._terms.get(key)
        if known is None:
            known = self._terms[key] = self._count_terms(output_shape, wrt)
        return known

    @cached_property
    def _terms(self) -> dict[tuple[tuple[int, ...], int | None], int]:
        return {}

    def _count_terms(self, output_shape: tuple[int, ...], wrt: int | None) -> int:
        inner = OPS[self.op].inner_length(self.shapes, self.params)
        if wrt is None:
            return inner * max(_size_ratio(x.shape, output_shape) for x in self.inputs)
        return inner * _size_ratio(output_shape, self.inputs[wrt].shape)

    def magnitude(self) -> float:
        """Return the largest ``|value|`` of the inputs: one op computes with nothing else."""
        return largest_magnitude(self.inputs)

    def conditioning(self) -> float:
        """Return how many times its tolerance's absolute floor rounding may reach here (``OpSpec.conditioning``; 1 for most ops)."""
        return op_conditioning(self.op, self.inputs, self.cotangent, self.params)


class CaseBatch(tuple):
    """Cases of one op with the same shapes and parameters, differing only in their values.

    One Hypothesis example of ``check_op``: shapes and parameters cost a draw
    each, value sets are cheap, and the oracles answer for the whole batch in
    one call (``gradcheck.oracles.references_for``).
    """


def _size_ratio(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    # math.prod, not np.prod: the verdict asks this for every gradient of every case.
    size_a, size_b = max(1, math.prod(a)), max(1, math.prod(b))
    return max(size_a // size_b, 1)
