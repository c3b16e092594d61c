"""Load a user's engine (docs/contract.md, sections 1 and 2) and wrap it in one small adapter.

``load_engine`` turns a target — ``path/to/file.py``, ``path/to/file.py:NAME``,
``package.module``, ``package.module:NAME`` or an already loaded object — into
an :class:`Engine`: the only thing the runner talks to. Everything the
contract leaves open (op aliases, ``grad`` with or without a cotangent, the
dtype, a bare array for a single gradient) is settled here, once, so the rest
of gradcheck sees one shape of engine.

A target that cannot be used raises :class:`~gradcheck.errors.TargetError`
with one paragraph naming the file, the line when there is one, and what to
change. Only NumPy and the standard library are imported: ``gradcheck
--help`` loads this module and must stay fast.
"""

from __future__ import annotations

import difflib
import inspect
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Mapping, Protocol, Sequence, cast

import numpy as np

if TYPE_CHECKING:  # annotations only: execution imports the engine's users, not this module
    from gradcheck.case import Computation
    from gradcheck.execution import EngineOutcome

from gradcheck._notebooks import is_notebook
from gradcheck._tracebacks import describe_exception
from gradcheck.arrays import as_array
from gradcheck.loading import (
    FILE_MODULE_PREFIX,
    Where,
    function_location,
    import_source,
    listing,
    locate,
    object_label,
    short_repr,
    split_target,
)
from gradcheck.ops import ALIASES, OP_NAMES, OPS, forms
from gradcheck.settings import DTYPES as DTYPE_NAMES
from gradcheck.support import ATTRIBUTE as SUPPORT_ATTRIBUTE
from gradcheck.support import SupportedParams, parse_supported_params

__all__ = ["CheckedEngine", "Engine", "UserEngine", "as_array", "load_engine"]

# The three functions every engine defines, with the signature a message
# tells the user to add (docs/contract.md, section 1).
REQUIRED = {
    "variable": "variable(array) -> T",
    "value": "value(x) -> array",
    "grad": "grad(y, xs, cotangent) -> list of arrays",
}

DTYPES = tuple(np.dtype(name) for name in DTYPE_NAMES)

# What ``dtype`` inference feeds the engine: float64 so that an engine which
# keeps its input's dtype reads as float64 and one that converts reads as
# what it converts to.
_PROBE = np.ones(2, dtype=np.float64)


_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


class UserEngine(Protocol):
    """What a user hands gradcheck (docs/contract.md, section 1), once ``load_engine`` has checked it.

    ``grad`` takes a cotangent, or not (the all-ones mode); each op the engine
    supports is one more attribute, looked up by name.
    """

    def variable(self, array: np.ndarray) -> Any: ...

    def value(self, x: Any) -> Any: ...

    def grad(self, y: Any, xs: Sequence[Any], *cotangent: np.ndarray) -> Any: ...


class CheckedEngine(Protocol):
    """An engine as the runner drives it: ``Engine`` in this process, ``IsolatedEngine`` in a worker.

    ``run`` answers one computation with an ``EngineOutcome``
    (``gradcheck.execution``), running it twice with ``repeat``.
    """

    target: str
    name: str
    dtype: np.dtype
    grad_takes_cotangent: bool
    aliases: dict[str, str]
    # The engine's declared partial support (``gradcheck.support``): only these values are drawn.
    supported_params: SupportedParams
    # Why ops are unsupported, and notes for the report, when the engine was built from a class.
    unsupported_reasons: dict[str, str]
    notes: tuple[str, ...]

    # Order 2 (``grad(..., create_graph=True)``) and forward mode (``jvp``): gradcheck.higher.
    @property
    def takes_create_graph(self) -> bool: ...

    @property
    def has_jvp(self) -> bool: ...

    def supports(self, op: str) -> bool: ...

    def run(self, case: Computation, timeout: float | None, repeat: bool = True) -> EngineOutcome: ...


@dataclass(eq=False)
class Engine:
    """A user's engine, wrapped: what gradcheck calls.

    ``ops`` maps each canonical op name the engine supports (docs/contract.md, section 1) to
    its function, aliases resolved; ``aliases`` records which canonical names
    were found under an alias (``{"multiply": "mul"}``) so reports can say so.
    When ``grad_takes_cotangent`` is false the engine's ``grad(y, xs)``
    implies an all-ones cotangent: :meth:`grad` ignores its ``cotangent``
    argument and callers must compare against the all-ones VJP.

    ``value`` and ``grad`` only adapt; exceptions from the engine propagate
    to the caller, which records them as failures.
    """

    obj: UserEngine = field(repr=False)
    target: str
    name: str
    dtype: np.dtype
    grad_takes_cotangent: bool
    ops: dict[str, Callable[..., Any]] = field(repr=False)
    aliases: dict[str, str] = field(default_factory=dict, repr=False)
    # The parameter values each partly supported op handles (``supported_params``, gradcheck.support).
    supported_params: SupportedParams = field(default_factory=dict, repr=False)
    # An engine built from a class (gradcheck.classes): why each unsupported op is, and how the class was driven.
    unsupported_reasons: dict[str, str] = field(default_factory=dict, repr=False)
    notes: tuple[str, ...] = ()

    def supports(self, op: str) -> bool:
        """Return whether the engine defines ``op`` (a canonical name or an alias)."""
        return ALIASES.get(op, op) in self.ops

    @property
    def takes_create_graph(self) -> bool:
        """Whether ``grad`` accepts ``create_graph=True`` (and a cotangent): the engine is checked at order 2."""
        return self.grad_takes_cotangent and _accepts_keyword(getattr(self.obj, "grad", None), "create_graph")

    @property
    def has_jvp(self) -> bool:
        """Whether the engine has ``jvp(y, xs, tangents)``: it is checked in forward mode."""
        return callable(getattr(self.obj, "jvp", None))

    def jvp(self, y: Any, xs: list[Any], tangents: list[np.ndarray]) -> Any:
        """Return the engine's JVP of ``y`` along ``tangents`` (one per x)."""
        return self.obj.jvp(y, xs, tangents)  # type: ignore[attr-defined]

    def run(self, case: Computation, timeout: float | None, repeat: bool = True) -> EngineOutcome:
        """Return the ``EngineOutcome`` of running ``case`` in this process (twice with ``repeat``)."""
        from gradcheck.execution import run_engine

        return run_engine(self, case, timeout, repeat)

    def variable(self, array: np.ndarray) -> Any:
        """Return the engine's differentiable leaf for ``array``."""
        return self.obj.variable(array)

    def value(self, node: Any) -> np.ndarray:
        """Return the forward value of ``node`` as a NumPy array.

        Objects with a ``.numpy()`` method (``tf.Tensor``, ``torch.Tensor``)
        are converted with it; anything else with ``np.asarray``.
        """
        return as_array(self.obj.value(node))

    def grad(self, y: Any, xs: list[Any], cotangent: np.ndarray, create_graph: bool = False) -> list[Any]:
        """Return the engine's VJP of ``y`` w.r.t. each of ``xs``, as a list.

        A bare (non-list, non-tuple) result is taken as the one gradient of a
        single ``x``; the caller checks that the length matches ``xs``. With
        ``create_graph`` (only for an engine with ``takes_create_graph``) the
        gradients are the engine's tensors, differentiable again (order 2).
        """
        if create_graph:
            result = self.obj.grad(y, xs, cotangent, create_graph=True)  # type: ignore[call-arg]
        elif self.grad_takes_cotangent:
            result = self.obj.grad(y, xs, cotangent)
        else:
            result = self.obj.grad(y, xs)
        if isinstance(result, (list, tuple, Iterator)):
            return list(result)
        return [result]


def _accepts_keyword(function: Any, name: str) -> bool:
    """Return whether ``function`` takes a keyword argument ``name`` (by that name, or ``**kwargs``)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        (p.name == name and p.kind in (*_POSITIONAL, inspect.Parameter.KEYWORD_ONLY))
        or p.kind is inspect.Parameter.VAR_KEYWORD
        for p in parameters
    )


def load_engine(target: str | os.PathLike[str] | object, *, quiet_tensorflow: bool = True) -> Engine:
    """Return the :class:`Engine` for a target string or an engine object.

    ``target`` is ``path/to/file.py``, ``path/to/file.py:NAME``,
    ``package.module`` or ``package.module:NAME`` (docs/contract.md, section 2), or an object
    that already is an engine: a module, an instance, a class (instantiated
    with no arguments) or a ``types.SimpleNamespace``.

    >>> engine = load_engine("student/engine.py")  # doctest: +SKIP
    >>> engine.supports("matmul"), engine.dtype  # doctest: +SKIP
    (True, dtype('float64'))

    Raises :class:`~gradcheck.errors.TargetError` with a one-paragraph
    message when the target cannot be loaded or breaks the contract.
    """
    if isinstance(target, Engine):
        return target
    if isinstance(target, os.PathLike):
        target = os.fspath(target)
    if isinstance(target, str):
        if quiet_tensorflow:
            # Engines often import TensorFlow themselves; importing it first,
            # with its native start-up chatter muted, keeps that noise off the
            # screen. (An engine worker skips this: its output is captured, and
            # the student's interpreter need not have TensorFlow.)
            from gradcheck._tf import tensorflow

            tensorflow()
        return _load_string(target)
    label = target.__name__ if isinstance(target, ModuleType) else object_label(target)
    where = Where(f"Cannot use engine {object_label(target)}", label=label)
    if isinstance(target, ModuleType):
        where.module = target
        obj, name = _module_engine(where, target)
    else:
        obj, name = target, _default_name(target)
    return _wrap(where, obj, name, target=object_label(target))


# --- What is being loaded, for messages -------------------------------------


def _default_name(obj: object) -> str:
    if isinstance(obj, ModuleType):
        # A module loaded from a file target is known by its file name, not
        # the unique name gradcheck gave it.
        if obj.__name__.startswith(FILE_MODULE_PREFIX) and obj.__file__:
            return Path(obj.__file__).name
        return obj.__name__
    if inspect.isclass(obj):
        return obj.__qualname__
    return type(obj).__qualname__


# --- Loading the module ----------------------------------------------------


def _load_string(target: str) -> Engine:
    source, attribute = split_target(target)
    where = Where(f"Cannot load engine target {target!r}", label=source, attribute=attribute)
    module = import_source(where, source)
    where.module = module
    if attribute:
        obj = _get_attribute(where, module, attribute)
        name = f"{_default_name(module)}:{attribute}"
    else:
        obj, name = _module_engine(where, module)
    return _wrap(where, obj, name, target=target)


# --- Finding the engine object in the module -------------------------------


def _is_engine_like(obj: object) -> bool:
    return all(callable(getattr(obj, attr, None)) for attr in REQUIRED)


def _engine_attributes(module: ModuleType) -> dict[str, object]:
    """Return the module's public attributes that are engines, one per object.

    A class and an instance of it (``class Engine`` + ``engine = Engine()``)
    are one engine: the instance is kept. The :class:`Engine` wrapper is
    never a candidate, even when the user's file imports it.
    """
    found: dict[str, object] = {}
    seen: set[int] = set()
    for name, value in vars(module).items():
        if name.startswith("_") or id(value) in seen or not _is_engine_like(value):
            continue
        if value is Engine or isinstance(value, Engine):
            continue
        seen.add(id(value))
        found[name] = value
    instances = [v for v in found.values() if not inspect.isclass(v)]
    return {
        name: value
        for name, value in found.items()
        if not (inspect.isclass(value) and any(isinstance(i, value) for i in instances))
    }


def _module_engine(where: Where, module: ModuleType) -> tuple[object, str]:
    """Return the engine a module target means: the module itself or its one engine attribute."""
    if _is_engine_like(module):
        return module, _default_name(module)
    # A module with only some of variable/value/grad may still hold a complete
    # engine (helpers imported at top level); failing that, it means to be
    # the engine itself and _wrap reports what it lacks.
    candidates = _engine_attributes(module)
    if not candidates and not any(hasattr(module, attr) for attr in REQUIRED):
        chosen = _configured_class(where, module)
        if chosen is not None:
            return chosen
    if len(candidates) == 1:
        (attribute, obj), = candidates.items()
        where.attribute = attribute
        return obj, f"{_default_name(module)}:{attribute}"
    if len(candidates) > 1:
        listed = [f"{name} ({locate(where, module, name)})" for name in candidates]
        raise where.error(
            f"it holds several engines: {listing(listed)}.",
            f"Pick one with {where.pick_hint(next(iter(candidates)))} (or another of the names above).",
        )
    return module, _default_name(module)


def _configured_class(where: Where, module: ModuleType) -> tuple[object, str] | None:
    """Return the Tensor class ``[tool.gradcheck] class`` names; say which class was meant when none is named."""
    from gradcheck.classes import find_config, is_tensor_class

    config = find_config(getattr(module, "__file__", None))
    if config is not None and config.class_name:
        where.attribute = config.class_name
        return _get_attribute(where, module, config.class_name), f"{_default_name(module)}:{config.class_name}"
    classes = [name for name, value in vars(module).items()
               if is_tensor_class(value) and getattr(value, "__module__", None) == module.__name__]
    if not classes:
        return None
    raise where.error(
        f"it defines no engine functions (variable, value, grad), but it defines "
        f"{listing([f'{name} ({locate(where, module, name)})' for name in classes])}, a class with backward().",
        f"Did you mean {where.pick_hint(classes[0])}? gradcheck builds the engine from a Tensor or Value class",
        "itself (docs/contract.md, section 1c).",
    )


def _get_attribute(where: Where, module: ModuleType, attribute: str) -> object:
    obj: object = module
    walked: list[str] = []
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise where.error(_missing_attribute_problem(where, obj, ".".join(walked) or None, part))
        obj = getattr(obj, part)
        walked.append(part)
    return obj


def _missing_attribute_problem(where: Where, container: object, walked: str | None, part: str) -> str:
    owner = f"{where.label}:{walked}" if walked else where.label
    problem = f"{owner} has no attribute {part!r}."
    public = [n for n in dir(container) if not n.startswith("_")]
    close = difflib.get_close_matches(part, public, n=3)
    hint = f" Did you mean {' or '.join(repr(n) for n in close)}?" if close else ""
    if isinstance(container, ModuleType):
        engines = list(_engine_attributes(container))
        if engines:
            return (
                f"{problem}{hint} Engines it holds: {listing(engines)}; "
                f"give one, e.g. {where.pick_hint(engines[0])}."
            )
        public = [n for n in public if not isinstance(getattr(container, n), ModuleType)]
    if not public:
        return f"{problem} It has no public attributes; check that the file is the one that defines the engine."
    return f"{problem}{hint} It holds no engine (an object with variable, value and grad); its public names are: {listing(public)}."


# --- Checking the engine against the contract and wrapping it --------------


def _wrap(where: Where, obj: object, name: str, target: str) -> Engine:
    """Return the Engine for ``obj`` after checking it against docs/contract.md, section 1."""
    if inspect.isclass(obj):
        # An engine class is instantiated; any other class is a Tensor or Value
        # class to build the engine from (docs/contract.md, section 1c).
        obj = _instantiate(where, obj) if _is_engine_like(obj) else _class_engine(where, obj)
    _check_required(where, obj)
    takes_cotangent = _grad_takes_cotangent(where, obj)
    ops, aliases = _find_ops(obj)
    if not ops:
        at = locate(where, obj)
        raise where.error(
            f"the engine{f' ({at})' if at else ''} defines none of the ops gradcheck checks.",
            f"Define at least one, under these names: {', '.join(OP_NAMES)}",
            f"(also accepted: {', '.join(f'{a} for {c}' for a, c in ALIASES.items())}).",
        )
    own_name = getattr(obj, "name", None)
    return Engine(
        obj=cast(UserEngine, obj),  # _check_required found variable, value and grad
        target=target,
        name=own_name if isinstance(own_name, str) and own_name else name,
        dtype=_dtype(where, obj),
        grad_takes_cotangent=takes_cotangent,
        ops=ops,
        aliases=aliases,
        supported_params=_supported_params(where, obj, ops),
        **_class_facts(obj, ops),
    )


def _class_facts(obj: object, ops: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``unsupported_reasons`` and ``notes`` of an engine built from a class (none for other engines).

    An op the engine has is not unsupported: another form of an op
    (``pow_tensor``) has no spelling of its own when the class spells the op
    itself, and is checked on that op's function.
    """
    from gradcheck.classes import ClassEngine

    if not isinstance(obj, ClassEngine):
        return {}
    reasons = {op: reason for op, reason in obj.unsupported.items() if op not in ops}
    return {"unsupported_reasons": reasons, "notes": (obj.summary(),)}


def _class_engine(where: Where, cls: type) -> object:
    """Return the engine built from a Tensor or Value class, with the ``[tool.gradcheck]`` that applies."""
    from gradcheck.classes import engine_from_class, find_config

    module_file = getattr(where.module, "__file__", None)
    try:
        start = module_file or inspect.getsourcefile(cls)
    except TypeError:
        start = None
    return engine_from_class(cls, find_config(start))


def _supported_params(where: Where, obj: object, ops: dict[str, Callable[..., Any]]) -> SupportedParams:
    """Return the engine's declared partial support, checked (docs/contract.md, section 1); none: {}."""
    declared = getattr(obj, SUPPORT_ATTRIBUTE, None)
    if declared is None:
        return {}
    try:
        return parse_supported_params(declared, ops)
    except ValueError as exc:
        at = locate(where, obj, SUPPORT_ATTRIBUTE)
        raise where.error(
            f"its {SUPPORT_ATTRIBUTE}{f' ({at})' if at else ''} cannot be used: {exc}.",
            "It maps an op to the values of its parameters the engine handles, e.g. "
            '{"sum": {"keepdims": [False]}, "softmax": {"axis": [-1]}, "mean": {"axis": [None]}}; '
            "gradcheck then checks each op on those values only (docs/contract.md, section 1).",
            f"Fix the entry, or remove {SUPPORT_ATTRIBUTE} to check every parameter value.",
        ) from None


def _instantiate(where: Where, cls: type) -> object:
    try:
        return cls()
    except Exception as exc:
        at = locate(where, cls)
        if where.module is not None:
            hint = f"create the instance in the file (engine = {cls.__qualname__}(...)) and give {where.pick_hint('engine')}"
        else:
            hint = "pass an instance instead of the class"
        raise where.error(
            f"{cls.__qualname__}{f' ({at})' if at else ''} is a class, and gradcheck could not create it "
            f"with {cls.__qualname__}(): {describe_exception(exc)}.",
            f"Give every constructor parameter a default, or {hint}.",
        ) from exc


def _check_required(where: Where, obj: object) -> None:
    missing = [attr for attr in REQUIRED if not hasattr(obj, attr)]
    not_callable = [attr for attr in REQUIRED if hasattr(obj, attr) and not callable(getattr(obj, attr))]
    if not missing and not not_callable:
        return
    at = locate(where, obj)
    at = f" ({at})" if at else ""
    signatures = "; ".join(REQUIRED[attr] for attr in missing)
    if len(missing) == len(REQUIRED) and where.attribute and not isinstance(obj, ModuleType):
        # NAME points at something that is not an engine at all (a constant,
        # a helper function): say what it is rather than list three misses.
        engines = list(_engine_attributes(where.module)) if where.module is not None else []
        hint = f"Engines in the module: {listing(engines)}." if engines else f"An engine defines {signatures}."
        raise where.error(
            f"{where.pick_hint(where.attribute)}{at} is {short_repr(obj)}, not an engine:"
            f" it defines none of {', '.join(REQUIRED)}. {hint}"
        )
    sentences = []
    if missing:
        sentences.append(
            f"the engine{at} does not define {', '.join(missing)}."
            f" Add {'it' if len(missing) == 1 else 'them'} with the contract "
            f"signature{'s' if len(missing) > 1 else ''} (docs/contract.md, section 1): {signatures}."
        )
    for attr in not_callable:
        place = locate(where, obj, attr)
        subject = f"Its {attr}" if sentences else f"the engine's {attr}"
        sentences.append(
            f"{subject}{f' ({place})' if place else ''} is {short_repr(getattr(obj, attr))}, "
            f"not a function; make it one: {REQUIRED[attr]}."
        )
    if missing and isinstance(obj, ModuleType) and is_notebook(getattr(obj, "__file__", None) or ""):
        sentences.append(
            "gradcheck ran the notebook's code cells in order (IPython magics and shell commands left out) "
            "and looked for them among the names the cells define at the top level."
        )
    if missing and isinstance(obj, ModuleType) and len(missing) == len(REQUIRED):
        sentences.append(f"If the engine is an object inside the module, name it: {where.pick_hint('NAME')}.")
    raise where.error(*sentences)


def _grad_takes_cotangent(where: Where, obj: object) -> bool:
    """Return whether ``grad`` takes a cotangent, from its signature.

    Two positional parameters mean the all-ones mode of docs/contract.md, section 1; a third
    (or ``*args``) means a cotangent. A signature Python cannot inspect
    (some C functions) is taken to follow the full contract.
    """
    try:
        signature = inspect.signature(getattr(obj, "grad"))
    except (TypeError, ValueError):
        return True
    parameters = list(signature.parameters.values())
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
        return True
    positional = sum(p.kind in _POSITIONAL for p in parameters)
    required_keywords = [
        p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is p.empty
    ]
    if positional >= 2 and not required_keywords:
        return positional >= 3
    if required_keywords:
        problem = f"requires the keyword-only parameter(s) {', '.join(required_keywords)}"
    else:
        problem = f"takes {positional} positional parameter(s)"
    at = locate(where, obj, "grad") if isinstance(obj, ModuleType) else function_location(getattr(obj, "grad"))
    raise where.error(
        f"its grad{signature}{f' ({at})' if at else ''} {problem}, but gradcheck calls",
        "grad(y, xs, cotangent), or grad(y, xs) for an all-ones cotangent.",
        f"Change it to the contract signature (docs/contract.md, section 1): {REQUIRED['grad']}.",
    )


def _find_ops(obj: object) -> tuple[dict[str, Callable[..., Any]], dict[str, str]]:
    """Return the engine's ops by canonical name (in OP_NAMES order) and the aliases used."""
    ops: dict[str, Callable[..., Any]] = {}
    aliases: dict[str, str] = {}
    for op in OP_NAMES:
        # Another form of an op (pow_tensor) is checked on the op's own function (pow).
        function = getattr(obj, OPS[op].engine_function, None)
        if callable(function):
            ops[op] = function
    for alias, canonical in ALIASES.items():
        function = getattr(obj, alias, None)
        for op in forms(canonical):
            if op not in ops and callable(function):
                ops[op] = function
                aliases[op] = alias
    return {op: ops[op] for op in OP_NAMES if op in ops}, aliases


def _dtype(where: Where, obj: object) -> np.dtype:
    """Return the engine's dtype: its ``dtype`` attribute, else what ``value`` gives back."""
    declared = getattr(obj, "dtype", None)
    if declared is not None:
        return _declared_dtype(where, obj, declared)
    try:
        engine = cast(UserEngine, obj)  # _check_required found variable and value
        result = as_array(engine.value(engine.variable(_PROBE.copy())))
    except Exception as exc:
        raise where.error(
            "to learn its dtype, gradcheck called value(variable(np.ones(2))) and the engine raised "
            f"{describe_exception(exc)}.",
            'Fix that error, or set dtype = "float32" or "float64" on the engine so nothing needs inferring.',
        ) from exc
    if result.dtype in DTYPES:
        return result.dtype
    at = locate(where, obj)
    raise where.error(
        f"value(variable(np.ones(2))) on the engine{f' ({at})' if at else ''} returned an array of dtype "
        f"{result.dtype}, but gradcheck checks float32 and float64 engines only.",
        "Make variable/value keep floating-point values in float32 or float64, or set "
        'dtype = "float32" or "float64" on the engine.',
    )


def _declared_dtype(where: Where, obj: object, declared: object) -> np.dtype:
    # tf.float32 and friends carry their NumPy type; TensorFlow is never imported here.
    candidate = getattr(declared, "as_numpy_dtype", declared)
    dtype = None
    if isinstance(candidate, (str, type, np.dtype)):
        try:
            dtype = np.dtype(candidate)
        except TypeError:
            dtype = None
    # ``np.dtype(...) == None`` is true (None means float64 to NumPy): test
    # for None first.
    if dtype is not None and dtype in DTYPES:
        return dtype
    at = locate(where, obj, "dtype")
    raise where.error(
        f"its dtype{f' ({at})' if at else ''} is {declared!r}, which gradcheck does not check.",
        'Set dtype to "float32" or "float64" (np.float32 / np.float64 work too), '
        "or remove it to let gradcheck infer the dtype from value().",
    )
