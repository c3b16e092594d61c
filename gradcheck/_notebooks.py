"""Read a Jupyter notebook's code as the source of one Python module.

A target may be a ``.ipynb`` file (docs/contract.md, section 2). Its code
cells are joined in order into one module's source, with what only IPython
runs taken out, as a student's notebook would run from top to bottom:

* a cell starting with a cell magic (``%%bash``, ``%%writefile x.py``) is
  left out, except ``%%time`` and ``%%capture``, whose body is Python that
  runs in the notebook's namespace (their magic line alone is taken out);
* a statement that is a line magic (``%matplotlib inline``), a shell escape
  (``!pip install ...``, ``files = !ls``), a help request (``np.sum?``) or
  calls ``get_ipython()`` is taken out (a block header that calls it, such
  as ``if get_ipython():``, stays, and fails as plain Python would);
  ``%time STATEMENT`` keeps its statement.

Only statements are looked at, found with ``tokenize``, so a line of a
bracketed expression or of a string that starts with ``%`` stays. A line
taken out becomes ``pass`` (blank at the top level), so every line of the
module is a line of a cell; ``NotebookSource.position`` maps it back, and
``position`` lets tracebacks and messages say ``engine.ipynb, cell 3, line 2``
(cells are counted from the top of the notebook, markdown cells included,
starting at 1).

nbformat 4 and 3 are read with the standard library only (``json``): the
engine loader uses this module and ``gradcheck --help`` must stay fast.
"""

from __future__ import annotations

import io
import json
import linecache
import os
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "NOTEBOOK_SUFFIX",
    "NotebookError",
    "NotebookSource",
    "is_notebook",
    "loaded_notebook",
    "position",
    "read_notebook",
    "register",
]

NOTEBOOK_SUFFIX = ".ipynb"

# Cell magics whose body is Python run in the notebook's own namespace: the
# definitions in it exist afterwards, so the body is kept.
_PYTHON_CELL_MAGICS = frozenset({"time", "capture"})
# Line magics followed by a statement they run in the notebook's namespace.
_STATEMENT_LINE_MAGICS = frozenset({"time"})

_CELL_MAGIC = re.compile(r"%%(\w+)")
_ASSIGNED_ESCAPE = re.compile(r"[\w.,\s\[\]()*]+?=\s*[!%]")
_HELP = re.compile(r"(\?{1,2}[\w.\[\]]*|[\w.\[\]]+\?{1,2})\s*(#.*)?")
_JSON_KINDS = {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}
_SKIPPED_TOKENS = frozenset({tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING})


class NotebookError(ValueError):
    """A file that cannot be read as a Python notebook; the message says why, as sentences."""


@dataclass(frozen=True)
class NotebookSource:
    """The code of a notebook as one module: ``text``, and where each of its lines comes from."""

    path: str  # absolute
    text: str
    # (cell number, line in that cell) of each line of ``text``, in order.
    lines: tuple[tuple[int, int], ...]

    def position(self, lineno: int) -> tuple[int, int] | None:
        """Return (cell, line in cell) of line ``lineno`` (1-based) of ``text``, if it is one."""
        return self.lines[lineno - 1] if 0 < lineno <= len(self.lines) else None


def is_notebook(path: str | os.PathLike[str]) -> bool:
    """Return whether ``path`` names a notebook (by its suffix, as the loader decides)."""
    return os.fspath(path).lower().endswith(NOTEBOOK_SUFFIX)


def read_notebook(path: str | os.PathLike[str]) -> NotebookSource:
    """Return the module source of the notebook at ``path``.

    Raises ``OSError`` when the file cannot be read and ``NotebookError``,
    whose message names the file and what was looked for, when it is not a
    Python notebook with code in it.
    """
    shown = os.fspath(path)
    data = Path(path).read_bytes()
    try:
        notebook = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        raise NotebookError(
            f"{shown} is not a notebook: it is not UTF-8 text (byte {error.start} cannot be decoded), and a "
            ".ipynb file is JSON text. Save the notebook again from Jupyter, or give the engine as a .py file."
        ) from None
    except json.JSONDecodeError as error:
        raise NotebookError(
            f"{shown} is not a notebook gradcheck can read: it is not valid JSON ({error.msg} at line "
            f"{error.lineno}, column {error.colno}). A .ipynb file is JSON, which an edit by hand or a "
            "merge can break; save the notebook again from Jupyter, or give the engine as a .py file."
        ) from None
    cells = _cells(notebook, shown)
    _check_language(notebook, shown)
    return _module_source(cells, str(Path(path).resolve()), shown)


def _cells(notebook: object, shown: str) -> list[dict[str, object]]:
    """Return the notebook's cells (nbformat 4, or the first worksheet's of nbformat 3)."""
    if isinstance(notebook, dict) and isinstance(notebook.get("cells"), list):
        cells = notebook["cells"]
    elif isinstance(notebook, dict) and isinstance(notebook.get("worksheets"), list):
        cells = [cell for sheet in notebook["worksheets"] if isinstance(sheet, dict)
                 for cell in (sheet.get("cells") or []) if isinstance(sheet.get("cells"), list)]
    else:
        found = "an object without either" if isinstance(notebook, dict) else f"a JSON {_JSON_KINDS.get(type(notebook), 'value')}"
        raise NotebookError(
            f"{shown} is JSON but not a Jupyter notebook: gradcheck looked for its \"cells\" list (nbformat 4) "
            f"or its \"worksheets\" (nbformat 3) and found {found}. Give the notebook as Jupyter saves it, "
            "or the engine as a .py file."
        )
    return [cell for cell in cells if isinstance(cell, dict)]


def _check_language(notebook: dict[str, object], shown: str) -> None:
    metadata = notebook.get("metadata")
    if not isinstance(metadata, dict):
        return
    found = [(metadata.get(key) or {}).get(field) for key, field in (("kernelspec", "language"), ("language_info", "name"))
             if isinstance(metadata.get(key), dict)]
    language = next((lang for lang in found if isinstance(lang, str) and lang), None)
    if language is not None and language.lower() != "python":
        raise NotebookError(
            f"{shown} is a notebook for {language} (its kernel's language), not Python: gradcheck runs "
            "Python code cells only. Give a notebook with a Python kernel, or the engine as a .py file."
        )


def _cell_text(cell: dict[str, object]) -> str:
    # nbformat 4 keeps the code in "source", 3 in "input"; either a string or a list of lines.
    text = cell.get("source", cell.get("input", ""))
    if isinstance(text, list):
        text = "".join(part for part in text if isinstance(part, str))
    return text if isinstance(text, str) else ""


def _module_source(cells: list[dict[str, object]], path: str, shown: str) -> NotebookSource:
    lines: list[str] = []
    positions: list[tuple[int, int]] = []
    code_cells = 0
    kinds: dict[str, int] = {}
    for number, cell in enumerate(cells, start=1):
        kind = cell.get("cell_type")
        kinds[str(kind)] = kinds.get(str(kind), 0) + 1
        if kind != "code":
            continue
        code_cells += 1
        cell_lines = _python_lines(_cell_text(cell))
        lines.extend(cell_lines)
        positions.extend((number, line) for line in range(1, len(cell_lines) + 1))
    if not any(line.strip() and line.strip() != "pass" for line in lines):
        counted = ", ".join(f"{count} {kind} cell{'s' if count != 1 else ''}" for kind, count in kinds.items())
        if code_cells:
            problem = f"its code cells hold only IPython magics, shell commands or nothing ({counted})"
        else:
            problem = f"it has no code cells ({counted or 'no cells at all'})"
        raise NotebookError(
            f"{shown} has no engine to load: {problem}. gradcheck runs a notebook's code cells in order and "
            "looks there for the engine's variable, value and grad (docs/contract.md, section 1); write them "
            "in a code cell, or give the engine as a .py file."
        )
    return NotebookSource(path=path, text="".join(line + "\n" for line in lines), lines=tuple(positions))


def _python_lines(text: str) -> list[str]:
    """Return the lines of one code cell with what only IPython runs replaced by ``pass`` (or blank)."""
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")), None)
    if first is not None:
        magic = _CELL_MAGIC.match(lines[first].lstrip())
        if magic and magic.group(1) not in _PYTHON_CELL_MAGICS:
            return [""] * len(lines)  # the whole cell is for IPython (bash, html, writefile, ...)
        if magic:
            lines[first] = ""
    for start, end in _statements(lines):
        statement = lines[start].lstrip()
        indent = lines[start][: len(lines[start]) - len(statement)]
        kept = _kept_statement(statement)
        if kept is None:
            continue
        lines[start] = indent + kept if kept else (indent + "pass" if indent else "")
        for index in range(start + 1, end + 1):
            lines[index] = ""
    return lines


def _kept_statement(statement: str) -> str | None:
    """Return what stays of an IPython-only statement ("" for nothing), or None for plain Python."""
    if statement.startswith("%"):
        name, _, rest = statement[1:].partition(" ")
        return rest.strip() if name in _STATEMENT_LINE_MAGICS else ""
    if statement.startswith("!") or _ASSIGNED_ESCAPE.match(statement) or _HELP.fullmatch(statement.strip()):
        return ""
    # A block's header stays (its body would be left without it): a NameError there names the line.
    if "get_ipython(" in statement and not statement.split("#")[0].rstrip().endswith(":"):
        return ""
    return None


def _statements(lines: list[str]) -> list[tuple[int, int]]:
    """Return (first, last) line index of each statement of a cell, found with ``tokenize``.

    A cell ``tokenize`` cannot read to the end (an unclosed bracket or
    string) is taken line by line: Python will say what is wrong with it.
    """
    source = "".join(line + "\n" for line in lines)
    spans: list[tuple[int, int]] = []
    start: int | None = None
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type in _SKIPPED_TOKENS or token.type == tokenize.ENDMARKER:
                continue
            if start is None:
                start = token.start[0] - 1
            if token.type == tokenize.NEWLINE:
                spans.append((start, token.end[0] - 1))
                start = None
    except (tokenize.TokenError, SyntaxError):
        return [(i, i) for i, line in enumerate(lines) if line.strip()]
    if start is not None:
        spans.append((start, len(lines) - 1))
    return spans


# --- Where a line of a loaded notebook comes from --------------------------------

_LOADED: dict[str, NotebookSource] = {}


def _key(filename: str) -> str:
    return os.path.normcase(os.path.realpath(filename))


def register(source: NotebookSource) -> None:
    """Remember ``source`` as what runs for its notebook: tracebacks then show its lines and cells."""
    _LOADED[_key(source.path)] = source
    # The file on disk is JSON: without this, a traceback would show JSON lines.
    # No modification time, so linecache.checkcache keeps the entry.
    linecache.cache[source.path] = (len(source.text), None, source.text.splitlines(keepends=True), source.path)


def loaded_notebook(filename: str) -> NotebookSource | None:
    """Return the source registered for ``filename``, when it is a notebook loaded in this process."""
    if not is_notebook(filename):
        return None
    return _LOADED.get(_key(filename))


def position(filename: str, lineno: int) -> tuple[int, int] | None:
    """Return (cell, line in cell) of line ``lineno`` of a loaded notebook's module, else None."""
    source = loaded_notebook(filename)
    return source.position(lineno) if source is not None else None
