"""Load a user's engine (CONTRACT 1 and 2) and wrap it in one small adapter.

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

import ast
import contextlib
import difflib
import importlib
import importlib.util
import inspect
import itertools
import os
import pkgutil
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from gradcheck._tracebacks import describe_exception, display_path, format_frame, user_frame
from gradcheck.errors import GradcheckError, TargetError
from gradcheck.ops import ALIASES, OP_NAMES

__all__ = ["Engine", "load_engine"]

# The three functions every engine defines, with the signature a message
# tells the user to add (CONTRACT 1).
REQUIRED = {
    "variable": "variable(array) -> T",
    "value": "value(x) -> array",
    "grad": "grad(y, xs, cotangent) -> list of arrays",
}

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

# What ``dtype`` inference feeds the engine: float64 so that an engine which
# keeps its input's dtype reads as float64 and one that converts reads as
# what it converts to.
_PROBE = np.ones(2, dtype=np.float64)

# ``file.py:NAME`` — NAME may be dotted (``engines.fast``).
_ATTRIBUTE_PATH = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)

# Many names in a "did you mean" list help no one.
_MAX_LISTED = 12

# Each loaded file gets its own module name, so two targets sharing a file
# name (student_a/engine.py, student_b/engine.py) never collide in sys.modules.
_file_counter = itertools.count()
_FILE_MODULE_PREFIX = "_gradcheck_target_"


@dataclass(eq=False)
class Engine:
    """A user's engine, wrapped: what gradcheck calls.

    ``ops`` maps each canonical op name the engine supports (CONTRACT 1) to
    its function, aliases resolved; ``aliases`` records which canonical names
    were found under an alias (``{"multiply": "mul"}``) so reports can say so.
    When ``grad_takes_cotangent`` is false the engine's ``grad(y, xs)``
    implies an all-ones cotangent: :meth:`grad` ignores its ``cotangent``
    argument and callers must compare against the all-ones VJP.

    ``value`` and ``grad`` only adapt; exceptions from the engine propagate
    to the caller, which records them as failures.
    """

    obj: object = field(repr=False)
    target: str
    name: str
    dtype: np.dtype
    grad_takes_cotangent: bool
    ops: dict[str, Callable[..., Any]] = field(repr=False)
    aliases: dict[str, str] = field(default_factory=dict, repr=False)

    def supports(self, op: str) -> bool:
        """Return whether the engine defines ``op`` (a canonical name or an alias)."""
        return ALIASES.get(op, op) in self.ops

    def run(self, case: Any, timeout: float | None, repeat: bool = True) -> Any:
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

    def grad(self, y: Any, xs: list[Any], cotangent: np.ndarray) -> list[Any]:
        """Return the engine's VJP of ``y`` w.r.t. each of ``xs``, as a list.

        A bare (non-list, non-tuple) result is taken as the one gradient of a
        single ``x``; the caller checks that the length matches ``xs``.
        """
        if self.grad_takes_cotangent:
            result = self.obj.grad(y, xs, cotangent)
        else:
            result = self.obj.grad(y, xs)
        if isinstance(result, (list, tuple, Iterator)):
            return list(result)
        return [result]


def load_engine(target: str | os.PathLike[str] | object, *, quiet_tensorflow: bool = True) -> Engine:
    """Return the :class:`Engine` for a target string or an engine object.

    ``target`` is ``path/to/file.py``, ``path/to/file.py:NAME``,
    ``package.module`` or ``package.module:NAME`` (CONTRACT 2), or an object
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
    label = target.__name__ if isinstance(target, ModuleType) else _object_label(target)
    where = _Where(f"Cannot use engine {_object_label(target)}", label=label)
    if isinstance(target, ModuleType):
        where.module = target
        obj, name = _module_engine(where, target)
    else:
        obj, name = target, _default_name(target)
    return _wrap(where, obj, name, target=_object_label(target))


# --- What is being loaded, for messages -------------------------------------


@dataclass
class _Where:
    """What is being loaded: everything an error message needs to point at it."""

    prefix: str  # "Cannot load engine target 'x.py'"
    label: str  # how hints spell the module part: "x.py", "pkg.mod"
    module: ModuleType | None = None
    attribute: str | None = None  # NAME of ``x.py:NAME``

    def error(self, *sentences: str) -> TargetError:
        """Return the one-paragraph TargetError for this target."""
        return TargetError(f"{self.prefix}: " + " ".join(sentences))

    def pick_hint(self, name: str) -> str:
        """Return how to write the target that selects attribute ``name``."""
        return f"{self.label}:{name}"


def _object_label(obj: object) -> str:
    if isinstance(obj, ModuleType):
        return f"<module {obj.__name__}>"
    if inspect.isclass(obj):
        return f"<class {obj.__qualname__}>"
    return f"<{type(obj).__qualname__} object>"


def _default_name(obj: object) -> str:
    if isinstance(obj, ModuleType):
        # A module loaded from a file target is known by its file name, not
        # the unique name gradcheck gave it.
        if obj.__name__.startswith(_FILE_MODULE_PREFIX) and getattr(obj, "__file__", None):
            return Path(obj.__file__).name
        return obj.__name__
    if inspect.isclass(obj):
        return obj.__qualname__
    return type(obj).__qualname__


def _binding_line(file: str, name: str) -> int | None:
    """Return the line of the last top-level statement binding ``name`` in ``file``."""
    try:
        tree = ast.parse(Path(file).read_text(encoding="utf-8"))
    except (OSError, ValueError, SyntaxError):
        return None
    found = None
    # Top-level statements, including those under if/try/with/for, but not
    # function or class bodies: their names are locals, not attributes.
    pending = list(tree.body)
    while pending:
        node = pending.pop(0)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name == name:
                found = max(found or 0, node.lineno)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound = [(alias.asname or alias.name).split(".")[0] for alias in node.names]
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            bound = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        else:
            bound = []
        if name in bound:
            found = max(found or 0, node.lineno)
        for child in ("body", "orelse", "finalbody", "handlers"):
            pending.extend(getattr(node, child, []) or [])
    return found


def _locate(where: _Where, obj: object, attr: str | None = None) -> str | None:
    """Return ``file:line`` (or ``file``) where the user should look for ``obj.attr``."""
    if isinstance(obj, ModuleType):
        file = getattr(obj, "__file__", None)
        if not file:
            return None
        line = _binding_line(file, attr) if attr else None
        return f"{display_path(file)}:{line}" if line else display_path(file)
    cls = obj if inspect.isclass(obj) else type(obj)
    if cls.__module__ not in ("builtins", "types"):
        try:
            file = inspect.getsourcefile(cls)
            _, line = inspect.getsourcelines(cls)
        except (OSError, TypeError):
            file = None
        if file:
            return f"{display_path(file)}:{line}"
    # A SimpleNamespace (or other built-in object) has no source of its own:
    # point at the line that assigns it in the target module.
    module_file = getattr(where.module, "__file__", None)
    if module_file and where.attribute:
        line = _binding_line(module_file, where.attribute.split(".")[0])
        return f"{display_path(module_file)}:{line}" if line else display_path(module_file)
    return None


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    return shown + (", …" if len(names) > _MAX_LISTED else "")


# --- Loading the module ----------------------------------------------------


def _load_string(target: str) -> Engine:
    source, attribute = _split_target(target)
    where = _Where(f"Cannot load engine target {target!r}", label=source, attribute=attribute)
    module = _import_source(where, source)
    where.module = module
    if attribute:
        obj = _get_attribute(where, module, attribute)
        name = f"{_default_name(module)}:{attribute}"
    else:
        obj, name = _module_engine(where, module)
    return _wrap(where, obj, name, target=target)


def _import_source(where: _Where, source: str) -> ModuleType:
    """Import the module part of a target: a file path, or a dotted module name."""
    is_file = source.endswith(".py") or any(sep and sep in source for sep in (os.sep, os.altsep, "/"))
    if not is_file and not _ATTRIBUTE_PATH.fullmatch(source):
        # Neither a dotted module name nor path-like: the user most likely
        # meant a file in the current folder.
        is_file = True
    return _import_file(where, source) if is_file else _import_module(where, source)


def _split_target(target: str) -> tuple[str, str | None]:
    """Split ``source:NAME``; a Windows drive (``C:\\x.py``) is not a NAME."""
    if not target.strip():
        raise TargetError(
            "The engine target is empty. Give a file (path/to/engine.py), a module "
            "(package.module), optionally followed by :NAME for an attribute holding the engine."
        )
    source, sep, attribute = target.rpartition(":")
    if not sep or (len(source) == 1 and source.isalpha()) or any(s in attribute for s in "/\\"):
        return target, None
    if not _ATTRIBUTE_PATH.fullmatch(attribute):
        raise TargetError(
            f"Cannot load engine target {target!r}: the part after ':' must name an attribute "
            f"holding the engine (like engine or engines.fast), not {attribute!r}. "
            f"Write {source}:NAME, or drop the ':' to use the module itself."
        )
    return source, attribute


def _import_file(where: _Where, source: str) -> ModuleType:
    path = Path(source)
    if path.is_dir():
        raise where.error(_directory_problem(path))
    if not path.is_file():
        raise where.error(_missing_file_problem(path))
    stem = re.sub(r"\W", "_", path.stem)
    module_name = f"{_FILE_MODULE_PREFIX}{next(_file_counter)}_{stem}"
    spec = importlib.util.spec_from_file_location(module_name, path.resolve())
    if spec is None or spec.loader is None:
        raise where.error(f"{display_path(path)} is not a Python file gradcheck can import; give a .py file.")
    module = importlib.util.module_from_spec(spec)
    # Registered before running the file, as ``import`` does: dataclasses and
    # pickling look the module up by name while the file executes.
    sys.modules[module_name] = module
    folder = str(path.resolve().parent)
    try:
        with _first_on_path(folder):
            spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        del sys.modules[module_name]
        raise _import_failure(where, exc, main_file=str(path.resolve())) from exc
    return module


def _import_module(where: _Where, dotted: str) -> ModuleType:
    # Like ``python -m``: the current folder comes first, so a package next
    # to where the user runs gradcheck is found even from the console script.
    spec = None
    try:
        with _first_on_path(os.getcwd()):
            spec = importlib.util.find_spec(dotted)
            if spec is None:
                raise ModuleNotFoundError(f"No module named {dotted!r}", name=dotted)
            module = importlib.import_module(dotted)
    except ModuleNotFoundError as exc:
        if exc.name and (dotted == exc.name or dotted.startswith(exc.name + ".")):
            raise where.error(_missing_module_problem(dotted, exc.name)) from exc
        raise _import_failure(where, exc, main_file=spec.origin if spec else None) from exc
    except (Exception, SystemExit) as exc:
        raise _import_failure(where, exc, main_file=spec.origin if spec else None) from exc
    if getattr(module, "__file__", None) is None and hasattr(module, "__path__"):
        # A folder without __init__.py imports as a namespace package, which
        # can never be an engine: say it is a folder.
        folder = Path(next(iter(module.__path__), dotted))
        raise where.error(_directory_problem(folder))
    return module


@contextlib.contextmanager
def _first_on_path(folder: str) -> Iterator[None]:
    """Put ``folder`` first on ``sys.path`` for the duration of an import.

    Only the entry added here is removed afterwards, so path changes the
    user's own file makes survive.
    """
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        try:
            sys.path.remove(folder)
        except ValueError:  # the user's file removed it already
            pass


def _missing_file_problem(path: Path) -> str:
    tried = display_path(path)
    problem = f"there is no file {tried} (looked for {path.resolve()} from the folder {os.getcwd()})."
    suggestions = []
    if path.suffix != ".py" and path.with_name(path.name + ".py").is_file():
        suggestions.append(display_path(path.with_name(path.name + ".py")))
    elif path.parent.is_dir():
        nearby = [p.name for p in path.parent.glob("*.py")]
        suggestions += [display_path(path.parent / n) for n in difflib.get_close_matches(path.name, nearby, n=3)]
    if suggestions:
        return f"{problem} Check the path; did you mean {' or '.join(suggestions)}?"
    return f"{problem} Check the path, or run gradcheck from the folder the path is relative to."


def _directory_problem(folder: Path) -> str:
    shown = display_path(folder)
    problem = f"{shown} is a folder, not a Python file."
    if (folder / "engine.py").is_file():
        return f"{problem} It contains engine.py: give {display_path(folder / 'engine.py')}."
    if (folder / "__init__.py").is_file():
        parts = Path(shown).parts
        if all(part.isidentifier() for part in parts):
            dotted = ".".join(parts)
            return (
                f"{problem} It is a package: give it as a module, {dotted}, or its file "
                f"{display_path(folder / '__init__.py')}."
            )
        return f"{problem} It is a package: give its file {display_path(folder / '__init__.py')}."
    files = sorted(p.name for p in folder.glob("*.py"))
    if files:
        return f"{problem} Give one of its Python files: {_listing(files)}."
    return f"{problem} It holds no .py file; give the path of the file that defines the engine."


def _missing_module_problem(dotted: str, missing: str) -> str:
    parent_name, _, last = missing.rpartition(".")
    parent = sys.modules.get(parent_name) if parent_name else None
    if parent is not None and hasattr(parent, "__path__"):
        # The package was found; only the module inside it is not there.
        modules = sorted(i.name for i in pkgutil.iter_modules(parent.__path__) if not i.name.startswith("_"))
        listed = f" Its modules are: {_listing(modules)}." if modules else ""
        return (
            f"the package {parent_name!r} ({display_path(next(iter(parent.__path__), parent_name))}) "
            f"has no module {last!r}. Check the spelling.{listed}"
        )
    problem = f"no module named {missing!r}"
    if missing != dotted:
        problem += f" (the package part of {dotted!r})"
    return (
        f"{problem}: Python found it neither in the current folder ({os.getcwd()}) nor on sys.path. "
        f"Check the spelling, run gradcheck from the folder that contains {missing.split('.')[0]!r}, "
        f"or give the engine as a file path (path/to/{dotted.rsplit('.', 1)[-1]}.py)."
    )


def _import_failure(where: _Where, exc: BaseException, main_file: str | None) -> TargetError:
    """Return the TargetError explaining why importing the target failed."""
    if isinstance(exc, GradcheckError):
        # The target already explains itself (an adapter whose framework is
        # missing): its paragraph is the message, not a traceback summary.
        return where.error(str(exc))
    if isinstance(exc, SyntaxError):
        return where.error(_syntax_problem(exc, main_file))
    deepest = user_frame(exc)
    # When the error is in a module the target imports, also name the line of
    # the target that led there.
    via = ""
    if deepest is not None and main_file and not _same_file(deepest.filename, main_file):
        entry = user_frame(exc, in_file=main_file)
        if entry is not None:
            via = f", reached from {format_frame(entry)}"
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        if deepest is not None:
            source = f" ({deepest.line})" if deepest.line else ""
            importer = f"{display_path(deepest.filename)}:{deepest.lineno}{source}{via}"
            beside = Path(deepest.filename).name
        else:
            importer, beside = "it", Path(main_file).name if main_file else "the target"
        return where.error(
            f"{importer} imports {exc.name!r}, which is not installed (No module named {exc.name!r}).",
            f"Install it into the Python that runs gradcheck ({sys.executable}) or remove the import;",
            f"if it is your own module, put {exc.name.split('.')[0]}.py next to {beside}.",
        )
    return where.error(
        f"importing it raised {describe_exception(exc)}{via}.",
        "Fix that error: gradcheck imports the file as `import` would, with its folder first on sys.path.",
    )


def _syntax_problem(exc: SyntaxError, main_file: str | None) -> str:
    where = display_path(exc.filename or "<unknown>") + (f":{exc.lineno}" if exc.lineno else "")
    text = f"{where} has a syntax error: {exc.msg}"
    if main_file and exc.filename and not _same_file(exc.filename, main_file):
        entry = user_frame(exc, in_file=main_file)
        if entry is not None:
            text += f" (imported from {format_frame(entry)})"
    excerpt = _caret_excerpt(exc)
    return f"{text}.{excerpt}\nFix that line and run again."


def _caret_excerpt(exc: SyntaxError) -> str:
    """Return the offending line with a caret under the error, as Python prints it."""
    if not exc.text or not exc.text.strip():
        return ""
    line = exc.text.rstrip("\r\n").expandtabs()
    indent = len(line) - len(line.lstrip())
    excerpt = f"\n    {line.strip()}"
    if exc.offset and exc.offset > 0:
        start = max(exc.offset - 1 - indent, 0)
        width = 1
        if getattr(exc, "end_offset", None) and exc.end_lineno == exc.lineno and exc.end_offset > exc.offset:
            width = exc.end_offset - exc.offset
        excerpt += "\n    " + " " * start + "^" * width
    return excerpt


def _same_file(a: str, b: str) -> bool:
    return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


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


def _module_engine(where: _Where, module: ModuleType) -> tuple[object, str]:
    """Return the engine a module target means: the module itself or its one engine attribute."""
    if _is_engine_like(module):
        return module, _default_name(module)
    # A module with only some of variable/value/grad may still hold a complete
    # engine (helpers imported at top level); failing that, it means to be
    # the engine itself and _wrap reports what it lacks.
    candidates = _engine_attributes(module)
    if len(candidates) == 1:
        (attribute, obj), = candidates.items()
        where.attribute = attribute
        return obj, f"{_default_name(module)}:{attribute}"
    if len(candidates) > 1:
        listed = [f"{name} ({_locate(where, module, name)})" for name in candidates]
        raise where.error(
            f"it holds several engines: {_listing(listed)}.",
            f"Pick one with {where.pick_hint(next(iter(candidates)))} (or another of the names above).",
        )
    return module, _default_name(module)


def _get_attribute(where: _Where, module: ModuleType, attribute: str) -> object:
    obj: object = module
    walked = []
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise where.error(_missing_attribute_problem(where, obj, ".".join(walked) or None, part))
        obj = getattr(obj, part)
        walked.append(part)
    return obj


def _missing_attribute_problem(where: _Where, container: object, walked: str | None, part: str) -> str:
    owner = f"{where.label}:{walked}" if walked else where.label
    problem = f"{owner} has no attribute {part!r}."
    public = [n for n in dir(container) if not n.startswith("_")]
    close = difflib.get_close_matches(part, public, n=3)
    hint = f" Did you mean {' or '.join(repr(n) for n in close)}?" if close else ""
    if isinstance(container, ModuleType):
        engines = list(_engine_attributes(container))
        if engines:
            return (
                f"{problem}{hint} Engines it holds: {_listing(engines)}; "
                f"give one, e.g. {where.pick_hint(engines[0])}."
            )
        public = [n for n in public if not isinstance(getattr(container, n), ModuleType)]
    if not public:
        return f"{problem} It has no public attributes; check that the file is the one that defines the engine."
    return f"{problem}{hint} It holds no engine (an object with variable, value and grad); its public names are: {_listing(public)}."


# --- Checking the engine against the contract and wrapping it --------------


def _wrap(where: _Where, obj: object, name: str, target: str) -> Engine:
    """Return the Engine for ``obj`` after checking it against CONTRACT 1."""
    if inspect.isclass(obj):
        obj = _instantiate(where, obj)
    _check_required(where, obj)
    takes_cotangent = _grad_takes_cotangent(where, obj)
    ops, aliases = _find_ops(obj)
    if not ops:
        at = _locate(where, obj)
        raise where.error(
            f"the engine{f' ({at})' if at else ''} defines none of the ops gradcheck checks.",
            f"Define at least one, under these names: {', '.join(OP_NAMES)}",
            f"(also accepted: {', '.join(f'{a} for {c}' for a, c in ALIASES.items())}).",
        )
    own_name = getattr(obj, "name", None)
    return Engine(
        obj=obj,
        target=target,
        name=own_name if isinstance(own_name, str) and own_name else name,
        dtype=_dtype(where, obj),
        grad_takes_cotangent=takes_cotangent,
        ops=ops,
        aliases=aliases,
    )


def _instantiate(where: _Where, cls: type) -> object:
    try:
        return cls()
    except Exception as exc:
        at = _locate(where, cls)
        if where.module is not None:
            hint = f"create the instance in the file (engine = {cls.__qualname__}(...)) and give {where.pick_hint('engine')}"
        else:
            hint = "pass an instance instead of the class"
        raise where.error(
            f"{cls.__qualname__}{f' ({at})' if at else ''} is a class, and gradcheck could not create it "
            f"with {cls.__qualname__}(): {describe_exception(exc)}.",
            f"Give every constructor parameter a default, or {hint}.",
        ) from exc


def _check_required(where: _Where, obj: object) -> None:
    missing = [attr for attr in REQUIRED if not hasattr(obj, attr)]
    not_callable = [attr for attr in REQUIRED if hasattr(obj, attr) and not callable(getattr(obj, attr))]
    if not missing and not not_callable:
        return
    at = _locate(where, obj)
    at = f" ({at})" if at else ""
    signatures = "; ".join(REQUIRED[attr] for attr in missing)
    if len(missing) == len(REQUIRED) and where.attribute and not isinstance(obj, ModuleType):
        # NAME points at something that is not an engine at all (a constant,
        # a helper function): say what it is rather than list three misses.
        engines = list(_engine_attributes(where.module)) if where.module is not None else []
        hint = f"Engines in the module: {_listing(engines)}." if engines else f"An engine defines {signatures}."
        raise where.error(
            f"{where.pick_hint(where.attribute)}{at} is {_short_repr(obj)}, not an engine:"
            f" it defines none of {', '.join(REQUIRED)}. {hint}"
        )
    sentences = []
    if missing:
        sentences.append(
            f"the engine{at} does not define {', '.join(missing)}."
            f" Add {'it' if len(missing) == 1 else 'them'} with the contract "
            f"signature{'s' if len(missing) > 1 else ''}: {signatures}."
        )
    for attr in not_callable:
        place = _locate(where, obj, attr)
        subject = f"Its {attr}" if sentences else f"the engine's {attr}"
        sentences.append(
            f"{subject}{f' ({place})' if place else ''} is {_short_repr(getattr(obj, attr))}, "
            f"not a function; make it one: {REQUIRED[attr]}."
        )
    if missing and isinstance(obj, ModuleType) and len(missing) == len(REQUIRED):
        sentences.append(f"If the engine is an object inside the module, name it: {where.pick_hint('NAME')}.")
    raise where.error(*sentences)


def _short_repr(value: object) -> str:
    """Return ``3 (an int)``: a value and its type, short enough for a message."""
    shown = repr(value)
    if len(shown) > 40:
        shown = shown[:39] + "…"
    kind = type(value).__name__
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    return f"{shown} ({article} {kind})"


def _grad_takes_cotangent(where: _Where, obj: object) -> bool:
    """Return whether ``grad`` takes a cotangent, from its signature.

    Two positional parameters mean the all-ones mode of CONTRACT 1; a third
    (or ``*args``) means a cotangent. A signature Python cannot inspect
    (some C functions) is taken to follow the full contract.
    """
    try:
        signature = inspect.signature(obj.grad)
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
    at = _locate(where, obj, "grad") if isinstance(obj, ModuleType) else _function_location(obj.grad)
    raise where.error(
        f"its grad{signature}{f' ({at})' if at else ''} {problem}, but gradcheck calls",
        "grad(y, xs, cotangent), or grad(y, xs) for an all-ones cotangent.",
        f"Change it to the contract signature: {REQUIRED['grad']}.",
    )


def _function_location(function: Callable[..., Any]) -> str | None:
    try:
        file = inspect.getsourcefile(function)
        _, line = inspect.getsourcelines(function)
    except (OSError, TypeError):
        return None
    return f"{display_path(file)}:{line}" if file else None


def _find_ops(obj: object) -> tuple[dict[str, Callable[..., Any]], dict[str, str]]:
    """Return the engine's ops by canonical name (in OP_NAMES order) and the aliases used."""
    ops: dict[str, Callable[..., Any]] = {}
    aliases: dict[str, str] = {}
    for op in OP_NAMES:
        function = getattr(obj, op, None)
        if callable(function):
            ops[op] = function
    for alias, op in ALIASES.items():
        function = getattr(obj, alias, None)
        if op not in ops and callable(function):
            ops[op] = function
            aliases[op] = alias
    return {op: ops[op] for op in OP_NAMES if op in ops}, aliases


def _dtype(where: _Where, obj: object) -> np.dtype:
    """Return the engine's dtype: its ``dtype`` attribute, else what ``value`` gives back."""
    declared = getattr(obj, "dtype", None)
    if declared is not None:
        return _declared_dtype(where, obj, declared)
    try:
        result = as_array(obj.value(obj.variable(_PROBE.copy())))
    except Exception as exc:
        raise where.error(
            "to learn its dtype, gradcheck called value(variable(np.ones(2))) and the engine raised "
            f"{describe_exception(exc)}.",
            'Fix that error, or set dtype = "float32" or "float64" on the engine so nothing needs inferring.',
        ) from exc
    if result.dtype in DTYPES:
        return result.dtype
    at = _locate(where, obj)
    raise where.error(
        f"value(variable(np.ones(2))) on the engine{f' ({at})' if at else ''} returned an array of dtype "
        f"{result.dtype}, but gradcheck checks float32 and float64 engines only.",
        "Make variable/value keep floating-point values in float32 or float64, or set "
        'dtype = "float32" or "float64" on the engine.',
    )


def _declared_dtype(where: _Where, obj: object, declared: object) -> np.dtype:
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
    at = _locate(where, obj, "dtype")
    raise where.error(
        f"its dtype{f' ({at})' if at else ''} is {declared!r}, which gradcheck does not check.",
        'Set dtype to "float32" or "float64" (np.float32 / np.float64 work too), '
        "or remove it to let gradcheck infer the dtype from value().",
    )


def as_array(result: Any) -> np.ndarray:
    """Return an engine's value (NumPy, tf.Tensor, torch.Tensor, list) as a NumPy array."""
    # tf.Tensor and torch.Tensor convert most reliably through .numpy();
    # np.asarray on them can build an object array or fail on a GPU tensor.
    if not isinstance(result, np.ndarray) and callable(getattr(result, "numpy", None)):
        result = result.numpy()
    return np.asarray(result)
