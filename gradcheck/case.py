"""A drawn case: one op, its operands, static parameters and cotangent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Case"]


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

    @property
    def shapes(self) -> tuple[tuple[int, ...], ...]:
        return tuple(x.shape for x in self.inputs)

    def describe(self) -> str:
        """Return a one-line summary such as ``matmul(a: (2, 1, 2), b: (2, 2))``."""
        operands = ", ".join(f"{name}: {x.shape}" for name, x in zip(self.names, self.inputs))
        params = "".join(f", {key}={value!r}" for key, value in self.params.items())
        return f"{self.op}({operands}{params})"
