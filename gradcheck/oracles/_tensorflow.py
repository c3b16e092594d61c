"""TensorFlow oracle: forward value and VJP with ``tf.GradientTape`` in float64."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from gradcheck._tf import tensorflow
from gradcheck.case import Case

__all__ = ["tensorflow_vjp", "vjp"]


def vjp(
    forward: Callable[..., Any], inputs: Sequence[np.ndarray], cotangent: np.ndarray
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Return ``forward(tf, *inputs)`` and the VJP of ``cotangent`` w.r.t. each input, in float64."""
    tf = tensorflow()
    operands = [tf.constant(x, dtype=tf.float64) for x in inputs]
    with tf.GradientTape() as tape:
        for operand in operands:
            tape.watch(operand)
        output = forward(tf, *operands)
    grads = tape.gradient(
        output,
        operands,
        output_gradients=tf.constant(cotangent, dtype=tf.float64),
        unconnected_gradients=tf.UnconnectedGradients.ZERO,
    )
    # convert_to_tensor: tf.gather's gradient is tf.IndexedSlices, a sparse form of a dense tensor.
    return output.numpy(), [tf.convert_to_tensor(grad).numpy() for grad in grads]


def tensorflow_vjp(case: Case) -> tuple[np.ndarray, list[np.ndarray]]:
    """Return TensorFlow's forward value of ``case`` and the VJP of its cotangent."""
    return vjp(case.tensorflow, case.inputs, case.cotangent)
