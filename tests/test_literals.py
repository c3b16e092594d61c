"""Static parameters the course ops add (integer and boolean arrays, slices, ``...``) survive JSON and print as Python."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gradcheck._literals import from_json, python_value, source, to_json
from gradcheck.ops import OpSpec, Param

VALUES = [
    np.array([0, 0, 2, -1]),
    np.array([[True, False], [False, True]]),
    (slice(None, None, -1), Ellipsis, None, 1),
    (slice(1, -1, 2), np.array([2, 2, 0])),
    ((0, -1), 3, "ij,jk->ik", None, True, 0.5),
]


def _same(a, b):
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_a_parameter_survives_json_and_its_source_evaluates_back_to_it(value):
    stored = json.loads(json.dumps(to_json(value)))
    assert _same(from_json(stored), value)
    assert _same(python_value(stored), value)
    assert _same(eval(source(value), {"np": np}), value)  # noqa: S307 - our own literal


def test_only_integer_and_boolean_arrays_are_parameters():
    with pytest.raises(ValueError, match="integers or booleans"):
        to_json(np.array([0.5]))
    with pytest.raises(ValueError, match="dtype 'float64'"):
        from_json({"array": [0.5], "dtype": "float64"})


def test_the_engine_call_puts_before_parameters_first_and_lists_listed_operands():
    where = OpSpec("where", ("a", "b"), np.where, None, "broadcast", params=(Param("condition", before=True),))
    condition = np.array([True, False])
    args, kwargs = where.engine_args(["A", "B"], {"condition": condition})
    assert args[0] is condition and args[1:] == ("A", "B") and kwargs == {}
    assert where.call_text(["x0", "x1"], {"condition": condition}) == "where(np.array([True, False], dtype=bool), x0, x1)"
    concat = OpSpec("concat", ("xs",), np.concatenate, None, "broadcast", params=(Param("axis", 0),),
                    variadic=True, listed=True)
    assert concat.names_for(3) == ("xs[0]", "xs[1]", "xs[2]")
    assert concat.engine_args(["A", "B"], {"axis": -1}) == ((["A", "B"],), {"axis": -1})
    assert concat.call_text(["x0", "x1"], {"axis": 0}) == "concat([x0, x1])"


def test_parse_args_reads_back_what_engine_args_passes():
    where = OpSpec("where", ("a", "b"), np.where, None, "broadcast", params=(Param("condition", before=True),))
    einsum = OpSpec("einsum", ("operands",), np.einsum, None, "einsum", params=(Param("subscripts", before=True),),
                    variadic=True)
    concat = OpSpec("concat", ("xs",), np.concatenate, None, "concat", params=(Param("axis", 0),),
                    variadic=True, listed=True)
    take = OpSpec("take", ("x",), np.take, None, "take", params=(Param("indices"), Param("axis", None)))
    for spec, operands, params in [
        (where, ["A", "B"], {"condition": np.array([True])}),
        (einsum, ["A", "B", "C"], {"subscripts": "ij,jk,kl->il"}),
        (concat, ["A", "B"], {"axis": -1}),
        (concat, ["A"], {"axis": 0}),
        (take, ["X"], {"indices": np.array([0, 0]), "axis": 1}),
        (take, ["X"], {"indices": np.array([1]), "axis": None}),
    ]:
        args, kwargs = spec.engine_args(operands, params)
        parsed_operands, parsed = spec.parse_args(args, kwargs)
        assert parsed_operands == operands
        assert parsed.keys() == params.keys() and all(_same(parsed[k], params[k]) for k in params)
