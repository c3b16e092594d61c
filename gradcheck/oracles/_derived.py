"""The reference of a derived case (order 2, forward mode): TensorFlow's nested tapes, cross-checked.

Two nested tapes give, from TensorFlow's VJP ``g(x, u)``, its derivative
w.r.t. ``x`` along the case's directions (the second derivative) and w.r.t.
``u`` (``J d``: the JVP, since ``g`` is linear in ``u``). TensorFlow is not
ground truth: the second derivative is cross-checked by central differences
of TensorFlow's own float64 VJP along random directions, the JVP by central
differences of the NumPy forward along the tangents; a disagreement is the
harness's problem and the case is not judged.

An example's value sets are answered together: stacked on a new leading axis
as the first-order oracle stacks them (``OpSpec.batch``), sets are
independent, so every derivative of the stack is the derivatives of the sets.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from gradcheck._modes import ORDER2
from gradcheck.ops import OPS

__all__ = ["DerivedReference", "derived_references"]

# Central differences of a float64 VJP or forward: the first-order oracle's step and agreement.
_STEP = 1e-6
_RTOL = 1e-5
_ROUNDING = 8 * float(np.finfo(np.float64).eps) / _STEP
# TensorFlow's and NumPy's float64 forwards of the same formula differ by a few ulps.
_FORWARD_RTOL = 1e-9


@dataclass(frozen=True)
class DerivedReference:
    """The reference of a derived case: the forward value, first-order VJP and what the mode checks.

    ``grads`` holds what the engine's ``grads`` are compared with: order 2's
    first-order gradients then its second-order ones; forward mode's JVP.
    """

    forward: np.ndarray
    grads: tuple[np.ndarray, ...]
    first: tuple[np.ndarray, ...]
    agrees: bool = True
    note: str | None = None
    # Order 2 in float32: how far TensorFlow's own float32 second derivative is from its
    # float64 one, per input: the rounding float32 itself makes on this case.
    rounding: tuple[np.ndarray, ...] = ()


#: ``forward(tf, *stacked)`` or ``forward(*stacked)``: outputs of every set, stacked on the first axis.
Stacked = Callable[..., Any]


def derived_references(cases: Sequence[Any], clock: Any = None) -> list[DerivedReference]:
    """Return the reference of each derived case: an op's value sets in one stacked call, else one by one."""
    if len(cases) > 1 and cases[0].kind == "op":
        try:
            return _stacked(cases, clock)
        except Exception:  # noqa: BLE001 - answered one by one below, each case saying what went wrong
            pass
    return [_single(case, clock) for case in cases]


def _single(case: Any, clock: Any) -> DerivedReference:
    base = case.base

    def tf_forward(tf: Any, *stacked: Any) -> Any:
        return tf.expand_dims(base.tensorflow(tf, *[x[0] for x in stacked]), 0)

    def np_forward(*stacked: np.ndarray) -> np.ndarray:
        return np.asarray(base.reference(*[x[0] for x in stacked]), dtype=np.float64)[np.newaxis]

    try:
        answers = _answers(
            [case], tf_forward, np_forward, [np.asarray(x)[np.newaxis] for x in base.inputs],
            np.asarray(base.cotangent)[np.newaxis], [np.asarray(d)[np.newaxis] for d in case.directions],
            clock, fourth_order=base.kind == "program",
        )
    except Exception as exc:  # noqa: BLE001 - an oracle that cannot answer is the harness's problem
        return _unanswered(case, exc)
    return answers[0]


def _stacked(cases: Sequence[Any], clock: Any) -> list[DerivedReference]:
    first, sets = cases[0].base, len(cases)
    spec = OPS[first.op]
    views, params = spec.batch(first.shapes, first.params, sets)

    def stack(arrays: Sequence[np.ndarray], view: tuple[int, ...]) -> np.ndarray:
        return np.stack(arrays).reshape((sets, *view))

    inputs = [stack([case.base.inputs[i] for case in cases], view) for i, view in enumerate(views)]
    directions = [stack([case.directions[i] for case in cases], view) for i, view in enumerate(views)]
    output_shape = (sets, *first.cotangent.shape)

    def tf_forward(tf: Any, *tensors: Any) -> Any:
        return tf.reshape(spec.tensorflow(tf, *tensors, **params), output_shape)

    def np_forward(*stacked: np.ndarray) -> np.ndarray:
        return np.asarray(spec.reference(*stacked, **params), dtype=np.float64).reshape(output_shape)

    cotangent = np.stack([case.base.cotangent for case in cases])
    return _answers(cases, tf_forward, np_forward, inputs, cotangent, directions, clock, fourth_order=False)


def _answers(
    cases: Sequence[Any], tf_forward: Stacked, np_forward: Stacked, inputs: list[np.ndarray],
    cotangent: np.ndarray, directions: list[np.ndarray], clock: Any, *, fourth_order: bool,
) -> list[DerivedReference]:
    """Return each case's reference from the stacked operands (sets on the first axis of every array)."""
    sets, mode = len(cases), cases[0].mode
    forward, firsts, seconds, along = _nested(tf_forward, inputs, cotangent, directions)
    rounding = None
    if mode == ORDER2 and cases[0].dtype == "float32":
        *_, seconds32, _ = _nested(tf_forward, inputs, cotangent, directions, dtype="float32")
        rounding = [np.abs(s32.astype(np.float64) - s) for s32, s in zip(seconds32, seconds)]
    if clock:
        clock.lap("tensorflow")
    numpy_forward = np_forward(*inputs)
    agree = (np.abs(numpy_forward - forward) <= _FORWARD_RTOL * (1.0 + np.abs(forward))).reshape(sets, -1).all(axis=1)
    rng = np.random.default_rng(zlib.crc32(b"derived", zlib.crc32(np.asarray(cotangent).tobytes())))
    if mode == ORDER2:
        # Rounding reaches past the entries' sizes where the op is ill-conditioned (layer_norm of a short
        # row: the VJP cancels terms of size 1 / std): as the verdict's floor, times the case's conditioning.
        conditioning = np.array([float(case.base.conditioning()) for case in cases])
        errors, bounds = _second_order_errors(tf_forward, inputs, cotangent, directions, seconds, rng, fourth_order,
                                              conditioning)
    else:
        errors, bounds = _forward_errors(np_forward, inputs, directions, numpy_forward, along, fourth_order)
    if clock:
        clock.lap("finite differences")
    answers = []
    for index, case in enumerate(cases):
        shapes = [np.shape(x) for x in case.base.inputs]
        first = tuple(g[index].reshape(shape) for g, shape in zip(firsts, shapes))
        compared = (*first, *(s[index].reshape(shape) for s, shape in zip(seconds, shapes))) if mode == ORDER2 \
            else (along[index].reshape(np.shape(case.base.cotangent)),)
        if not agree[index]:
            note: str | None = f"TensorFlow's forward value of {case.describe()} differs from NumPy's"
        elif errors[index] > bounds[index]:
            what = "second derivative" if mode == ORDER2 else "forward-mode derivative"
            note = (f"TensorFlow's {what} of {case.describe()} disagrees with finite differences "
                    f"(error {errors[index]:.3g} > bound {bounds[index]:.3g})")
        else:
            note = None
        answers.append(DerivedReference(
            forward[index].reshape(np.shape(case.base.cotangent)), compared, first, agrees=note is None, note=note,
            rounding=() if rounding is None else tuple(r[index].reshape(shape) for r, shape in zip(rounding, shapes)),
        ))
    return answers


def _unanswered(case: Any, exc: Exception) -> DerivedReference:
    empty = np.zeros(())
    return DerivedReference(empty, (), (), agrees=False, note=(
        f"the reference could not compute {case.describe()}: {type(exc).__name__}: {str(exc)[:200]}"))


def _nested(forward: Stacked, inputs: Sequence[np.ndarray], cotangent: np.ndarray,
            directions: Sequence[np.ndarray], dtype: str = "float64",
            ) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Return TensorFlow's forward value, VJP, VJP of the VJP along ``directions``, and JVP along them.

    In float64 (the reference), or in ``dtype`` (to see the rounding of that dtype)."""
    from gradcheck._tf import tensorflow

    tf = tensorflow()
    kind = getattr(tf, dtype)
    operands = [tf.constant(x, dtype=kind) for x in inputs]
    seed = tf.constant(cotangent, dtype=kind)
    zero = tf.UnconnectedGradients.ZERO
    with tf.GradientTape() as outer:
        outer.watch(operands)
        outer.watch(seed)
        with tf.GradientTape() as inner:
            inner.watch(operands)
            output = forward(tf, *operands)
        grads = [tf.convert_to_tensor(g) for g in
                 inner.gradient(output, operands, output_gradients=seed, unconnected_gradients=zero)]
        total = tf.add_n([tf.reduce_sum(g * tf.constant(d, dtype=kind)) for g, d in zip(grads, directions)]
                         + [tf.constant(0.0, dtype=kind)])
    *seconds, along = outer.gradient(total, [*operands, seed], unconnected_gradients=zero)
    return (output.numpy(), [g.numpy() for g in grads],
            [tf.convert_to_tensor(s).numpy() for s in seconds], tf.convert_to_tensor(along).numpy())


def _per_set(array: np.ndarray, sets: int) -> np.ndarray:
    return np.reshape(array, (sets, -1)).sum(axis=1) if np.size(array) else np.zeros(sets)


def _second_order_errors(
    tf_forward: Stacked, inputs: Sequence[np.ndarray], cotangent: np.ndarray, directions: Sequence[np.ndarray],
    seconds: Sequence[np.ndarray], rng: np.random.Generator, fourth_order: bool, conditioning: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Return, per set, how far TensorFlow's second derivative is from differences of its VJP, and the bound."""
    from gradcheck.oracles._tensorflow import vjp

    sets = len(cotangent)

    def inner(*stacked: np.ndarray) -> np.ndarray:
        _, grads = vjp(tf_forward, stacked, cotangent)
        return sum((_per_set(g * d, sets) for g, d in zip(grads, directions)), np.zeros(sets))

    # The differences round at the size of the VJP's terms, not of their (cancelling) sum.
    _, at_x = vjp(tf_forward, inputs, cotangent)
    magnitude = sum((_per_set(np.abs(g * d), sets) for g, d in zip(at_x, directions)), np.zeros(sets))

    worst_error, worst_bound = np.zeros(sets), np.ones(sets)
    for _ in range(2):
        direction = [rng.standard_normal(np.shape(x)) for x in inputs]
        estimate, scale = _quotient(inner, inputs, direction, fourth_order)
        scale = np.maximum(scale, magnitude) * (1.5 if fourth_order else 1.0) * conditioning
        products = [s * d for s, d in zip(seconds, direction)]
        exact = sum((_per_set(p, sets) for p in products), np.zeros(sets))
        terms = np.abs(estimate) + sum((_per_set(np.abs(p), sets) for p in products), np.zeros(sets))
        bound = _RTOL * terms + _ROUNDING * scale + 1e-12
        error = np.abs(estimate - exact)
        worse = error / bound > worst_error / worst_bound
        worst_error, worst_bound = np.where(worse, error, worst_error), np.where(worse, bound, worst_bound)
    return worst_error, worst_bound


def _forward_errors(
    np_forward: Stacked, inputs: Sequence[np.ndarray], tangents: Sequence[np.ndarray], value: np.ndarray,
    along: np.ndarray, fourth_order: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Return, per set, how far TensorFlow's JVP is from differences of the NumPy forward (error over bound, bound 1)."""
    sets = len(along)
    estimate, _ = _quotient(np_forward, inputs, tangents, fourth_order)
    largest = np.maximum.reduce(
        [np.abs(value).reshape(sets, -1).max(axis=1, initial=0.0)]
        + [np.abs(x).reshape(sets, -1).max(axis=1, initial=0.0) for x in inputs]
    )
    flat = np.abs(along).reshape(sets, -1)
    scale = (np.maximum(largest, 1.0) * _ROUNDING)[:, np.newaxis]
    bound = _RTOL * (flat + flat.max(axis=1, initial=0.0)[:, np.newaxis]) + scale + 1e-12
    excess = (np.abs(estimate - along).reshape(sets, -1) / bound).max(axis=1, initial=0.0)
    return excess, np.ones(sets)


def _quotient(function: Callable[..., np.ndarray], inputs: Sequence[np.ndarray], direction: Sequence[np.ndarray],
              fourth_order: bool) -> tuple[np.ndarray, np.ndarray]:
    """Return the central-difference derivative of ``function`` along ``direction``, and the magnitude it rounds at."""
    def at(step: float) -> np.ndarray:
        return np.asarray(function(*[x + step * d for x, d in zip(inputs, direction)]))

    plus, minus = at(_STEP), at(-_STEP)
    near = (plus - minus) / (2 * _STEP)
    sets = len(plus)
    scale = np.maximum(np.maximum(np.abs(plus).reshape(sets, -1).max(axis=1, initial=0.0),
                                  np.abs(minus).reshape(sets, -1).max(axis=1, initial=0.0)), 1.0)
    if not fourth_order:
        return near, scale
    far = (at(2 * _STEP) - at(-2 * _STEP)) / (4 * _STEP)
    return (4 * near - far) / 3, scale
