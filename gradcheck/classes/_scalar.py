"""Scalar classes (micrograd's ``Value``): checked on NumPy object arrays of them.

A leaf is an object array holding one ``Value`` per entry. Elementwise ops
apply the class's own operator or method to each entry; ``matmul``,
``sum`` and ``mean`` are NumPy's object-array loops, which call the class's
``+``, ``*`` and ``/``; reshapes, transposes and broadcasts only rearrange the
objects (a broadcast reuses one ``Value`` several times: the class's
backward must then add up its gradients). Ops with no elementwise meaning
(``softmax``) are left unsupported.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Callable

import numpy as np

from gradcheck.classes._probe import Spelling
from gradcheck.classes._tensor import OPERATORS, method_names, module_functions
from gradcheck.ops import OPS

__all__ = ["objects", "scalar_spellings", "UNSUPPORTED"]

#: Ops a class of scalars cannot have, with the reason the mapping shows.
UNSUPPORTED = {
    op: "a scalar class has no vector op like this; compose it from elementwise ops in a program"
    for op in ("softmax", "log_softmax", "logsumexp")
}

_ELEMENTWISE_BINARY = ("add", "subtract", "multiply", "divide", "maximum")


def objects(result: Any) -> np.ndarray:
    """Return ``result`` as an object array: NumPy gives a bare object for a 0-d result."""
    if isinstance(result, np.ndarray):
        return result
    array = np.empty((), dtype=object)
    array[()] = result
    return array


def _each(function: Callable[..., Any], arity: int) -> Callable[..., np.ndarray]:
    """Return ``function`` applied entry by entry (broadcasting) to object arrays."""
    ufunc = np.frompyfunc(function, arity, 1)
    return lambda *arrays: objects(ufunc(*arrays))


def _mean(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    # Not np.mean: it divides by a NumPy integer, which a class written for Python numbers
    # may not take (micrograd's x / n is x * n**-1, and np.int64(n)**-1 raises).
    total = objects(np.sum(x, axis=axis, keepdims=keepdims))
    n = float(x.size // max(total.size, 1))
    return _each(lambda v: v / n, 1)(total)


def _structural() -> dict[str, Spelling]:
    # NumPy's object-array machinery: only the class's + * / (and comparisons for max) run.
    return {
        "matmul": Spelling("a @ b (NumPy matmul over the objects: the class's * and +)",
                           lambda a, b: objects(np.matmul(a, b))),
        "matrix_transpose": Spelling("np.swapaxes(x, -1, -2) (the objects rearranged)",
                                     lambda x: objects(np.swapaxes(x, -1, -2))),
        "permute_dims": Spelling("np.transpose(x, axes) (the objects rearranged)",
                                 lambda x, axes: objects(np.transpose(x, axes))),
        "reshape": Spelling("np.reshape(x, shape) (the objects rearranged)",
                            lambda x, shape: objects(np.reshape(x, shape))),
        "broadcast_to": Spelling("np.broadcast_to(x, shape) (objects reused)",
                                 lambda x, shape: objects(np.broadcast_to(x, shape))),
        "sum": Spelling("np.sum(x, axis, keepdims) (the class's +)",
                        lambda x, axis=None, keepdims=False: objects(np.sum(x, axis=axis, keepdims=keepdims))),
        "mean": Spelling("np.sum(x, axis, keepdims) / n (the class's + and /)", _mean),
        "max": Spelling("np.max(x, axis, keepdims) (the class's comparisons pick the objects)",
                        lambda x, axis=None, keepdims=False: objects(np.max(x, axis=axis, keepdims=keepdims))),
    }


def scalar_spellings(cls: type, module: ModuleType | None) -> dict[str, list[Spelling]]:
    """Return the candidate spellings of every op on object arrays of ``cls``."""
    functions = module_functions(cls, module)
    structural = _structural()
    table: dict[str, list[Spelling]] = {}
    for op, spec in OPS.items():
        if op in UNSUPPORTED:
            table[op] = []
            continue
        if op in structural:
            table[op] = [structural[op]]
            continue
        spellings: list[Spelling] = []
        binary = op in _ELEMENTWISE_BINARY
        if op in OPERATORS:
            text, call = OPERATORS[op]
            if op == "pow":
                spellings.append(Spelling("x ** p, on each entry", lambda x, p: _each(lambda v: v ** p, 1)(x)))
            else:
                spellings.append(Spelling(f"{text}, on each entry", _each(call, 2 if binary else 1)))
        for name, named in method_names(op):
            if not callable(getattr(cls, name, None)):
                continue
            if op == "pow":
                spellings.append(Spelling(f"x.{name}(p), on each entry",
                                          lambda x, p, _n=name: _each(lambda v: getattr(v, _n)(p), 1)(x), named))
            elif binary:
                spellings.append(Spelling(f"a.{name}(b), on each entry",
                                          _each(lambda v, w, _n=name: getattr(v, _n)(w), 2), named))
            elif not spec.params:
                spellings.append(Spelling(f"x.{name}(), on each entry",
                                          _each(lambda v, _n=name: getattr(v, _n)(), 1), named))
        for name, named in method_names(op):
            if name in functions and not spec.params:
                shown = f"{name}(a, b)" if binary else f"{name}(x)"
                spellings.append(Spelling(f"{shown}, on each entry", _each(functions[name], 2 if binary else 1), named))
        table[op] = spellings
    return table
