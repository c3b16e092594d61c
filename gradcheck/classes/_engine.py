"""Build an engine (docs/contract.md, section 1) from a Tensor or scalar ``Value`` class, by probing it.

``build(cls, config)`` finds, in this order: how to make a leaf
(``Class(array)`` with ``requires_grad=True`` or the class's spelling), how
to read a value (``.data``, ``.numpy()``, ``.item()``, ``np.asarray``), each
op's spelling (``_probe.choose``), then how to get a VJP: ``y.backward(g)``
when the class's backward takes the gradient and gives it to a leaf, else a
scalar ``sum(y * g).backward()`` built with the class's own ``*`` and ``sum``.
The result is a ``ClassEngine``: ``variable``, ``value``, ``grad`` and one
attribute per mapped op, so ``gradcheck.engine`` wraps it like any engine.
What could not be found is a ``TargetError`` naming the class and the key of
``[tool.gradcheck]`` that fixes it.
"""

from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence, cast

import numpy as np

from gradcheck.arrays import as_array
from gradcheck.classes._config import ClassConfig
from gradcheck.classes._probe import Choice, Prober, Spelling, choose, describe
from gradcheck.classes._scalar import UNSUPPORTED as SCALAR_UNSUPPORTED
from gradcheck.classes._scalar import objects, scalar_spellings
from gradcheck.classes._tensor import expression_spelling, tensor_spellings
from gradcheck.errors import TargetError
from gradcheck.loading import function_location
from gradcheck.ops import OPS

__all__ = ["ClassEngine", "build", "is_tensor_class"]

_SECTION = "docs/contract.md, section 1c"

#: Constructor keywords that make a leaf differentiable, as libraries spell them.
REQUIRES_GRAD = ("requires_grad", "requires_gradient", "requiresGrad", "needs_grad", "track_grad", "trainable")

#: Parameter names of a ``backward`` that takes the output's gradient.
GRADIENT_NAMES = ("gradient", "grad", "grad_output", "out_grad", "output_grad", "grad_out", "dout", "dy", "g",
                  "seed", "upstream", "initial_grad", "delta")

# Members only an array-like class has: without any, a class holds one number.
_ARRAY_MEMBERS = ("shape", "ndim", "reshape", "sum", "__matmul__", "T", "transpose", "size")


def is_tensor_class(obj: object) -> bool:
    """Return whether ``obj`` is a class a Tensor/Value engine can be built from: it has ``backward``."""
    return inspect.isclass(obj) and callable(getattr(obj, "backward", None))


@dataclass(frozen=True)
class Mapped:
    """How one op is called on the class, for ``gradcheck inspect`` and reports."""

    op: str
    text: str
    note: str = ""


@dataclass(eq=False)
class ClassEngine:
    """An engine built from a class: what ``gradcheck.engine`` wraps (docs/contract.md, section 1).

    ``mapping`` says how each supported op is called, ``unsupported`` why the
    others are not; ``param_support`` is what probing found each op handles,
    ``{op: {param: [allowed values]}}`` (values of ranks up to 3), only for
    ops with a parameter value the class lacks.
    """

    cls: type
    dtype: str
    kind: str  # "tensor" or "scalar"
    leaf_text: str
    value_text: str
    backward_text: str
    mapping: dict[str, Mapped] = field(default_factory=dict)
    unsupported: dict[str, str] = field(default_factory=dict)
    param_support: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    config_source: str = ""
    _make: Callable[[np.ndarray], Any] = field(default=lambda a: a, repr=False)
    _read: Callable[[Any], np.ndarray] = field(default=np.asarray, repr=False)
    _vjp: Callable[[Any, Sequence[Any], np.ndarray], list[np.ndarray]] = field(default=lambda y, xs, g: [], repr=False)

    @property
    def supported_params(self) -> dict[str, dict[str, list[Any]]]:
        """What probing found, as the engine's declared partial support (``gradcheck.support``)."""
        return self.param_support

    def summary(self) -> str:
        """Return one paragraph for a report's notes: how the class was driven and each op called."""
        ops = "; ".join(f"{op} = {mapped.text}" for op, mapped in self.mapping.items())
        return (f"Built from the {self.kind} class {self.cls.__qualname__}: leaves {self.leaf_text}, value "
                f"{self.value_text}, gradient {self.backward_text}. Ops: {ops}. `gradcheck inspect TARGET` "
                "shows why the other ops are unsupported.")

    def variable(self, array: np.ndarray) -> Any:
        return self._make(array)

    def value(self, node: Any) -> np.ndarray:
        return self._read(node)

    def grad(self, y: Any, xs: Sequence[Any], cotangent: np.ndarray) -> list[np.ndarray]:
        return self._vjp(y, xs, cotangent)


# --- Leaves and values ---------------------------------------------------------


def _constructor_keywords(cls: type, config: ClassConfig) -> tuple[dict[str, Any], str | None]:
    """Return the keywords of a leaf and the name of the requires-grad keyword, if the class has one."""
    keywords = dict(config.constructor)
    try:
        parameters = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return keywords, next((k for k in keywords if k in REQUIRES_GRAD), None)
    flag = next((name for name in REQUIRES_GRAD if name in parameters), None)
    if flag is not None and flag not in keywords:
        keywords[flag] = True
    return keywords, flag if flag in keywords else None


def _value_readers(cls: type, config: ClassConfig) -> list[tuple[str, Callable[[Any], Any]]]:
    if config.value is not None:
        name = config.value.removesuffix("()")
        if config.value.endswith("()"):
            return [(f"x.{config.value}", lambda x: getattr(x, name)())]
        return [(f"x.{name}", lambda x: getattr(x, name))]
    return [
        ("x.data", lambda x: x.data),
        ("x.numpy()", lambda x: x.numpy()),
        ("x.value", lambda x: x.value),
        ("x.item()", lambda x: x.item()),
        ("np.asarray(x)", np.asarray),
    ]


def _numeric(cls: type, raw: Any, depth: int = 0) -> np.ndarray:
    """Return a value the class handed back as a float array; a node of the class is read again (``.data`` of torch)."""
    if isinstance(raw, cls) and depth < 2:
        raise TypeError("the value is a node of the class itself")
    array = as_array(raw)
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"the value is an array of {array.dtype}")
    return array


# --- The build -------------------------------------------------------------------


def _probe_array(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    return (np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape) * 0.25 - 0.625).astype(dtype)


def _error(cls: type, *sentences: str) -> TargetError:
    at = function_location(cls)
    return TargetError(f"Cannot build an engine from the class {cls.__qualname__}{f' ({at})' if at else ''}: "
                       + " ".join(sentences))


def _kind(cls: type, config: ClassConfig, make_scalar: Callable[[float], Any], prober: Prober) -> str:
    if config.kind is not None:
        return config.kind
    if any(hasattr(cls, member) for member in _ARRAY_MEMBERS):
        return "tensor"
    # No array member at all, and a leaf's gradient starts as a number (micrograd's grad = 0):
    # a Value of one number. A gradient that starts as None may become an array.
    node, error = prober.attempt(make_scalar, 1.25)
    start = getattr(node, config.grad or "grad", None) if error is None else None
    return "scalar" if isinstance(start, (int, float, np.number)) and not isinstance(start, bool) else "tensor"


def build(cls: type, config: ClassConfig | None = None, module: Any = None) -> ClassEngine:
    """Return the ``ClassEngine`` of ``cls``, probing what ``config`` does not say.

    Raises ``TargetError`` (one paragraph) when no leaf, value, or gradient
    can be found; ops that cannot be mapped are only ``unsupported``.
    """
    config = config or ClassConfig()
    method = config.backward_parts[0] if config.backward_parts else "backward"
    if not (inspect.isclass(cls) and callable(getattr(cls, method, None))):
        raise _error(cls, f"it has no {method}() method, and it is not an engine class either (one with variable, "
                          "value and grad).",
                     "gradcheck builds an engine from a Tensor or Value class with backward() and a grad attribute "
                     f"({_SECTION}), or from an engine object (docs/contract.md, section 1).")
    module = module if module is not None else sys.modules.get(cls.__module__)
    prober = Prober()
    keywords, flag = _constructor_keywords(cls, config)
    shown_keywords = "".join(f", {k}={v!r}" for k, v in keywords.items())
    constant_keywords = {**keywords, flag: False} if flag else keywords

    def make_scalar(value: float) -> Any:
        return cast(Any, cls)(value, **keywords)

    kind = _kind(cls, config, make_scalar, prober)
    if kind == "scalar":
        return _build_scalar(cls, config, module, prober, keywords, shown_keywords, constant_keywords)
    return _build_tensor(cls, config, module, prober, keywords, shown_keywords, constant_keywords)


def _find_reader(cls: type, config: ClassConfig, prober: Prober, make: Callable[[Any], Any],
                 probe: Any, leaf_text: str) -> tuple[str, Callable[[Any], np.ndarray]]:
    leaf, error = prober.attempt(make, probe)
    if error is not None:
        raise _error(cls, f"gradcheck made a leaf with {leaf_text} and it raised {describe(error)}.",
                     "Give the constructor keywords in [tool.gradcheck] constructor = { ... }, "
                     f"or make {cls.__qualname__}(array) work ({_SECTION}).")
    expected = np.asarray(probe, dtype=np.float64)
    tried = []
    for text, reader in _value_readers(cls, config):
        raw, error = prober.attempt(reader, leaf)
        if error is None:
            try:
                value = _numeric(cls, raw)
            except TypeError as exc:
                tried.append(f"{text} ({exc})")
                continue
            if value.shape == expected.shape and np.allclose(value, expected):
                return text, (lambda x, _r=reader: _numeric(cls, _r(x)))
            tried.append(f"{text} (not the array it was made from)")
        else:
            tried.append(f"{text} ({describe(error)})")
    raise _error(cls, f"no way to read a node's value gave back the array it was made from: tried {'; '.join(tried)}.",
                 'Name it in [tool.gradcheck]: value = "data" (an attribute) or value = "numpy()" '
                 f"(a method) ({_SECTION}).")


def _choose_ops(cls: type, config: ClassConfig, module: Any, prober: Prober, spellings: dict[str, list[Spelling]],
                make: Callable[[np.ndarray], Any], read: Callable[[Any], np.ndarray],
                per_entry: bool) -> dict[str, Choice]:
    namespace = {**(vars(module) if module is not None else {}), "np": np, cls.__name__: cls}
    choices = {}
    for op in OPS:
        if op in config.ops:
            spelling = expression_spelling(op, config.ops[op], namespace)
            if per_entry and OPS[op].shapes in ("elementwise", "broadcast") and not OPS[op].params:
                entry = spelling
                ufunc = np.frompyfunc(lambda *vs, _s=entry: _s.call(*vs), len(OPS[op].operands), 1)
                spelling = Spelling(f"{entry.text}, on each entry", lambda *arrays, _u=ufunc: objects(_u(*arrays)))
            choice = choose(prober, op, [spelling], make, read, forced=True)
            choice.reason = f"from {config.source or 'the configuration'}" + (f"; {choice.reason}" if choice.reason else "")
            choices[op] = choice
        else:
            choices[op] = choose(prober, op, spellings[op], make, read)
    return choices


def _op_function(op: str, spelling: Spelling) -> Callable[..., Any]:
    """Return the engine's op: contract arguments (docs/contract.md, section 1) in, the class's spelling called."""
    spec = OPS[op]

    def op_function(*args: Any, **kwargs: Any) -> Any:
        operands, params = spec.parse_args(args, kwargs)
        return spelling.call(*operands, **params)

    op_function.__name__ = op
    op_function.__qualname__ = f"{op} = {spelling.text}"
    return op_function


def _engine(cls: type, config: ClassConfig, kind: str, dtype: str, leaf_text: str, value_text: str,
            choices: dict[str, Choice], make: Callable[[np.ndarray], Any], read: Callable[[Any], np.ndarray],
            ) -> ClassEngine:
    engine = ClassEngine(cls=cls, dtype=dtype, kind=kind, leaf_text=leaf_text,
                         value_text=value_text, backward_text="", config_source=config.source, _make=make, _read=read)
    for op, choice in choices.items():
        if choice.spelling is None:
            engine.unsupported[op] = choice.reason
            continue
        engine.mapping[op] = Mapped(op, choice.spelling.text, choice.reason)
        support = choice.param_support()
        if any(not values for values in support.values()):
            del engine.mapping[op]
            engine.unsupported[op] = f"{choice.spelling.text} handles none of the parameter values gradcheck draws"
            continue
        if support:
            engine.param_support[op] = support
        setattr(engine, op, _op_function(op, choice.spelling))
    return engine


def _grad_of(cls: type, read: Callable[[Any], np.ndarray], leaf: Any, attribute: str, shape: tuple[int, ...],
             dtype: np.dtype) -> np.ndarray:
    """Return a leaf's gradient as an array: None (never reached) is zeros, a node of the class is read."""
    grad = getattr(leaf, attribute)
    if grad is None:
        return np.zeros(shape, dtype=dtype)
    if isinstance(grad, cls):
        return read(grad)
    return as_array(grad)


def _build_tensor(cls: type, config: ClassConfig, module: Any, prober: Prober, keywords: dict[str, Any],
                  shown_keywords: str, constant_keywords: dict[str, Any]) -> ClassEngine:
    leaf_text = f"{cls.__qualname__}(array{shown_keywords})"
    requested = np.dtype(config.dtype) if config.dtype else np.dtype(np.float64)

    def make(array: np.ndarray) -> Any:
        return cls(np.array(array, dtype=requested if config.dtype else array.dtype), **keywords)

    def constant(array: np.ndarray) -> Any:
        return cls(np.array(array), **constant_keywords)

    value_text, read = _find_reader(cls, config, prober, make, _probe_array((2, 3), requested), leaf_text)
    kept = read(make(_probe_array((2, 3), requested))).dtype
    if kept.name not in ("float32", "float64"):
        raise _error(cls, f"{leaf_text} keeps values as {kept}, but gradcheck checks float32 and float64 only.",
                     f'Set dtype = "float32" or "float64" in [tool.gradcheck] ({_SECTION}).')
    dtype = config.dtype or kept.name
    choices = _choose_ops(cls, config, module, prober, tensor_spellings(cls, module), make, read, per_entry=False)
    engine = _engine(cls, config, "tensor", dtype, leaf_text, value_text, choices, make, read)
    engine.backward_text, engine._vjp = _find_backward(cls, config, prober, engine, make, constant, read)
    return engine


def _backward_signature(cls: type) -> tuple[str | None, bool]:
    """Return ``(keyword, takes a gradient)`` from the signature of ``cls.backward``."""
    try:
        parameters = list(inspect.signature(getattr(cls, "backward")).parameters.values())[1:]
    except (TypeError, ValueError):
        return None, True
    for parameter in parameters:
        if parameter.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                              inspect.Parameter.VAR_POSITIONAL):
            return None, True
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and parameter.name in GRADIENT_NAMES:
            return parameter.name, True
    return None, False


def _find_backward(cls: type, config: ClassConfig, prober: Prober, engine: ClassEngine,
                   make: Callable[[np.ndarray], Any], constant: Callable[[np.ndarray], Any],
                   read: Callable[[Any], np.ndarray]) -> tuple[str, Callable[..., list[np.ndarray]]]:
    """Return how to take a VJP, checked on a leaf: the leaf's gradient must come back as the cotangent."""
    attribute = config.grad or "grad"
    parts = config.backward_parts
    method, keyword, takes = parts if parts else ("backward", *_backward_signature(cls))

    def grads(xs: Sequence[Any]) -> list[np.ndarray]:
        return [_grad_of(cls, read, x, attribute, read(x).shape, read(x).dtype) for x in xs]

    def with_gradient(wrap: Callable[[np.ndarray], Any]) -> Callable[..., list[np.ndarray]]:
        def vjp(y: Any, xs: Sequence[Any], cotangent: np.ndarray) -> list[np.ndarray]:
            g = wrap(cotangent)
            getattr(y, method)(**{keyword: g}) if keyword else getattr(y, method)(g)
            return grads(xs)
        return vjp

    multiply, total = getattr(engine, "multiply", None), getattr(engine, "sum", None)

    def seeded(y: Any, xs: Sequence[Any], cotangent: np.ndarray) -> list[np.ndarray]:
        if multiply is None or total is None:
            raise TypeError("the class has no multiply or sum to build sum(y * cotangent) with")
        weighted = multiply(y, constant(cotangent))
        scalar = weighted if np.ndim(cotangent) == 0 else total(weighted)
        getattr(scalar, method)()
        return grads(xs)

    argument = f"{keyword}=cotangent" if keyword else "cotangent"
    forms: list[tuple[str, Callable[..., list[np.ndarray]]]] = []
    if takes:
        forms += [(f"y.{method}({argument})", with_gradient(lambda g: g)),
                  (f"y.{method}({argument.replace('cotangent', f'{cls.__qualname__}(cotangent)')})",
                   with_gradient(constant))]
    if not (parts and takes):
        forms.append((f"sum(y * cotangent).{method}() with the class's own {_seed_words(engine)}", seeded))
    probe = _probe_array((2, 3), np.dtype(engine.dtype))
    cotangent = (probe * -1.5 + 0.5).astype(probe.dtype)
    tried = []
    for text, vjp in forms:
        leaf = make(probe)
        result, error = prober.attempt(vjp, leaf, [leaf], cotangent)
        if error is None and np.allclose(np.asarray(result[0], dtype=np.float64), cotangent):
            return f"{text}, then x.{attribute}", vjp
        tried.append(f"{text} {'raised ' + describe(error) if error else 'gave the leaf another gradient than the cotangent'}")
    raise _error(cls, f"gradcheck found no way to take a gradient: on a leaf x, it tried {'; '.join(tried)}.",
                 f'Say how in [tool.gradcheck]: backward = "backward(grad)" when it takes the output\'s gradient, '
                 f'"backward()" when it takes none (then multiply and sum must be found), and grad = "{attribute}" '
                 f"for the attribute that holds a leaf's gradient ({_SECTION}).")


def _seed_words(engine: ClassEngine) -> str:
    found = [engine.mapping[op].text for op in ("multiply", "sum") if op in engine.mapping]
    return " and ".join(found) if found else "* and sum"


def _build_scalar(cls: type, config: ClassConfig, module: Any, prober: Prober, keywords: dict[str, Any],
                  shown_keywords: str, constant_keywords: dict[str, Any]) -> ClassEngine:
    leaf_text = f"an object array of {cls.__qualname__}(float(entry){shown_keywords})"

    def make(array: np.ndarray) -> np.ndarray:
        leaves = np.empty(np.shape(array), dtype=object)
        for index in np.ndindex(leaves.shape):
            leaves[index] = cls(float(array[index]), **keywords)
        return leaves

    value_text, read_one = _find_reader(cls, config, prober, lambda v: cls(float(v), **keywords), 1.25, leaf_text)
    read_each = np.frompyfunc(read_one, 1, 1)

    def read(node: Any) -> np.ndarray:
        return np.asarray(read_each(objects(node)), dtype=np.float64)

    dtype = config.dtype or "float64"
    spellings = scalar_spellings(cls, module)
    choices = _choose_ops(cls, config, module, prober, spellings, make, read, per_entry=True)
    for op, reason in SCALAR_UNSUPPORTED.items():
        if op not in config.ops:
            choices[op].reason = reason
    engine = _engine(cls, config, "scalar", dtype, leaf_text, f"{value_text} of each entry", choices, make, read)
    attribute = config.grad or "grad"
    method = config.backward_parts[0] if config.backward_parts else "backward"

    def vjp(y: Any, xs: Sequence[Any], cotangent: np.ndarray) -> list[np.ndarray]:
        entries = list(objects(y).flat)
        weights = np.broadcast_to(cotangent, objects(y).shape).ravel()
        total = entries[0] * float(weights[0])
        for entry, weight in zip(entries[1:], weights[1:]):
            total = total + entry * float(weight)
        getattr(total, method)()
        return [_scalar_grads(x, attribute) for x in xs]

    probe = np.array([[0.5, -1.0], [2.0, 0.25]])
    leaf = make(probe)
    cotangent = np.array([[1.5, -0.5], [0.75, 2.0]])
    result, error = prober.attempt(vjp, leaf, [leaf], cotangent)
    if error is not None or not np.allclose(result[0], cotangent):
        problem = f"raised {describe(error)}" if error else "gave the leaves other gradients than their weights"
        raise _error(cls, f"gradcheck took gradients of an array of {cls.__qualname__} as "
                          f"(y[0] * w[0] + y[1] * w[1] + ...).{method}() and reading x.{attribute}; it {problem}.",
                     f'Say how in [tool.gradcheck]: backward = "backward()" and grad = "grad" ({_SECTION}).')
    engine.backward_text = f"(y[0] * cotangent[0] + y[1] * cotangent[1] + ...).{method}() with the class's * and +, then x.{attribute}"
    engine._vjp = vjp
    return engine


def _scalar_grads(leaves: Any, attribute: str) -> np.ndarray:
    def one(leaf: Any) -> float:
        grad = getattr(leaf, attribute)
        return 0.0 if grad is None else float(grad)

    return np.asarray(np.frompyfunc(one, 1, 1)(objects(leaves)), dtype=np.float64)
