"""Composite programs: straight-line code over the engine's ops.

A ``ProgramCase`` is a small expression DAG (``t0 = matmul(x0, x1)``, ...,
``y = sum(t2, axis=0)``) with concrete inputs and a cotangent for ``y``. It is
a computation like ``gradcheck.case.Case`` (NumPy forward, TensorFlow forward,
``apply`` to the engine), so the oracles, the engine calls and the verdict
treat both alike. Programs find what no single-op check can: a backward pass
that overwrites the adjoint of a reused value, or visits a node before all of
its consumers are done.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from gradcheck._literals import source
from gradcheck.case import Case, EngineCall, largest_magnitude, op_conditioning
from gradcheck.ops import OPS

__all__ = ["OUTPUT", "ProgramCase", "Step"]

#: The name of a program's output in printed code.
OUTPUT = "y"


@dataclass(frozen=True)
class Step:
    """``out = op(*args, **params)``: one line of a program."""

    out: str
    op: str
    args: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict)

    def code(self, out: str | None = None) -> str:
        spec = OPS[self.op]
        # Parameters passed before the operands (where's condition) are written there, as the engine gets them.
        before = [param.name for param in spec.params if param.before]
        leading = "".join(f"{source(self.params[name])}, " for name in before)
        params = "".join(f", {key}={source(value)}" for key, value in self.params.items() if key not in before)
        operands = f"[{', '.join(self.args)}]" if spec.listed else ", ".join(self.args)
        return f"{out or self.out} = {self.op}({leading}{operands}{params})"


@dataclass(frozen=True)
class ProgramCase:
    """A program with concrete inputs ``x0, x1, ...`` and the cotangent of its output."""

    names: tuple[str, ...]
    inputs: tuple[np.ndarray, ...]
    steps: tuple[Step, ...]
    cotangent: np.ndarray
    dtype: str = "float64"

    kind = "program"
    op = "program"

    @property
    def params(self) -> dict[str, Any]:
        return {}

    @property
    def shapes(self) -> tuple[tuple[int, ...], ...]:
        return tuple(x.shape for x in self.inputs)

    @property
    def ops(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(step.op for step in self.steps))

    @property
    def size(self) -> int:
        """Number of nodes: inputs plus steps."""
        return len(self.inputs) + len(self.steps)

    def printed_steps(self) -> tuple[Step, ...]:
        """Return the steps as reports and reproducers show them: the output named ``y``."""
        renamed = {self.output: OUTPUT}
        return tuple(
            Step(renamed.get(step.out, step.out), step.op, tuple(renamed.get(a, a) for a in step.args), step.params)
            for step in self.steps
        )

    def code(self) -> str:
        """Return the program as straight-line code, its output named ``y``."""
        lines = [f"{name} = input{x.shape}" for name, x in zip(self.names, self.inputs)]
        lines += [step.code() for step in self.printed_steps()]
        return "\n".join(lines)

    def describe(self) -> str:
        return f"a program of {len(self.steps)} op(s) ({', '.join(self.ops)}) on inputs {list(self.shapes)}"

    # --- the computation protocol shared with Case --------------------------

    def _evaluate(self, leaves: dict[str, Any], apply_step: Any) -> dict[str, Any]:
        values = dict(leaves)
        for step in self.steps:
            values[step.out] = apply_step(step, [values[arg] for arg in step.args])
        return values

    @property
    def output(self) -> str:
        """The name of the program's result (its last step's value)."""
        return self.steps[-1].out

    def reference_values(self, *inputs: np.ndarray) -> dict[str, np.ndarray]:
        """Return every named value of the program, computed with NumPy in float64."""
        return self._evaluate(
            dict(zip(self.names, inputs)),
            lambda step, args: np.asarray(OPS[step.op].reference(*args, **step.params), dtype=np.float64),
        )

    def reference(self, *inputs: np.ndarray) -> np.ndarray:
        return self.reference_values(*inputs)[self.output]

    def tensorflow_values(self, tf: Any, *tensors: Any) -> dict[str, Any]:
        """Return every named value of the program as TensorFlow tensors."""
        return self._evaluate(
            dict(zip(self.names, tensors)),
            lambda step, args: OPS[step.op].tensorflow(tf, *args, **step.params),
        )

    def tensorflow(self, tf: Any, *tensors: Any) -> Any:
        return self.tensorflow_values(tf, *tensors)[self.output]

    def apply(self, engine: Any, xs: list[Any], call: EngineCall) -> Any:
        def apply_step(step: Step, args: list[Any]) -> Any:
            positional, keywords = OPS[step.op].engine_args(args, step.params)
            return call(f"{step.op}() in `{step.code()}`", engine.ops[step.op], *positional, **keywords)

        return self._evaluate(dict(zip(self.names, xs)), apply_step)[self.output]

    def terms(self, output_shape: tuple[int, ...], wrt: int | None = None) -> int:
        # Rounding errors of the steps add up along the program.
        return self._terms

    @cached_property
    def _terms(self) -> int:
        values = self.reference_values(*self.inputs)
        total = 0
        for step in self.steps:
            case = Case(step.op, OPS[step.op].names_for(len(step.args)), tuple(values[a] for a in step.args),
                        step.params)
            out_shape = values[step.out].shape
            total += max([case.terms(out_shape)] + [case.terms(out_shape, wrt=i) for i in range(len(step.args))])
        return max(total, 1)

    def magnitude(self) -> float:
        """Return the largest ``|value|`` among the inputs and every value the program computes."""
        return self._magnitude

    def conditioning(self) -> float:
        """Return the largest conditioning of a step on the values it gets (``Case.conditioning``)."""
        return self._conditioning

    @cached_property
    def _conditioning(self) -> float:
        with np.errstate(all="ignore"):
            values = self.reference_values(*self.inputs)
        return max((op_conditioning(step.op, tuple(values[a] for a in step.args), np.ones(()), step.params)
                    for step in self.steps), default=1.0)

    @cached_property
    def _magnitude(self) -> float:
        with np.errstate(all="ignore"):  # a NaN or inf value is left out, not warned about
            return largest_magnitude(self.reference_values(*self.inputs).values())

    # --- structure, for blame ------------------------------------------------

    def consumers(self) -> dict[str, list[str]]:
        """Return, for each value, the outputs of the steps that use it (once per use)."""
        used: dict[str, list[str]] = defaultdict(list)
        for step in self.steps:
            for arg in step.args:
                used[arg].append(step.out)
        return used

    def path_lengths(self) -> dict[str, set[int]]:
        """Return, for each value, the lengths of the paths from it to the output."""
        lengths: dict[str, set[int]] = {self.output: {0}}
        for step in reversed(self.steps):
            if step.out not in lengths:
                continue  # dead code: the output does not depend on it
            for arg in step.args:
                lengths.setdefault(arg, set()).update(length + 1 for length in lengths[step.out])
        return lengths

    def step_cases(self) -> list[tuple[Step, Case]]:
        """Return each step as a single-op case: the operands and cotangent it sees here.

        Operands are the step's float64 reference inputs rounded to the engine's
        dtype; its cotangent is the gradient of ``sum(y * cotangent)`` w.r.t.
        the step's output, from TensorFlow.
        """
        from gradcheck._tf import tensorflow

        tf = tensorflow()
        leaves = [tf.constant(x, dtype=tf.float64) for x in self.inputs]
        with tf.GradientTape() as tape:
            for leaf in leaves:
                tape.watch(leaf)
            values = self.tensorflow_values(tf, *leaves)
        outputs = [values[step.out] for step in self.steps]
        adjoints = tape.gradient(
            values[self.output],
            outputs,
            output_gradients=tf.constant(self.cotangent, dtype=tf.float64),
            unconnected_gradients=tf.UnconnectedGradients.ZERO,
        )
        cases = []
        for step, adjoint in zip(self.steps, adjoints):
            operands = tuple(_rounded(values[arg].numpy(), self.dtype) for arg in step.args)
            cases.append((step, Case(
                step.op, OPS[step.op].names_for(len(operands)), operands, dict(step.params),
                # convert_to_tensor: a gather's (take, getitem) adjoint is tf.IndexedSlices.
                _rounded(tf.convert_to_tensor(adjoint).numpy(), self.dtype), self.dtype,
            )))
        return cases


def _rounded(array: np.ndarray, dtype: str) -> np.ndarray:
    return np.asarray(array).astype(dtype).astype(np.float64)
