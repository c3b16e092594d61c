"""The two oracles and their cross-check.

TensorFlow (``tf.GradientTape`` in float64) gives the reference forward value
and VJP; central finite differences on the NumPy float64 forward check
TensorFlow's VJP along random directions. TensorFlow is not ground truth: when
the two disagree beyond their own error the case is the harness's problem and
is never blamed on the engine.
"""

from gradcheck.oracles._function import function_reference
from gradcheck.oracles._reference import Reference, reference_for, references_for

__all__ = ["Reference", "function_reference", "reference_for", "references_for"]
