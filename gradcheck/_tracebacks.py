"""Point at the user's line when their code raises.

A traceback out of a user's engine is mostly frames from importlib, NumPy,
TensorFlow, Hypothesis and gradcheck itself; the one frame the user can act on
is the deepest one in *their* code. These helpers find that frame and fold the
exception into one line for messages and reports::

    ValueError: shapes (2,3) and (2,3) not aligned (at engine.py:42: return a @ b.T)

Only the standard library is imported here: the engine loader uses this module
and ``gradcheck --help`` must stay fast.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import sysconfig
import traceback
from pathlib import Path

from gradcheck._notebooks import loaded_notebook, position

__all__ = [
    "LIBRARY_PACKAGES",
    "MAX_MESSAGE_CHARS",
    "describe_exception",
    "display_path",
    "file_line",
    "format_frame",
    "is_user_file",
    "user_frame",
]

# Top-level packages whose frames are never "user code". A library only
# appears in a traceback after it was imported, so its location is read from
# ``sys.modules`` rather than guessed from site-packages layouts. The array
# libraries are here because an engine built on them fails *inside* them,
# but the line to fix is the user's call.
LIBRARY_PACKAGES = frozenset({
    "gradcheck",
    "numpy",
    "tensorflow",
    "keras",
    "tf_keras",
    "jax",
    "jaxlib",
    "torch",
    "scipy",
    "hypothesis",
    "pytest",
    "_pytest",
    "pluggy",
})

# Longest exception message kept in a one-paragraph description; TensorFlow
# errors can run to pages.
MAX_MESSAGE_CHARS = 300

_SITE_DIRS = ("site-packages", "dist-packages")

_EXAMPLES_ROOT = os.path.normcase(os.path.realpath(Path(__file__).parent / "examples"))


def _normalize(path: str | os.PathLike[str]) -> str:
    return os.path.normcase(os.path.realpath(path))


@functools.lru_cache(maxsize=None)  # fixed for the life of the interpreter
def _stdlib_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    return tuple({_normalize(paths[key]) for key in ("stdlib", "platstdlib") if key in paths})


def _library_roots() -> tuple[str, ...]:
    roots = []
    for name in LIBRARY_PACKAGES:
        module = sys.modules.get(name)
        file = getattr(module, "__file__", None)
        if file:
            roots.append(_normalize(os.path.dirname(file)))
    return tuple(roots)


def _is_under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def is_user_file(filename: str) -> bool:
    """Return whether a traceback frame's file is user code.

    Not user code: pseudo-files such as ``<frozen importlib._bootstrap>`` or
    the ``<string>`` of generated dataclass methods, the standard library, and
    the packages in ``LIBRARY_PACKAGES``. Anything else, including an engine
    installed into site-packages, is the user's.
    """
    if not filename or filename.startswith("<"):
        return False
    path = _normalize(filename)
    if _is_under(path, _EXAMPLES_ROOT):
        # The bundled example engines stand in for a user's engine.
        return True
    # A system Python keeps site-packages inside the stdlib folder, so a file
    # there is only stdlib when it is not under a site folder.
    in_site = any(part in _SITE_DIRS for part in Path(path).parts)
    if not in_site and any(_is_under(path, root) for root in _stdlib_roots()):
        return False
    return not any(_is_under(path, root) for root in _library_roots())


def user_frame(
    exc: BaseException, in_file: str | os.PathLike[str] | None = None
) -> traceback.FrameSummary | None:
    """Return the deepest frame of ``exc``'s traceback that is user code.

    With ``in_file``, only frames in that file count: "which line of the
    target file led here", when the deepest user frame is in a module the
    target imported. ``None`` when no frame qualifies.
    """
    wanted = _normalize(in_file) if in_file is not None else None
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if not is_user_file(frame.filename):
            continue
        if wanted is None or _normalize(frame.filename) == wanted:
            return frame
    return None


def display_path(filename: str | os.PathLike[str]) -> str:
    """Return ``filename`` relative to the working folder when inside it, else as given."""
    try:
        relative = os.path.relpath(filename)
    except ValueError:  # another drive on Windows
        return str(filename)
    return str(filename) if relative.startswith(os.pardir) else relative


def file_line(filename: str, lineno: int | None) -> str:
    """Return where line ``lineno`` of ``filename`` is, as the user finds it: ``engine.py:42``.

    A line of a notebook loaded as an engine is in one of its cells:
    ``engine.ipynb, cell 3, line 2`` (``gradcheck._notebooks``).
    """
    if lineno is None:
        return display_path(filename)
    cell = position(filename, lineno)
    if cell is not None:
        return f"{display_path(filename)}, cell {cell[0]}, line {cell[1]}"
    return f"{display_path(filename)}:{lineno}"


def format_frame(frame: traceback.FrameSummary) -> str:
    """Return ``file:line: source`` for a frame (``file:line`` when the source is unavailable)."""
    where = file_line(frame.filename, frame.lineno)
    line = frame.line
    notebook = loaded_notebook(frame.filename)
    if notebook is not None and frame.lineno:
        # The file on disk is the notebook's JSON: the line is the extracted code's.
        code = notebook.text.splitlines()
        line = code[frame.lineno - 1].strip() if frame.lineno <= len(code) else None
    return f"{where}: {line}" if line else where


def _one_line(text: str) -> str:
    text = re.sub(r"\s*\n\s*", " ", text.strip())
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 1].rstrip() + "…"
    return text


def describe_exception(exc: BaseException) -> str:
    """Return ``exc`` as one line: type, message and the deepest user frame.

    >>> describe_exception(error)  # doctest: +SKIP
    'ValueError: shapes (2,3) and (2,3) not aligned (at engine.py:42: return a @ b.T)'

    A ``SyntaxError`` points at its own file and line, which are not in the
    traceback. Without any user frame the location part is left out.
    """
    kind = type(exc).__name__
    if isinstance(exc, SyntaxError):
        message = _one_line(exc.msg or "")
        location = None
        if exc.filename and exc.lineno:
            location = file_line(exc.filename, exc.lineno)
            if exc.text and exc.text.strip():
                location += f": {exc.text.strip()}"
    else:
        message = _one_line(str(exc))
        frame = user_frame(exc)
        location = format_frame(frame) if frame else None
    text = f"{kind}: {message}" if message else kind
    return f"{text} (at {location})" if location else text
