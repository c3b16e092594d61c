"""Import what a target string names: a file, a module, an attribute of either.

A target is ``path/to/file.py``, ``path/to/file.py:NAME``, ``package.module``
or ``package.module:NAME`` (the contract, docs/contract.md); a notebook
``path/to/file.ipynb`` is a file too, its code cells run as one module
(``gradcheck._notebooks``). This module
imports the module part the way ``import`` would (a file gets a module name
of its own, so two ``engine.py`` never collide; the target's folder comes
first on ``sys.path``) and turns every way that can fail into one
paragraph: the file, the line, what to change. ``gradcheck.engine`` builds
engines on it, ``gradcheck.function`` loads functions with it.

Only NumPy-free standard library here: ``gradcheck --help`` stays instant.
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import itertools
import os
import pkgutil
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

from gradcheck._notebooks import NotebookError, NotebookSource, is_notebook, loaded_notebook, read_notebook, register
from gradcheck._tracebacks import describe_exception, display_path, file_line, format_frame, user_frame
from gradcheck.errors import GradcheckError, TargetError

__all__ = [
    "ATTRIBUTE_PATH",
    "FILE_MODULE_PREFIX",
    "Where",
    "function_location",
    "import_target",
    "import_source",
    "listing",
    "load_function",
    "load_object",
    "locate",
    "names_file",
    "object_label",
    "short_repr",
    "split_target",
]

# ``file.py:NAME`` — NAME may be dotted (``engines.fast``).
ATTRIBUTE_PATH = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")


# Many names in a "did you mean" list help no one.
_MAX_LISTED = 12


# Each loaded file gets its own module name, so two targets sharing a file
# name (student_a/engine.py, student_b/engine.py) never collide in sys.modules.
_file_counter = itertools.count()


FILE_MODULE_PREFIX = "_gradcheck_target_"


@dataclass
class Where:
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


def object_label(obj: object) -> str:
    if isinstance(obj, ModuleType):
        return f"<module {obj.__name__}>"
    if inspect.isclass(obj):
        return f"<class {obj.__qualname__}>"
    return f"<{type(obj).__qualname__} object>"


def _binding_line(file: str, name: str) -> int | None:
    """Return the line of the last top-level statement binding ``name`` in ``file``."""
    try:
        tree = ast.parse(_module_text(file))
    except (OSError, ValueError, SyntaxError):  # NotebookError is a ValueError
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


def _module_text(file: str) -> str:
    """Return the Python source of the module loaded from ``file`` (a notebook's: its code cells)."""
    if is_notebook(file):
        notebook = loaded_notebook(file) or read_notebook(file)
        return notebook.text
    return Path(file).read_text(encoding="utf-8")


def locate(where: Where, obj: object, attr: str | None = None) -> str | None:
    """Return ``file:line`` (or ``file``) where the user should look for ``obj.attr``."""
    if isinstance(obj, ModuleType):
        file = getattr(obj, "__file__", None)
        if not file:
            return None
        return file_line(file, _binding_line(file, attr) if attr else None)
    cls = obj if inspect.isclass(obj) else type(obj)
    if cls.__module__ not in ("builtins", "types"):
        try:
            file = inspect.getsourcefile(cls)
            _, line = inspect.getsourcelines(cls)
        except (OSError, TypeError):
            file = None
        if file:
            return file_line(file, line)
    # A SimpleNamespace (or other built-in object) has no source of its own:
    # point at the line that assigns it in the target module.
    module_file = getattr(where.module, "__file__", None)
    if module_file and where.attribute:
        return file_line(module_file, _binding_line(module_file, where.attribute.split(".")[0]))
    return None


def listing(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    return shown + (", …" if len(names) > _MAX_LISTED else "")


def import_source(where: Where, source: str) -> ModuleType:
    """Import the module part of a target: a file path, or a dotted module name."""
    return _import_file(where, source) if names_file(source) else _import_module(where, source)


def names_file(source: str) -> bool:
    """Return whether the module part of a target names a file (else a dotted module name)."""
    is_file = source.endswith(".py") or is_notebook(source) or any(sep and sep in source for sep in (os.sep, os.altsep, "/"))
    # Neither a dotted module name nor path-like: the user most likely
    # meant a file in the current folder.
    return is_file or not ATTRIBUTE_PATH.fullmatch(source)


def split_target(target: str) -> tuple[str, str | None]:
    """Split ``source:NAME``; a Windows drive (``C:\\x.py``) is not a NAME."""
    if not target.strip():
        raise TargetError(
            "The engine target is empty. Give a file (path/to/engine.py), a module "
            "(package.module), optionally followed by :NAME for an attribute holding the engine."
        )
    source, sep, attribute = target.rpartition(":")
    if not sep or (len(source) == 1 and source.isalpha()) or any(s in attribute for s in "/\\"):
        return target, None
    if not ATTRIBUTE_PATH.fullmatch(attribute):
        raise TargetError(
            f"Cannot load engine target {target!r}: the part after ':' must name an attribute "
            f"holding the engine (like engine or engines.fast), not {attribute!r}. "
            f"Write {source}:NAME, or drop the ':' to use the module itself."
        )
    return source, attribute


def _import_file(where: Where, source: str) -> ModuleType:
    path = Path(source)
    if path.is_dir():
        raise where.error(_directory_problem(path))
    if not path.is_file():
        raise where.error(_missing_file_problem(path))
    stem = re.sub(r"\W", "_", path.stem)
    module_name = f"{FILE_MODULE_PREFIX}{next(_file_counter)}_{stem}"
    spec = (
        _notebook_spec(where, module_name, path) if is_notebook(path)
        else importlib.util.spec_from_file_location(module_name, path.resolve())
    )
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


class _NotebookLoader(importlib.abc.InspectLoader):
    """Load a notebook's code cells, extracted by ``read_notebook``, as the module's code."""

    def __init__(self, source: NotebookSource) -> None:
        self.source = source

    def get_source(self, fullname: str) -> str:
        return self.source.text

    def get_code(self, fullname: str) -> CodeType:
        # Compiled under the notebook's own path: tracebacks name the notebook,
        # and file_line turns their line numbers into cells.
        try:
            code: CodeType = compile(self.source.text, self.source.path, "exec", dont_inherit=True)
        except SyntaxError as error:
            # Python may take the line to show from the file on disk, which is JSON.
            lines = self.source.text.splitlines()
            if error.lineno and 0 < error.lineno <= len(lines):
                error.text = lines[error.lineno - 1] + "\n"
            raise
        return code


def _notebook_spec(where: Where, module_name: str, path: Path) -> importlib.machinery.ModuleSpec | None:
    try:
        source = read_notebook(path)
    except NotebookError as error:
        raise where.error(str(error)) from None
    except OSError as error:
        raise where.error(f"{display_path(path)} cannot be read ({error.strerror or error}).") from None
    register(source)
    return importlib.util.spec_from_file_location(module_name, source.path, loader=_NotebookLoader(source))


def _import_module(where: Where, dotted: str) -> ModuleType:
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
        nearby = [p.name for pattern in ("*.py", "*.ipynb") for p in path.parent.glob(pattern)]
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
        return f"{problem} Give one of its Python files: {listing(files)}."
    return f"{problem} It holds no .py file; give the path of the file that defines the engine."


def _missing_module_problem(dotted: str, missing: str) -> str:
    parent_name, _, last = missing.rpartition(".")
    parent = sys.modules.get(parent_name) if parent_name else None
    if parent is not None and hasattr(parent, "__path__"):
        # The package was found; only the module inside it is not there.
        modules = sorted(i.name for i in pkgutil.iter_modules(parent.__path__) if not i.name.startswith("_"))
        listed = f" Its modules are: {listing(modules)}." if modules else ""
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


def _import_failure(where: Where, exc: BaseException, main_file: str | None) -> TargetError:
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
            importer = f"{file_line(deepest.filename, deepest.lineno)}{source}{via}"
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
    where = file_line(exc.filename or "<unknown>", exc.lineno)
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
        if exc.end_offset and exc.end_lineno == exc.lineno and exc.end_offset > exc.offset:
            width = exc.end_offset - exc.offset
        excerpt += "\n    " + " " * start + "^" * width
    return excerpt


def _same_file(a: str, b: str) -> bool:
    return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def short_repr(value: object) -> str:
    """Return ``3 (an int)``: a value and its type, short enough for a message."""
    shown = repr(value)
    if len(shown) > 40:
        shown = shown[:39] + "…"
    kind = type(value).__name__
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    return f"{shown} ({article} {kind})"


def function_location(function: Callable[..., Any]) -> str | None:
    try:
        file = inspect.getsourcefile(function)
        _, line = inspect.getsourcelines(function)
    except (OSError, TypeError):
        return None
    return file_line(file, line) if file else None


# --- Functions and other objects by target ---------------------------------------------


def load_object(target: str, *, role: str, quiet_tensorflow: bool = True) -> Any:
    """Return the object a target ``path/to/file.py:NAME`` or ``package.module:NAME`` names."""
    if not isinstance(target, str) or not target.strip():
        raise TargetError(
            f"The {role} target {target!r} is empty; give path/to/file.py:NAME or package.module:NAME, "
            "NAME being the function."
        )
    source, sep, attribute = target.rpartition(":")
    if not sep or not source or (len(source) == 1 and source.isalpha()) or any(s in attribute for s in "/\\"):
        raise TargetError(
            f"Cannot load {role} {target!r}: say which function of the file or module, after a colon: "
            f"{target}:NAME (e.g. layers.py:softplus or mypackage.layers:softplus)."
        )
    if not ATTRIBUTE_PATH.fullmatch(attribute):
        raise TargetError(
            f"Cannot load {role} {target!r}: the part after ':' must name the function "
            f"(like softplus or Layer.backward), not {attribute!r}."
        )
    if quiet_tensorflow:
        _quiet_tensorflow_first()
    where = Where(f"Cannot load {role} {target!r}", label=source, attribute=attribute)
    obj: Any = import_source(where, source)
    walked = source
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise where.error(_missing_function_problem(obj, walked, part))
        obj = getattr(obj, part)
        walked = f"{walked}:{part}" if walked == source else f"{walked}.{part}"
    return obj


def load_function(target: str, *, role: str = "function", quiet_tensorflow: bool = True) -> Callable[..., Any]:
    """Return the function a target names: ``path/to/file.py:NAME`` or ``package.module:NAME``.

    Raises :class:`~gradcheck.errors.TargetError` with one paragraph saying
    what to fix. ``role`` names the function in that message (``gradient``).
    With ``quiet_tensorflow``, TensorFlow is imported first with its start-up
    chatter muted, as ``load_engine`` does.

    .. code-block:: pycon

        >>> softplus = load_function("layers/softplus.py:softplus")  # doctest: +SKIP
    """
    obj = load_object(target, role=role, quiet_tensorflow=quiet_tensorflow)
    if not callable(obj):
        raise TargetError(f"Cannot load {role} {target!r}: it is {short_repr(obj)}, not a function; name the function itself.")
    return obj


def _quiet_tensorflow_first() -> None:
    # As load_engine does: a module that imports TensorFlow would otherwise
    # put its native start-up chatter on the screen.
    from gradcheck._tf import tensorflow

    tensorflow()


def _missing_function_problem(container: Any, owner: str, name: str) -> str:
    public = [n for n in dir(container) if not n.startswith("_") and callable(getattr(container, n, None))]
    public = [n for n in public if not inspect.ismodule(getattr(container, n))]
    close = difflib.get_close_matches(name, public, n=3)
    hint = f" Did you mean {' or '.join(repr(n) for n in close)}?" if close else ""
    listed = f" Its functions are: {', '.join(public[:12])}{', …' if len(public) > 12 else ''}." if public else ""
    return f"{owner} has no attribute {name!r}.{hint}{listed}"


def import_target(function: Callable[..., Any]) -> str | None:
    """Return ``module:NAME`` (or ``file.py:NAME``) that imports ``function`` again, if there is one."""
    module = sys.modules.get(getattr(function, "__module__", None) or "")
    name = getattr(function, "__qualname__", None) or getattr(function, "__name__", None)
    if module is None or not name or "<" in name:
        return None
    obj: Any = module
    for part in name.split("."):
        obj = getattr(obj, part, None)
    if obj is not function:
        return None
    file = getattr(module, "__file__", None)
    if module.__name__ == "__main__" or module.__name__.startswith(FILE_MODULE_PREFIX):
        return f"{display_path(file)}:{name}" if file else None
    return f"{module.__name__}:{name}"
