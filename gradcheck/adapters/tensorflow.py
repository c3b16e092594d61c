"""TensorFlow as an engine (docs/contract.md, section 1): every op of gradcheck, in float32 or float64.

Ops run eagerly and are recorded; ``grad`` replays them under a
``tf.GradientTape`` (see ``gradcheck.adapters._recording``). Order 2:
``grad(..., create_graph=True)`` returns nodes whose replay runs a tape
inside the outer one (nested tapes). Forward mode: ``jvp`` replays under a
``tf.autodiff.ForwardAccumulator``. The module is
itself the float64 engine; ``engine32`` and ``engine64`` are the two dtypes,
and ``make_engine`` substitutes your own TensorFlow function for any op::

    gradcheck check gradcheck.adapters.tensorflow
    gradcheck check gradcheck.adapters.tensorflow:engine32

.. code-block:: pycon

    >>> import tensorflow as tf
    >>> from gradcheck.adapters.tensorflow import make_engine
    >>> @tf.custom_gradient
    ... def my_matmul(a, b):
    ...     return a @ b, lambda g: (g @ tf.linalg.matrix_transpose(b), tf.linalg.matrix_transpose(a) @ g)
    >>> engine = make_engine("float32", ops={"matmul": my_matmul})
    >>> gradcheck.assert_gradients(engine, "matmul")  # doctest: +SKIP

Each op is the TensorFlow spelling gradcheck's own oracle uses
(``gradcheck.ops``, column ``tensorflow``): in float64 this adapter agrees
with the oracle by construction, so what it checks there is the adapter and
TensorFlow's gradients against finite differences; in float32 it checks
TensorFlow's float32 kernels against the float64 reference.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from gradcheck._tf import tensorflow
from gradcheck.adapters._recording import Framework, engine_factory, module_attribute, require
from gradcheck.ops import OPS, OpSpec

__all__ = ["FRAMEWORK", "engine32", "engine64", "make_engine"]

# A core dependency, but a broken installation still gets a plain message.
tf = require(
    "tensorflow", framework="TensorFlow", adapter=__name__, install='pip install "tensorflow>=2.15"',
    importer=tensorflow,
)


def _constant(array: np.ndarray, dtype: str) -> Any:
    return tf.constant(array, dtype=getattr(tf, dtype))


def _vjp(function: Callable[..., Any], primals: Sequence[Any], cotangent: Any) -> Sequence[Any]:
    with tf.GradientTape() as tape:
        for primal in primals:
            tape.watch(primal)
        out = function(*primals)
    return tape.gradient(
        out, list(primals), output_gradients=cotangent, unconnected_gradients=tf.UnconnectedGradients.ZERO
    )


def _differentiable_vjp(function: Callable[..., Any], primals: Sequence[Any], cotangent: Any) -> Sequence[Any]:
    # Called while an outer tape records: that tape sees this tape's gradient
    # computation (nested tapes). Dense tensors: a gather's gradient is tf.IndexedSlices.
    return [tf.convert_to_tensor(g) for g in _vjp(function, primals, cotangent)]


def _jvp(function: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any]) -> Any:
    with tf.autodiff.ForwardAccumulator(list(primals), list(tangents)) as accumulator:
        out = function(*primals)
    return accumulator.jvp(out, unconnected_gradients=tf.UnconnectedGradients.ZERO)


def _as_called(spec: OpSpec) -> Callable[..., Any]:
    """Return the row's TensorFlow forward called as an engine's op is (``OpSpec.engine_args``).

    The row takes ``(tf, *operands, **params)``; the engine's op takes the
    ``before`` parameters first (einsum's subscripts) and the operands as one
    list where the op is ``listed`` (concat): ``OpSpec.parse_args`` reads them back.
    """

    def op(*args: Any, **kwargs: Any) -> Any:
        operands, params = spec.parse_args(args, kwargs)
        return spec.tensorflow(tf, *operands, **params)

    return op


FRAMEWORK = Framework(
    name="TensorFlow",
    adapter=__name__,
    constant=_constant,
    # convert_to_tensor: tf.gather's gradient is tf.IndexedSlices, a sparse form of a dense tensor.
    to_numpy=lambda tensor: np.asarray(tf.convert_to_tensor(tensor).numpy()),
    vjp=_vjp,
    differentiable_vjp=_differentiable_vjp,
    jvp=_jvp,
    # Another form of an op (pow_tensor) is the op's own function, which takes both forms.
    ops={op: _as_called(spec) for op, spec in OPS.items() if spec.engine_function == op},
)


make_engine = engine_factory(FRAMEWORK)
engine64 = make_engine("float64")
engine32 = make_engine("float32")


def __getattr__(attribute: str) -> Any:
    # The module is the float64 engine: `gradcheck check gradcheck.adapters.tensorflow`.
    return module_attribute(engine64, __name__, attribute)
