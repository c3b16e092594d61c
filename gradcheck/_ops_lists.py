"""Rows of the op table for ops of several operands: concat, stack, einsum, pow with a tensor exponent, cross_entropy.

``concat``, ``stack`` and ``einsum`` take a drawn number of operands
(``OpSpec.variadic``); ``pow_tensor`` is ``pow(x, y)`` with a tensor
exponent, the same engine function as ``pow(x, p)`` (``OpSpec.function``);
``cross_entropy`` takes integer labels, a drawn parameter never
differentiated. This module imports only NumPy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradcheck._opspec import POSITIVE, Domain, Factors, OpSpec, Param, Shapes, Slip, Stacked, shifted_axis

__all__ = ["EXPONENT", "ROWS"]

#: A tensor exponent's values: x ** y stays within 4 ** 2 = 16 on x's domain.
EXPONENT = Domain(((-2.0, 2.0),))


def _unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Return ``g`` summed down to ``shape``, the adjoint of broadcasting an array of that shape."""
    leading = g.ndim - len(shape)
    g = np.sum(g, axis=tuple(range(leading)))
    stretched = tuple(axis for axis, size in enumerate(shape) if size == 1 and g.shape[axis] != 1)
    return np.sum(g, axis=stretched, keepdims=True).reshape(shape)


# --- concat and stack ---------------------------------------------------------


def _concat(*xs: np.ndarray, axis: int = 0) -> np.ndarray:
    return np.concatenate(xs, axis=axis)


def _stack(*xs: np.ndarray, axis: int = 0) -> np.ndarray:
    return np.stack(xs, axis=axis)


def _stack_concat(shapes: Shapes, params: dict[str, Any], k: int) -> Stacked:
    return shapes, {**params, "axis": shifted_axis(params["axis"], len(shapes[0]))}


def _stack_stack(shapes: Shapes, params: dict[str, Any], k: int) -> Stacked:
    return shapes, {**params, "axis": shifted_axis(params["axis"], len(shapes[0]) + 1)}


def _split_along(axis: int) -> Any:
    """Return concat's backward splitting the cotangent along ``axis`` at the offsets of the concat axis."""

    def vjp(g: np.ndarray, inputs: tuple[np.ndarray, ...], y: np.ndarray,
            params: dict[str, Any]) -> list[np.ndarray | None]:
        sizes = [x.shape[params["axis"]] for x in inputs]
        return list(np.split(g, np.cumsum(sizes)[:-1], axis=axis))

    return vjp


# --- einsum -------------------------------------------------------------------


def _einsum(*operands: np.ndarray, subscripts: str) -> np.ndarray:
    return np.asarray(np.einsum(subscripts, *operands))


def _einsum_sizes(shapes: Shapes, subscripts: str) -> dict[str, int]:
    inputs = subscripts.split("->")[0].split(",")
    return {letter: side for term, shape in zip(inputs, shapes) for letter, side in zip(term, shape)}


def _einsum_contraction(shapes: Shapes, params: dict[str, Any]) -> int:
    # Each output entry sums over every letter the output drops.
    subscripts = params["subscripts"]
    output = subscripts.split("->")[1]
    return int(np.prod([side for letter, side in _einsum_sizes(shapes, subscripts).items() if letter not in output]))


def _stack_einsum(shapes: Shapes, params: dict[str, Any], k: int) -> Stacked:
    # The stacking axis is a batch letter of its own, first in every operand and in the output.
    subscripts = params["subscripts"]
    batch = next(letter for letter in "ZYXWVUTSRQPONMLKJIHGFEDCBA" if letter not in subscripts)
    inputs, output = subscripts.split("->")
    stacked = ",".join(batch + term for term in inputs.split(",")) + "->" + batch + output
    return shapes, {**params, "subscripts": stacked}


# --- pow with a tensor exponent -----------------------------------------------


def _log_missing(g: np.ndarray, inputs: tuple[np.ndarray, ...], y: np.ndarray,
                 params: dict[str, Any]) -> list[np.ndarray | None]:
    x, exponent = inputs
    return [None, _unbroadcast(g * y, exponent.shape)]


def _stack_broadcast(shapes: Shapes, params: dict[str, Any], k: int) -> Stacked:
    # Broadcasting aligns trailing axes: size-1 axes after the stacking axis line the stacks up.
    rank = max(len(shape) for shape in shapes)
    return tuple((1,) * (rank - len(shape)) + tuple(shape) for shape in shapes), params


# --- cross_entropy --------------------------------------------------------------


def _check_labels(logits_shape: tuple[int, ...], labels: np.ndarray) -> tuple[int, int]:
    # Raised, not indexed past: shrinking and programs read a ValueError as "not a case of the op".
    if len(logits_shape) != 2:
        raise ValueError(f"cross_entropy takes logits of shape (N, C), not {logits_shape}")
    rows, classes = logits_shape
    labels = np.asarray(labels)
    if labels.shape != (rows,) or labels.dtype.kind not in "iu" or np.any(labels < 0) or np.any(labels >= classes):
        raise ValueError(f"cross_entropy's labels {labels!r} are not {rows} class indices in [0, {classes})")
    return rows, classes


def _cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    rows, _ = _check_labels(np.shape(logits), labels)
    shifted = logits - np.max(logits, axis=-1, keepdims=True)
    log_softmax = shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
    return np.asarray(-np.mean(log_softmax[np.arange(rows), labels]))


def _tf_cross_entropy(tf: Any, logits: Any, labels: np.ndarray) -> Any:
    _check_labels(tuple(logits.shape), labels)
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.constant(labels), logits=logits)
    return tf.math.reduce_mean(losses)


def _no_stacking(shapes: Shapes, params: dict[str, Any], k: int) -> Stacked:
    raise NotImplementedError(
        "cross_entropy averages every row into one number: stacked cases would be averaged together, "
        "so each case is answered on its own"
    )


def _cross_entropy_factors(shapes: Shapes, output_shape: tuple[int, ...], params: dict[str, Any]) -> Factors:
    rows = shapes[0][0]
    averaged = f"N = {rows}, the number of rows (samples) the loss averages"
    return [
        (float(rows), f"{averaged} (the 1/N of the mean over N is missing)"),
        (1 / rows, f"1/{rows} = 1/N with {averaged} (the division by N is applied twice)"),
    ]


ROWS: tuple[OpSpec, ...] = (
    OpSpec(
        "concat",
        ("xs",),
        _concat,
        lambda tf, *xs, axis=0: tf.concat(list(xs), axis=axis),
        shapes="concat",
        params=(Param("axis", 0),),
        param_rule="concat_axis",
        stacked=_stack_concat,
        vjp_rules=("g split along axis at the operands' offsets: np.split(g, np.cumsum(sizes)[:-1], axis) "
                   "with sizes the operands' lengths along axis",),
        slips=(
            Slip("np.split(g, offsets) along axis 0 (np.split's default)",
                 "np.split(g, offsets, axis=axis)",
                 "the cotangent is split along the wrong axis: concat joined the operands along axis, "
                 "so each gradient is the piece of g along that axis", _split_along(0), many=True),
            Slip("np.split(g, offsets, axis=-1)", "np.split(g, offsets, axis=axis)",
                 "the cotangent is split along the last axis instead of the concat axis", _split_along(-1),
                 many=True),
        ),
        variadic=True,
        listed=True,
    ),
    OpSpec(
        "stack",
        ("xs",),
        _stack,
        lambda tf, *xs, axis=0: tf.stack(list(xs), axis=axis),
        shapes="stack",
        params=(Param("axis", 0),),
        param_rule="stack_axis",
        stacked=_stack_stack,
        vjp_rules=("np.take(g, i, axis) for operand i (g unstacked along the new axis)",),
        variadic=True,
        listed=True,
    ),
    OpSpec(
        "einsum",
        ("operands",),
        _einsum,
        lambda tf, *operands, subscripts: tf.einsum(subscripts, *operands),
        shapes="einsum",
        params=(Param("subscripts", before=True),),
        param_rule="einsum_subscripts",
        contraction=_einsum_contraction,
        stacked=_stack_einsum,
        vjp_rules=("einsum of g with the other operands, from the output's subscripts to this operand's "
                   "(a letter repeated in the operand puts g on that diagonal, zeros elsewhere)",),
        variadic=True,
    ),
    OpSpec(
        "pow_tensor",
        ("x", "y"),
        np.power,
        lambda tf, x, y: tf.pow(x, y),
        shapes="broadcast",
        domains=(POSITIVE, EXPONENT),
        stacked=_stack_broadcast,
        vjp_rules=("g * y * x**(y - 1)", "g * x**y * log(x)"),
        slips=(
            Slip("g * x**y", "g * x**y * log(x)",
                 "the factor log(x) of d(x**y)/dy = x**y * log(x) is missing", _log_missing, many=True),
        ),
        function="pow",
        title="pow (tensor exponent)",
    ),
    OpSpec(
        "cross_entropy",
        ("logits",),
        _cross_entropy,
        _tf_cross_entropy,
        shapes="logits",
        params=(Param("labels"),),
        param_rule="class_labels",
        # Each row's loss sums over its C classes (the softmax's normalizer).
        contraction=lambda shapes, params: shapes[0][-1],
        stacked=_no_stacking,
        vjp_rules=("g * (softmax(logits) - one_hot(labels, C)) / N, N the number of rows",),
        factors=_cross_entropy_factors,
    ),
)
