"""The references of a user's function: its own finite differences, and TensorFlow's gradient of it.

A user's function has no row in the op table, so its references come from the
function itself, in float64:

* TensorFlow's tape gradient of ``fn``, when ``fn`` is TensorFlow code and
  that gradient is not the one under test (``grad_fn`` was given, and ``fn``
  has no ``tf.custom_gradient`` of its own), cross-checked by directional
  finite differences as the op oracle cross-checks it;
* otherwise the full finite-difference VJP of ``fn``, entry by entry, with an
  error bound of its own.

When the two references disagree, or finite differences are not accurate
enough on a case (a kink or pole within the stencil), the case is the
harness's problem and is never blamed on the user's gradient.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from gradcheck.errors import UsageError
from gradcheck.execution import quiet
from gradcheck.function_case import FunctionCase, Taped
from gradcheck.oracles._finite_differences import directional_check
from gradcheck.oracles._reference import Reference, case_seed
from gradcheck.tolerances import allowed_error

__all__ = ["FULL_STEP", "function_reference", "vjp_by_differences"]

# Finite differences may use up this share of the verdict's tolerance; beyond
# it, a wrong answer and an inaccurate reference could not be told apart.
_DIFFERENCES_SHARE = 0.25

# Steps of the full finite-difference VJP, relative to max(1, |x|).
# Fourth-order differences at h and 2h, so the stencil reaches 4h = 0.004 from
# each input: a user's domain must keep the function's kinks and poles farther
# than that.
FULL_STEP = 1e-3
_EPS = float(np.finfo(np.float64).eps)


def vjp_by_differences(
    forward: Callable[..., np.ndarray],
    inputs: Sequence[np.ndarray],
    cotangent: np.ndarray,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Return the gradient of ``sum(forward(*inputs) * cotangent)`` w.r.t. each input, and its error.

    Every entry is perturbed alone (six forward calls each): the reference when
    no analytic gradient is trusted. Each entry is Richardson's fourth-order
    estimate ``R(h) = (4 D(h) - D(2h)) / 3`` from the central differences
    ``D``; ``|R(h) - R(2h)|`` plus the rounding of ``R(h)`` bounds its error
    (truncation is 16 times smaller at h than at 2h). Near a kink, or where
    ``forward`` is not smooth at the scale of the step, the bound is large:
    the caller decides whether the reference is usable.
    """
    def weighted(arrays: Sequence[np.ndarray]) -> tuple[float, float]:
        value = np.asarray(forward(*arrays), dtype=np.float64) * cotangent
        return float(value.sum()), float(np.abs(value).sum())

    grads: list[np.ndarray] = []
    errors: list[np.ndarray] = []
    for position, x in enumerate(inputs):
        grad, error = np.zeros(np.shape(x)), np.zeros(np.shape(x))
        for index in np.ndindex(np.shape(x)):
            step = FULL_STEP * max(1.0, abs(float(x[index])))
            differences, magnitude = {}, 0.0
            for multiple in (1, 2, 4):
                sums = []
                for sign in (1.0, -1.0):
                    moved = np.array(x, dtype=np.float64)
                    moved[index] += sign * multiple * step
                    total, size = weighted([*inputs[:position], moved, *inputs[position + 1:]])
                    sums.append(total)
                    magnitude = max(magnitude, size)
                differences[multiple] = (sums[0] - sums[1]) / (2 * multiple * step)
            fine = (4 * differences[1] - differences[2]) / 3
            coarse = (4 * differences[2] - differences[4]) / 3
            grad[index] = fine
            error[index] = abs(fine - coarse) + 2 * _EPS * magnitude / step
        grads.append(grad)
        errors.append(error)
    return grads, errors


def _disagreement(case: FunctionCase, forward: np.ndarray, note: str) -> Reference:
    return Reference(forward, tuple(np.zeros(x.shape) for x in case.inputs), agrees=False, note=note)


def function_reference(case: FunctionCase) -> Reference:
    """Return the reference forward value and VJP of a user's function on ``case``."""
    function = case.function
    if case.draw_failure is not None or case.forward is None:
        # fn failed on these very inputs: there is nothing to differentiate,
        # and the verdict reports the failure as the user's.
        return Reference(np.zeros(()), ())
    forward = case.forward
    if forward.dtype != np.float64:
        raise UsageError(
            f"{function.name}() returned {forward.dtype} values for float64 inputs "
            f"({case.describe()}); gradcheck differentiates it numerically in float64, which "
            f"{forward.dtype} rounding would swamp. Keep the inputs' dtype inside the function "
            "(cast to x.dtype, not to a fixed dtype), and check float32 with dtype='float32'."
        )
    if not np.all(np.isfinite(forward)):
        return _disagreement(case, forward, (
            f"{function.name}() is not finite on {case.describe()}: narrow the domain to where it is defined"
        ))
    try:
        with quiet():
            expected_forward = function.reference(*case.inputs) if function.checks_forward else forward
            tf_grads = _tensorflow_grads(case)
            if tf_grads is None:
                grads, errors = vjp_by_differences(function.value64, case.inputs, case.cotangent)
            else:
                check = directional_check(
                    function.value64, case.inputs, case.cotangent, tf_grads,
                    np.random.default_rng(case_seed(case)),
                )
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - a reference that cannot be computed is the harness's problem
        return _disagreement(case, forward, (
            f"the references could not be computed on {case.describe()} "
            f"({type(exc).__name__}: {str(exc)[:200]}): is {function.name}() defined within "
            f"{4 * FULL_STEP:g} of every input the domain allows?"
        ))
    if tf_grads is not None:
        if not check.agrees:
            return _disagreement(case, expected_forward, (
                f"TensorFlow's gradient of {function.name}() disagrees with finite differences on "
                f"{case.describe()} (error {check.worst_error:.3g} > bound {check.bound:.3g})"
            ))
        return Reference(expected_forward, tuple(tf_grads))
    for index, (grad, error) in enumerate(zip(grads, errors)):
        bound = allowed_error(grad, function.tolerance_for(case.dtype), case.terms(forward.shape, wrt=index))
        if np.any(error > _DIFFERENCES_SHARE * bound):
            return _disagreement(case, expected_forward, (
                f"finite differences of {function.name}() are not accurate enough on {case.describe()} "
                f"(w.r.t. {case.names[index]}, error up to {float(np.max(error)):.3g}): a kink or a pole "
                f"within {4 * FULL_STEP:g} of an input? Narrow the domain to keep away from it"
            ))
    return Reference(expected_forward, tuple(grads))


def _tensorflow_grads(case: FunctionCase) -> list[np.ndarray] | None:
    """Return TensorFlow's float64 gradient of ``fn`` on ``case``, or None where it is no reference.

    It is none when ``fn`` is not TensorFlow code, when its tape gradient is
    the gradient under test or ``fn``'s own ``tf.custom_gradient``, and when
    an input reaches the output only outside TensorFlow's ops (no gradient).
    """
    function = case.function
    if not case.output_is_tensor or function.uses_tape or function.has_custom_gradient:
        return None
    from gradcheck._tf import tensorflow

    tf = tensorflow()
    grads = Taped(function.fn, case.inputs).vjp(case.cotangent, unconnected_zero=False)
    if any(grad is None for grad in grads):
        return None
    return [np.asarray(tf.convert_to_tensor(grad).numpy(), dtype=np.float64) for grad in grads]
