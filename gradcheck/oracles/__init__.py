"""The two oracles and their cross-check.

TensorFlow (``tf.GradientTape`` in float64) gives the reference forward value
and VJP; central finite differences on the NumPy float64 forward check
TensorFlow's VJP along random directions. TensorFlow is not ground truth: when
the two disagree beyond their own error the case is the harness's problem and
is never blamed on the engine. A user's function (``check_function``) has
no row in the op table: ``function_reference`` differentiates the function
itself.
"""

from gradcheck.oracles._derived import DerivedReference, derived_references
from gradcheck.oracles._function import function_reference
from gradcheck.oracles._reference import Reference, case_seed, keep_references, reference_for, references_for
from gradcheck.oracles._tensorflow import tensorflow_vjp, vjp

__all__ = [
    "DerivedReference",
    "Reference",
    "derived_references",
    "case_seed",
    "function_reference",
    "keep_references",
    "reference_for",
    "references_for",
    "tensorflow_vjp",
    "vjp",
]
