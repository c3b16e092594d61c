"""TensorFlow oracle: forward value and VJP with ``tf.GradientTape`` in float64."""

from __future__ import annotations

import numpy as np

from gradcheck._tf import tensorflow
from gradcheck.case import Case

__all__ = ["tensorflow_vjp"]


def tensorflow_vjp(case: Case) -> tuple[np.ndarray, list[np.ndarray]]:
    """Return TensorFlow's forward value and the VJP of ``case.cotangent``, in float64."""
    tf = tensorflow()
    operands = [tf.constant(x, dtype=tf.float64) for x in case.inputs]
    with tf.GradientTape() as tape:
        for operand in operands:
            tape.watch(operand)
        output = case.tensorflow(tf, *operands)
    grads = tape.gradient(
        output,
        operands,
        output_gradients=tf.constant(case.cotangent, dtype=tf.float64),
        unconnected_gradients=tf.UnconnectedGradients.ZERO,
    )
    return output.numpy(), [grad.numpy() for grad in grads]
