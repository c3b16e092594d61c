"""The indexing ops of docs/contract.md, section 1b: ``take``, ``getitem``, ``where``, ``flip``, ``pad``.

Their backward rules are the ones courses assign for indexing: a gather's
gradient is a scatter that *adds* (an index used twice feeds two outputs),
``where``'s cotangent is split by its condition, ``flip`` flips it back and
``pad`` crops it. Integer and boolean inputs (``take``'s indices,
``getitem``'s integer-array key, ``where``'s condition) are parameters: drawn,
never differentiated. This module imports only NumPy (``gradcheck.ops`` reads
it without TensorFlow).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradcheck._opspec import FREE, OpSpec, Param, Shapes, Slip, Stacked, shifted_axis, stack_axis_param

__all__ = ["ROWS", "advanced_first", "key_entries", "pad_pairs", "repeated_positions"]


# --- Shared helpers: keys, indices, pad widths ------------------------------------


def key_entries(key: Any) -> tuple[Any, ...]:
    """Return a ``getitem`` key as a tuple of entries (a bare int, slice, array, ``None`` or ``...`` is one)."""
    return key if isinstance(key, tuple) else (key,)


def _is_array(entry: Any) -> bool:
    return isinstance(entry, np.ndarray)


def _is_integer(entry: Any) -> bool:
    return isinstance(entry, (int, np.integer)) and not isinstance(entry, (bool, np.bool_))


def _advanced(entry: Any) -> bool:
    # NumPy treats an integer next to an integer array as one more advanced index.
    return _is_array(entry) or _is_integer(entry)


def advanced_first(key: Any) -> bool:
    """Return whether NumPy puts the array's axes first in ``x[key]`` (its advanced indices are not adjacent).

    With an integer array in the key, the integers are advanced indices too;
    when ``None``, ``...`` or a slice separates any two of them, the indexed
    axes go first in the result instead of where the array stands.
    """
    entries = key_entries(key)
    if not any(_is_array(entry) for entry in entries):
        return False
    where = [index for index, entry in enumerate(entries) if _advanced(entry)]
    return where != list(range(where[0], where[-1] + 1))


def _consumed(entries: tuple[Any, ...]) -> int:
    """Return how many axes of x a key's entries index (an integer, a slice or an array: one each)."""
    return sum(1 for entry in entries if entry is not None and entry is not Ellipsis)


def _array_axes(entries: tuple[Any, ...], ndim: int) -> tuple[int, int]:
    """Return, for the key's integer array, the axis of x it indexes and its axis in ``x[basic key]``.

    The basic key is the key with the array replaced by ``slice(None)``: integers drop
    their axis, ``None`` adds one, ``...`` stands for the axes no entry names.
    """
    x_axis = result_axis = 0
    for entry in entries:
        if _is_array(entry):
            return x_axis, result_axis
        if entry is Ellipsis:
            skipped = ndim - _consumed(entries)
            x_axis, result_axis = x_axis + skipped, result_axis + skipped
        elif entry is None:
            result_axis += 1
        elif _is_integer(entry):
            x_axis += 1
        else:
            x_axis, result_axis = x_axis + 1, result_axis + 1
    raise ValueError("the key holds no integer array")


def _flat_positions(indices: np.ndarray, length: int) -> np.ndarray:
    """Return ``indices`` (negative ones too) as positions in ``[0, length)``."""
    return np.where(indices < 0, indices + length, indices)


def repeated_positions(indices: np.ndarray, length: int) -> dict[int, list[int]]:
    """Return each position in ``[0, length)`` that ``indices`` name more than once, with its spellings.

    >>> repeated_positions(np.array([0, 2, 0, -1]), 3)
    {0: [0, 0], 2: [2, -1]}
    """
    spellings: dict[int, list[int]] = {}
    for index in np.ravel(indices).tolist():
        spellings.setdefault(index + length if index < 0 else index, []).append(index)
    return {position: spelled for position, spelled in sorted(spellings.items()) if len(spelled) > 1}


def _indexed(x_shape: tuple[int, ...], params: dict[str, Any]) -> tuple[np.ndarray, int] | None:
    """Return the integer array a take or getitem case indexes with, and the length of the axis it indexes."""
    if "indices" in params:
        axis = params["axis"]
        length = int(np.prod(x_shape)) if axis is None else x_shape[axis]
        return np.asarray(params["indices"]), length
    entries = key_entries(params["key"])
    arrays = [entry for entry in entries if _is_array(entry)]
    if not arrays:
        return None
    x_axis, _ = _array_axes(entries, len(x_shape))
    return arrays[0], x_shape[x_axis]


def _most_uses(shapes: Shapes, params: dict[str, Any]) -> int:
    """Return how many outputs the most used entry of x feeds: the terms its gradient entry sums."""
    indexed = _indexed(shapes[0], params)
    if indexed is None:
        return 1
    indices, length = indexed
    counts = np.bincount(_flat_positions(np.ravel(indices), length), minlength=1)
    return int(np.max(counts, initial=1))


def _repeats_in_words(inputs: tuple[np.ndarray, ...], params: dict[str, Any]) -> dict[str, str]:
    indexed = _indexed(inputs[0].shape, params)
    repeated = {} if indexed is None else repeated_positions(*indexed)
    if not repeated:
        return {"repeated": "no index repeats here"}
    said = [f"{position} (as {', '.join(map(str, spelled))})" for position, spelled in repeated.items()]
    return {"repeated": f"the indices name {'; '.join(said)} more than once"}


def _overwrite_take(g: np.ndarray, x: np.ndarray, y: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    grad = np.zeros(x.shape)
    indices, axis = params["indices"], params["axis"]
    if axis is None:
        flat = np.zeros(x.size)
        flat[indices] = g
        return flat.reshape(x.shape)
    grad[(slice(None),) * (axis % x.ndim) + (indices,)] = g
    return grad


def _overwrite_getitem(g: np.ndarray, x: np.ndarray, y: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    grad = np.zeros(x.shape)
    grad[params["key"]] = g
    return grad


_OVERWRITE_WHY = (
    "{repeated}, and an assignment keeps one cotangent entry per repeated index where every use must add "
    "up: accumulate them (a scatter-add)"
)


def pad_pairs(pad_width: Any, ndim: int) -> tuple[tuple[int, int], ...]:
    """Return any of NumPy's ``pad_width`` forms as one ``(before, after)`` pair per axis.

    >>> pad_pairs(1, 2), pad_pairs((0, 2), 2), pad_pairs(((1, 0), (0, 2)), 2)
    (((1, 1), (1, 1)), ((0, 2), (0, 2)), ((1, 0), (0, 2)))
    """
    pairs = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (ndim, 2))
    return tuple((int(before), int(after)) for before, after in pairs.tolist())


# --- NumPy float64 forwards -----------------------------------------------------


def _take(x: np.ndarray, indices: np.ndarray, axis: Any = None) -> np.ndarray:
    return np.take(x, indices, axis=axis)


def _getitem(x: np.ndarray, key: Any) -> np.ndarray:
    # A copy: basic indexing gives a view of x.
    return np.array(x[key], dtype=np.float64)


def _where(a: np.ndarray, b: np.ndarray, condition: np.ndarray) -> np.ndarray:
    # Operands first, the condition by keyword: how the oracles call a row's forwards.
    return np.where(condition, a, b)


def _flip(x: np.ndarray, axis: Any = None) -> np.ndarray:
    return np.flip(x, axis)


def _pad(x: np.ndarray, pad_width: Any) -> np.ndarray:
    return np.pad(x, pad_width)


# --- TensorFlow forwards ----------------------------------------------------------


def _tf_take(tf: Any, x: Any, indices: np.ndarray, axis: Any = None) -> Any:
    # tf.gather has no negative indices: they are counted from the end, as NumPy does.
    if axis is None:
        flat = tf.reshape(x, [-1])
        return tf.gather(flat, _flat_positions(indices, int(flat.shape[0])))
    return tf.gather(x, _flat_positions(indices, int(x.shape[axis])), axis=axis)


def _tf_getitem(tf: Any, x: Any, key: Any) -> Any:
    # Basic entries through the tensor's strided slice (tf.Tensor.__getitem__: steps,
    # negative bounds, None, ...); the integer array, if any, as a tf.gather after it.
    entries = key_entries(key)
    if not any(_is_array(entry) for entry in entries):
        return x[entries]
    x_axis, result_axis = _array_axes(entries, x.shape.rank)
    array = next(entry for entry in entries if _is_array(entry))
    basic = x[tuple(slice(None) if _is_array(entry) else entry for entry in entries)]
    gathered = tf.gather(basic, _flat_positions(array, int(x.shape[x_axis])), axis=result_axis)
    if not advanced_first(key):
        return gathered
    # NumPy's rule for separated advanced indices: the array's axes come first.
    moved = list(range(result_axis, result_axis + array.ndim))
    rest = [axis for axis in range(gathered.shape.rank) if axis not in moved]
    return tf.transpose(gathered, perm=moved + rest)


def _tf_where(tf: Any, a: Any, b: Any, condition: np.ndarray) -> Any:
    return tf.where(tf.constant(condition), a, b)


def _tf_flip(tf: Any, x: Any, axis: Any = None) -> Any:
    axes = list(range(x.shape.rank)) if axis is None else list(axis) if isinstance(axis, tuple) else [axis]
    return tf.reverse(x, axis=axes)


def _tf_pad(tf: Any, x: Any, pad_width: Any) -> Any:
    return tf.pad(x, [list(pair) for pair in pad_pairs(pad_width, x.shape.rank)])


# --- Batching rules: a new leading axis for k cases -------------------------------


def _stack_take(shapes: Shapes, params: dict[str, Any], k: int) -> Stacked:
    # axis=None indexes the flattened operand: each case is one row of the stack.
    if params["axis"] is None:
        return ((int(np.prod(shapes[0])),),), {**params, "axis": 1}
    return shapes, {**params, "axis": shifted_axis(params["axis"], len(shapes[0]))}


def _stack_getitem(shapes: Shapes, params: dict[str, Any], k: int) -> Stacked:
    if advanced_first(params["key"]):
        raise NotImplementedError(
            "an integer array separated from the key's integers puts its axes before the stacking axis "
            "(NumPy's rule for separated advanced indices): such cases are answered one by one"
        )
    return shapes, {**params, "key": (slice(None), *key_entries(params["key"]))}


def _stack_where(shapes: Shapes, params: dict[str, Any], k: int) -> Stacked:
    # The condition is shared by the k cases: every operand is padded to the rank
    # of all three, so the stacking axis lines up before the condition's axes.
    condition = np.asarray(params["condition"])
    rank = max(condition.ndim, *(len(shape) for shape in shapes))
    return tuple((1,) * (rank - len(shape)) + tuple(shape) for shape in shapes), params


def _stack_pad(shapes: Shapes, params: dict[str, Any], k: int) -> Stacked:
    return shapes, {**params, "pad_width": ((0, 0), *pad_pairs(params["pad_width"], len(shapes[0])))}


# --- Wrong rules ---------------------------------------------------------------------


def _sum_to(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    leading = g.ndim - len(shape)
    g = np.sum(g, axis=tuple(range(leading))) if leading > 0 else g
    stretched = tuple(axis for axis, size in enumerate(shape) if size == 1 and g.shape[axis] != 1)
    return (np.sum(g, axis=stretched, keepdims=True) if stretched else g).reshape(shape)


def _unflipped(g: np.ndarray, x: np.ndarray, y: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    return g


def _pad_cropped_wrong_side(g: np.ndarray, x: np.ndarray, y: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    pairs = pad_pairs(params["pad_width"], x.ndim)
    return g[tuple(slice(after, after + size) for (_, after), size in zip(pairs, x.shape))]


ROWS: tuple[OpSpec, ...] = (
    OpSpec(
        "take",
        ("x",),
        _take,
        # TensorFlow: tf.gather (of the flattened x for axis=None), negative indices counted from the end.
        _tf_take,
        shapes="nonscalar",
        params=(Param("indices"), Param("axis", None)),
        param_rule="take_indices",
        # An entry named k times feeds k outputs: its gradient sums k cotangent entries.
        contraction=_most_uses,
        stacked=_stack_take,
        vjp_rules=("np.add.at(zeros_like(x), indices, g) along axis (a scatter-add: repeated indices "
                   "add up; axis=None: into the flattened x)",),
        slips=(
            Slip("grad[indices] = g", "np.add.at(grad, indices, g)", _OVERWRITE_WHY, _overwrite_take,
                 details=_repeats_in_words),
        ),
    ),
    OpSpec(
        "getitem",
        ("x",),
        _getitem,
        # TensorFlow: tf.Tensor.__getitem__ (tf.strided_slice) for the basic entries, then tf.gather
        # for the integer array (moved first where NumPy's rule for separated advanced indices says).
        _tf_getitem,
        shapes="nonscalar",
        params=(Param("key"),),
        param_rule="index_key",
        contraction=_most_uses,
        stacked=_stack_getitem,
        vjp_rules=("np.add.at(zeros_like(x), key, g) (a scatter-add: entries an integer array names "
                   "twice add up)",),
        slips=(
            Slip("grad[key] = g", "np.add.at(grad, key, g)", _OVERWRITE_WHY, _overwrite_getitem,
                 details=_repeats_in_words),
        ),
    ),
    OpSpec(
        "where",
        ("a", "b"),
        _where,
        # TensorFlow: tf.where (broadcasting all three, as TensorFlow 2's where does).
        _tf_where,
        shapes="broadcast",
        params=(Param("condition", before=True),),
        param_rule="condition",
        domains=(FREE, FREE),
        stacked=_stack_where,
        vjp_rules=("g where condition, 0 elsewhere (summed back to a's shape)",
                   "g where not condition, 0 elsewhere (summed back to b's shape)"),
        slips=(
            Slip("g for both a and b (the cotangent unmasked)",
                 "g * condition for a and g * ~condition for b",
                 "the cotangent is sent to both branches: each output entry comes from a where the "
                 "condition holds and from b where it does not, so each operand gets g only there",
                 lambda g, inputs, y, params: [_sum_to(g, inputs[0].shape), _sum_to(g, inputs[1].shape)],
                 many=True),
        ),
    ),
    OpSpec(
        "flip",
        ("x",),
        _flip,
        # TensorFlow: tf.reverse over the listed axes (every axis for axis=None).
        _tf_flip,
        shapes="nonscalar",
        params=(Param("axis", None),),
        param_rule="flip_axes",
        stacked=stack_axis_param,
        vjp_rules=("flip(g, axis)",),
        slips=(
            Slip("g (not flipped)", "flip(g, axis)",
                 "the cotangent is not flipped back: output i comes from input n - 1 - i along each "
                 "flipped axis, so the gradient is the cotangent flipped along the same axes",
                 _unflipped),
        ),
    ),
    OpSpec(
        "pad",
        ("x",),
        _pad,
        # TensorFlow: tf.pad (constant zeros) with pad_width written as one pair per axis.
        _tf_pad,
        shapes="nonscalar",
        params=(Param("pad_width"),),
        param_rule="pad_width",
        stacked=_stack_pad,
        vjp_rules=("g cropped back to x: g[before:before + n] along each axis",),
        slips=(
            Slip("g[after:after + n]", "g[before:before + n]",
                 "the cotangent is cropped from the wrong side: x starts after the `before` padding of "
                 "each axis",
                 _pad_cropped_wrong_side),
        ),
    ),
)
