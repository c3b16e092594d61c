"""A user's own function and the cases drawn for it: the computation ``check_function`` checks.

``UserFunction`` holds what the user handed ``gradcheck.check_function``: the
function ``fn(*arrays) -> array``, the gradient under test (their
``grad_fn(*arrays, cotangent)``, or TensorFlow's tape gradient of ``fn`` when
``fn`` carries a ``tf.custom_gradient``), an optional NumPy float64
``reference_fn`` for the forward value, and how to name and call them.

``FunctionCase`` is one drawn case of it. It is a computation like
``gradcheck.case.Case`` and ``gradcheck.program.ProgramCase`` (names, inputs,
cotangent, ``terms``, ``apply``), so the search (``gradcheck.search``), the
guarded calls (``gradcheck.execution``) and the verdict treat it alike; its
references come from ``gradcheck.oracles._function``, which differentiates
``fn`` itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from gradcheck.case import EngineCall, largest_magnitude
from gradcheck.execution import CallFailure
from gradcheck.tolerances import DEFAULT_TOLERANCES, Tolerance

__all__ = ["FUNCTION_KIND", "FunctionCase", "Taped", "UserFunction", "function_terms"]

#: The ``kind`` of a function's check in reports (next to ``op`` and ``program``).
FUNCTION_KIND = "function"



@dataclass(frozen=True, eq=False)
class UserFunction:
    """A user's function, the gradient under test, and what reports call them.

    ``grad_fn is None`` means the gradient under test is TensorFlow's tape
    gradient of ``fn`` (a ``tf.custom_gradient``'s backward). The ``*_target``
    strings (``file.py:NAME``, ``module:NAME``) say where each function can be
    imported from, for reproducers and replay commands; None when it cannot.
    """

    fn: Callable[..., Any]
    grad_fn: Callable[..., Any] | None
    name: str
    # The user's tolerance; None: gradcheck's for the dtype checked.
    tolerance: Tolerance | None = None
    reference_fn: Callable[..., Any] | None = None
    timeout: float | None = 10.0
    fn_target: str | None = None
    grad_target: str | None = None
    reference_target: str | None = None
    grad_name: str | None = None

    def tolerance_for(self, dtype: str) -> Tolerance:
        """Return the tolerance a check in ``dtype`` compares with."""
        return self.tolerance or DEFAULT_TOLERANCES[dtype]

    @property
    def uses_tape(self) -> bool:
        """Whether the gradient under test is TensorFlow's tape gradient of ``fn``."""
        return self.grad_fn is None

    @property
    def checks_forward(self) -> bool:
        return self.reference_fn is not None

    @property
    def gradient_label(self) -> str:
        """Return how messages name the gradient under test: ``softplus_vjp()`` or the tape's."""
        if self.uses_tape:
            return f"the tape gradient of {self.name}()"
        return f"{self.grad_name or 'grad_fn'}()"

    @property
    def has_custom_gradient(self) -> bool:
        """Whether ``fn`` is decorated with ``tf.custom_gradient`` (its tape gradient is the user's)."""
        return type(self.fn).__module__.endswith("custom_gradient")

    def forward(self, *arrays: Any) -> Any:
        """Return ``fn(*arrays)`` as ``fn`` returns it."""
        return self.fn(*arrays)

    def value64(self, *arrays: np.ndarray) -> np.ndarray:
        """Return ``fn(*arrays)`` as a float64 NumPy array (what finite differences evaluate)."""
        from gradcheck.arrays import as_array

        return np.asarray(as_array(self.fn(*arrays)), dtype=np.float64)

    def reference(self, *arrays: np.ndarray) -> np.ndarray:
        """Return the trusted forward value: ``reference_fn``'s, else ``fn``'s own (float64)."""
        from gradcheck.arrays import as_array

        function = self.reference_fn or self.fn
        return np.asarray(as_array(function(*arrays)), dtype=np.float64)


def function_terms(
    input_shapes: Sequence[tuple[int, ...]], output_shape: tuple[int, ...], wrt: int | None = None
) -> int:
    """Return how many numbers one entry of a user function's output or gradient may sum.

    Nothing is known about the function's inside, so every output entry may
    depend on every input entry and every gradient entry on every output
    entry: the bound counts them all (``gradcheck.tolerances`` takes its
    square root).
    """
    inputs = sum(math.prod(shape) for shape in input_shapes)
    return max(1, inputs + (0 if wrt is None else math.prod(output_shape)))


@dataclass(frozen=True, eq=False)
class FunctionCase:
    """One case of a user's function: inputs, the cotangent of its output, and what drawing saw.

    ``forward`` is ``fn``'s value at the float64 inputs, computed while the
    case was drawn (its shape gives the cotangent's), and ``output_is_tensor``
    whether ``fn`` returned a TensorFlow tensor; ``draw_failure`` is how that
    call failed, if it did: the case then has no reference, and the verdict
    reports the failure.
    """

    function: UserFunction
    names: tuple[str, ...]
    inputs: tuple[np.ndarray, ...]
    cotangent: np.ndarray
    dtype: str = "float64"
    forward: np.ndarray | None = None
    output_is_tensor: bool = False
    draw_failure: CallFailure | None = None
    params: dict[str, Any] = field(default_factory=dict)

    kind = FUNCTION_KIND

    @property
    def op(self) -> str:
        return self.function.name

    @property
    def shapes(self) -> tuple[tuple[int, ...], ...]:
        return tuple(x.shape for x in self.inputs)

    def describe(self) -> str:
        """Return a one-line summary such as ``softplus(x: (2, 3))``."""
        operands = ", ".join(f"{name}: {x.shape}" for name, x in zip(self.names, self.inputs))
        return f"{self.function.name}({operands})"

    def reference(self, *inputs: np.ndarray) -> np.ndarray:
        return self.function.reference(*inputs)

    def apply(self, engine: Any, xs: list[Any], call: EngineCall) -> Any:
        """Return the output node of ``fn`` for ``xs`` (``engine`` is the function's adapter)."""
        return call(f"{self.function.name}()", engine.forward, *xs)

    def terms(self, output_shape: tuple[int, ...], wrt: int | None = None) -> int:
        return function_terms(self.shapes, output_shape, wrt)

    def magnitude(self) -> float:
        """Return the largest ``|value|`` of the inputs and of ``fn``'s value (its inside is not seen)."""
        return largest_magnitude([*self.inputs, *([] if self.forward is None else [self.forward])])

    def conditioning(self) -> float:
        """Return 1: a user's function has no op row saying how it amplifies rounding."""
        return 1.0


class Taped:
    """``fn`` called on TensorFlow constants under a ``GradientTape``: its output, then one VJP."""

    def __init__(self, fn: Callable[..., Any], arrays: Sequence[np.ndarray]) -> None:
        from gradcheck._tf import tensorflow

        tf = tensorflow()
        self.operands = [tf.constant(array) for array in arrays]
        with tf.GradientTape() as tape:
            for operand in self.operands:
                tape.watch(operand)
            self.output = fn(*self.operands)
        self.tape = tape

    def dense_vjp(self, cotangent: np.ndarray) -> list[Any]:
        """Return :meth:`vjp` with IndexedSlices (from a gather) made dense tensors."""
        from gradcheck._tf import tensorflow

        return [tensorflow().convert_to_tensor(g) for g in self.vjp(cotangent)]

    def vjp(self, cotangent: np.ndarray, *, unconnected_zero: bool = True) -> list[Any]:
        """Return the gradient of ``sum(output * cotangent)`` w.r.t. each array.

        With ``unconnected_zero=False`` an input the output does not depend on
        (through differentiable TensorFlow ops) gets None instead of zeros.
        """
        from gradcheck._tf import tensorflow

        tf = tensorflow()
        unconnected = tf.UnconnectedGradients.ZERO if unconnected_zero else tf.UnconnectedGradients.NONE
        return self.tape.gradient(
            self.output,
            self.operands,
            output_gradients=tf.constant(cotangent, dtype=self.output.dtype),
            unconnected_gradients=unconnected,
        )
