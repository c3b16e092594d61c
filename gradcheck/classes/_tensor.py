"""The spellings a Tensor class may have for each op: operators, methods, functions of its module.

``tensor_spellings(cls, module)`` lists, per op, every way the class might
spell it, most likely first; ``gradcheck.classes._probe.choose`` keeps the one
whose forward matches. Only names the class (or its module) actually has are
listed, so probing costs a few calls per op.
"""

from __future__ import annotations

import functools
import inspect
import operator
from types import ModuleType
from typing import Any, Callable

from gradcheck.classes._probe import Spelling, Unspellable
from gradcheck.ops import ALIASES, OPS, REQUIRED

__all__ = ["OPERATORS", "expression_spelling", "method_names", "module_functions", "tensor_spellings"]

#: Python operators, by op: the text shown and the call.
OPERATORS: dict[str, tuple[str, Callable[..., Any]]] = {
    "add": ("a + b", operator.add),
    "subtract": ("a - b", operator.sub),
    "multiply": ("a * b", operator.mul),
    "divide": ("a / b", operator.truediv),
    "negative": ("-x", operator.neg),
    "abs": ("abs(x)", abs),
    "pow": ("x ** p", operator.pow),
    "matmul": ("a @ b", operator.matmul),
}

# Other names libraries use for an op, beside its own and the contract's aliases;
# none is "named": it is used only where its forward matches.
_OTHER_NAMES: dict[str, tuple[str, ...]] = {
    "matmul": ("dot", "mm"),
    "divide": ("truediv",),
    "reshape": ("view",),
    "broadcast_to": ("expand",),
    "max": ("amax",),
    "permute_dims": ("permute",),
    "log_softmax": ("logsoftmax",),
    "concat": ("cat", "concatenate"),
}

_DUNDERS = {
    "add": "__add__", "subtract": "__sub__", "multiply": "__mul__", "divide": "__truediv__",
    "negative": "__neg__", "abs": "__abs__", "pow": "__pow__", "matmul": "__matmul__",
}


def method_names(op: str) -> list[tuple[str, bool]]:
    """Return ``(name, named)`` for the method and function names ``op`` may have."""
    own = [op, *(alias for alias, canonical in ALIASES.items() if canonical == op)]
    return [(name, True) for name in own] + [(name, False) for name in _OTHER_NAMES.get(op, ())]


def module_functions(cls: type, module: ModuleType | None) -> dict[str, Callable[..., Any]]:
    """Return the functions defined in the class's own module (not imported into it), by name."""
    if module is None:
        return {}
    return {
        name: value for name, value in vars(module).items()
        if inspect.isfunction(value) and value.__module__ == module.__name__ and not name.startswith("_")
    }


def _has(cls: type, name: str) -> bool:
    return callable(getattr(cls, name, None)) or isinstance(getattr(cls, name, None), property)


def _reduction_calls(base: str, call: Callable[..., Any], named: bool, single_axis: bool) -> list[Spelling]:
    """Spellings of ``x.sum(axis, keepdims)`` (or ``softmax(x, axis)``) under the keyword names libraries use."""
    spellings = []
    # Without keepdims first: of two spellings that do as much, the one shown is the one that runs.
    keep_styles: tuple[str | None, ...] = (None,) if single_axis else (None, "keepdims", "keepdim")
    for axis_kw in ("axis", "dim", None):
        for keep_kw in keep_styles:
            shown_axis = "axis" if axis_kw is None else f"{axis_kw}=axis"
            shown = shown_axis if single_axis or keep_kw is None else f"{shown_axis}, {keep_kw}=keepdims"
            text = base.replace("ARGS", shown)

            def spelled(x: Any, axis: Any = None, keepdims: bool = False, *, _a: str | None = axis_kw,
                        _k: str | None = keep_kw, _t: str = text) -> Any:
                args: list[Any] = []
                kwargs: dict[str, Any] = {}
                given = axis is not None and not (single_axis and axis == -1)
                if given:
                    if _a is None:
                        args.append(axis)
                    else:
                        kwargs[_a] = axis
                if keepdims:
                    if _k is None:
                        raise Unspellable(f"{_t} has no keepdims (the probe found keepdims=False only)")
                    kwargs[_k] = True
                return call(x, *args, **kwargs)

            spellings.append(Spelling(text, spelled, named))
        if single_axis:
            # An explicit axis=-1 as well: a softmax whose default axis is not the last.
            def explicit(x: Any, axis: int = -1, *, _a: str | None = axis_kw) -> Any:
                return call(x, axis) if _a is None else call(x, **{_a: axis})

            spellings.append(Spelling(base.replace("ARGS", "axis" if axis_kw is None else f"{axis_kw}=axis"),
                                      explicit, named))
    return spellings


def _forms(op: str, name: str, named: bool, bound: Callable[[Any], Callable[..., Any]], shown: str) -> list[Spelling]:
    """Spellings of ``op`` through one callable: ``bound(x)`` returns it for the first operand.

    ``shown`` is how it is displayed with ``ARGS`` for the arguments (``x.sum(ARGS)``, ``sum(x, ARGS)``).
    """
    spec = OPS[op]
    if spec.param_rule in ("reduction", "single_axis"):
        return _reduction_calls(shown, lambda x, *a, **k: bound(x)(*a, **k), named, spec.param_rule == "single_axis")
    if op in ("reshape", "broadcast_to", "permute_dims"):
        param = spec.params[0].name
        return [
            Spelling(shown.replace("ARGS", param), lambda x, **p: bound(x)(p[param]), named),
            Spelling(shown.replace("ARGS", f"*{param}"), lambda x, **p: bound(x)(*p[param]), named),
        ]
    if op == "pow":
        return [Spelling(shown.replace("ARGS", "p"), lambda x, p: bound(x)(p), named)]
    if spec.params and not any(param.before for param in spec.params):
        return _parameter_calls(spec, shown, bound, named)
    if len(spec.operands) == 2:
        return [Spelling(shown.replace("ARGS", "b"), lambda a, b: bound(a)(b), named)]
    return [Spelling(shown.replace("ARGS", ""), lambda x: bound(x)(), named)]


#: How PyTorch-style classes name NumPy's parameters.
_TORCH_NAMES = {"axis": "dim", "keepdims": "keepdim"}


def _parameter_calls(spec: Any, shown: str, bound: Callable[[Any], Callable[..., Any]],
                     named: bool) -> list[Spelling]:
    """Spellings of an op with parameters (``x.var(axis=axis, correction=correction)``) in three styles.

    NumPy's names and PyTorch's (``dim``, ``keepdim``) by keyword, or every
    parameter by position. Required parameters go by position; an optional
    one only when it differs from its default, so a method that lacks it
    still runs on the cases that leave it at its default (and probing
    declares only those).
    """
    spellings = []
    for style in _STYLES:
        text = shown.replace("ARGS", ", ".join([*spec.operands[1:], *_parameter_words(spec, style)]))

        def spelled(*operands: Any, _style: str = style, **params: Any) -> Any:
            args, kwargs = _styled(spec, params, _style)
            return bound(operands[0])(*operands[1:], *args, **kwargs)

        spellings.append(Spelling(text, spelled, named))
    return spellings


def _free_calls(spec: Any, function: Callable[..., Any], shown: str, named: bool) -> list[Spelling]:
    """Spellings of an op called as a function of all its operands, in the three styles of ``_parameter_calls``.

    For the ops whose first argument is not a tensor: ``where(condition, a, b)``,
    ``einsum(subscripts, *operands)``, ``concat([a, b], axis=axis)`` (a module
    function or a static method of the class).
    """
    before = [param.name for param in spec.params if param.before]
    operands = [f"[{spec.operands[0]}]"] if spec.listed else [f"*{spec.operands[0]}"] if spec.variadic else list(spec.operands)
    spellings = []
    for style in _STYLES:
        text = shown.replace("ARGS", ", ".join([*before, *operands, *_parameter_words(spec, style)]))

        def spelled(*values: Any, _style: str = style, **params: Any) -> Any:
            args, kwargs = _styled(spec, params, _style)
            given = [list(values)] if spec.listed else list(values)
            return function(*(params[name] for name in before), *given, *args, **kwargs)

        spellings.append(Spelling(text, spelled, named))
    return spellings


#: NumPy's parameter names by keyword, PyTorch's (``_TORCH_NAMES``), or all by position.
_STYLES = ("numpy", "torch", "positional")


def _parameter_words(spec: Any, style: str) -> list[str]:
    words = []
    for param in spec.params:
        if param.before:
            continue
        if param.default is REQUIRED or style == "positional":
            words.append(param.name)
        else:
            keyword = _TORCH_NAMES.get(param.name, param.name) if style == "torch" else param.name
            words.append(f"{keyword}={param.name}")
    return words


def _styled(spec: Any, params: dict[str, Any], style: str) -> tuple[list[Any], dict[str, Any]]:
    """Return the arguments after the operands for ``params`` in ``style`` (defaults left out)."""
    if style == "positional":
        listed = [param for param in spec.params if not param.before]
        given = [params[param.name] for param in listed]
        # Trailing parameters at their defaults are left out, as a person calls it.
        while given and listed[len(given) - 1].at_default(given[-1]):
            given.pop()
        return given, {}
    positional, keywords = spec.call_args(params)
    return list(positional), {(_TORCH_NAMES.get(name, name) if style == "torch" else name): value
                              for name, value in keywords.items()}


def _transposes(cls: type, functions: dict[str, Callable[..., Any]]) -> dict[str, list[Spelling]]:
    """``matrix_transpose`` and the no-argument transposes: chosen by what they do, not their name."""

    def reversed_only(text: str, get: Callable[[Any], Any]) -> Spelling:
        def spelled(x: Any, axes: tuple[int, ...]) -> Any:
            if tuple(axes) != tuple(reversed(range(len(axes)))):
                raise Unspellable(f"{text} reverses every axis")
            return get(x)

        return Spelling(f"{text} (axes reversed only)", spelled, True)

    matrix = []
    permute = []
    if _has(cls, "mT"):
        matrix.append(Spelling("x.mT", lambda x: x.mT, True))
    if _has(cls, "matrix_transpose"):
        matrix.append(Spelling("x.matrix_transpose()", lambda x: x.matrix_transpose(), True))
    if "matrix_transpose" in functions:
        matrix.append(Spelling("matrix_transpose(x)", functions["matrix_transpose"], True))
    if _has(cls, "transpose"):
        matrix += [
            Spelling("x.transpose(-2, -1)", lambda x: x.transpose(-2, -1), False),
            Spelling("x.transpose()", lambda x: x.transpose(), False),
        ]
        permute.append(reversed_only("x.transpose()", lambda x: x.transpose()))
    if _has(cls, "swapaxes"):
        matrix.append(Spelling("x.swapaxes(-2, -1)", lambda x: x.swapaxes(-2, -1), False))
    if _has(cls, "T"):
        matrix.append(Spelling("x.T", lambda x: x.T, False))
        permute.append(reversed_only("x.T", lambda x: x.T))
    return {"matrix_transpose": matrix, "permute_dims": permute}


def tensor_spellings(cls: type, module: ModuleType | None) -> dict[str, list[Spelling]]:
    """Return every candidate spelling of every op for ``cls``, most likely first."""
    functions = module_functions(cls, module)
    transposes = _transposes(cls, functions)
    table: dict[str, list[Spelling]] = {}
    for op in OPS:
        spellings: list[Spelling] = []
        if op in OPERATORS and _has(cls, _DUNDERS[op]):
            text, call = OPERATORS[op]
            if op == "pow":
                spellings.append(Spelling(text, lambda x, p: x ** p, True))
            else:
                spellings.append(Spelling(text, call, True))
        if op == "matrix_transpose":
            table[op] = transposes[op]
            continue
        if op == "getitem" and _has(cls, "__getitem__"):
            spellings.append(Spelling("x[key]", lambda x, key: x[key], True))
        spec = OPS[op]
        if spec.listed or any(param.before for param in spec.params):
            for name, named in method_names(op):
                if name in functions:
                    spellings += _free_calls(spec, functions[name], f"{name}(ARGS)", named)
                if _has(cls, name):
                    spellings += _free_calls(spec, getattr(cls, name), f"{cls.__name__}.{name}(ARGS)", named)
            if op == "where" and _has(cls, "where"):
                # PyTorch's a.where(condition, b): a where condition holds, else b.
                spellings.append(Spelling("a.where(condition, b)", lambda a, b, condition: a.where(condition, b), True))
            table[op] = [_tidy(s) for s in spellings]
            continue
        for name, named in method_names(op):
            if _has(cls, name):
                spellings += _forms(op, name, named, _bound_method(name), f"x.{name}(ARGS)")
        for name, named in method_names(op):
            if name in functions:
                spellings += _forms(op, name, named, _bound_function(functions[name]), f"{name}(x, ARGS)")
        spellings += transposes.get(op, [])
        table[op] = [_tidy(s) for s in spellings]
    return table


def _bound_method(name: str) -> Callable[[Any], Callable[..., Any]]:
    return lambda x: getattr(x, name)


def _bound_function(function: Callable[..., Any]) -> Callable[[Any], Callable[..., Any]]:
    return lambda x: functools.partial(function, x)


def _tidy(spelling: Spelling) -> Spelling:
    """Drop the empty argument list's comma: ``exp(x, )`` reads ``exp(x)``."""
    text = spelling.text.replace(", )", ")")
    return spelling if text == spelling.text else Spelling(text, spelling.call, spelling.named)


def expression_spelling(op: str, text: str, namespace: dict[str, Any]) -> Spelling:
    """Return the spelling of a configured entry: a method name, or an expression in operands and parameters."""
    spec = OPS[op]
    if text.isidentifier():
        def method(*operands: Any, **params: Any) -> Any:
            positional, keywords = spec.call_args(params)
            return getattr(operands[0], text)(*operands[1:], *positional, **keywords)

        rest = ", ".join([*spec.operands[1:], *(p.name for p in spec.params)])
        return Spelling(f"{spec.operands[0]}.{text}({rest})", method, True)
    code = compile(text, f"<[tool.gradcheck.ops] {op}>", "eval")

    def evaluated(*operands: Any, **params: Any) -> Any:
        return eval(code, {**namespace, **dict(zip(spec.operands, operands)), **params})  # noqa: S307 - the user's own configuration

    return Spelling(text, evaluated, True)
