"""What a user may say about a Tensor class in ``[tool.gradcheck]`` (docs/contract.md, section 1c).

The table lives in the project's ``pyproject.toml`` or in a ``gradcheck.toml``
next to the target (there, ``[tool.gradcheck]`` or the same keys at the top
level). It is configuration, not code: every key overrides one thing the
probe would otherwise find out by itself::

    [tool.gradcheck]
    class = "Tensor"                     # the class, when TARGET names the module
    kind = "tensor"                      # or "scalar" (one float per object, micrograd's Value)
    dtype = "float32"                    # the dtype leaves are made in (default: what Class(array) keeps)
    constructor = { requires_grad = true }  # keywords Class(array, ...) is called with
    value = "data"                       # how to read a node's value: an attribute, or "numpy()"
    grad = "grad"                        # the attribute holding a leaf's gradient
    backward = "backward(grad)"          # or "backward()": seeded with sum(y * cotangent)

    [tool.gradcheck.ops]
    sum = "x.sum(dim=axis)"              # an expression in the op's operands and parameters
    relu = "clamp_positive"              # or a method name: x.clamp_positive()

A bad table is a ``UsageError`` (exit 2) with one paragraph naming the file,
the key and what it must be. Reading needs ``tomllib`` (Python 3.11) or the
``tomli`` package, imported only when a file is there.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gradcheck.errors import UsageError
from gradcheck.ops import OPS, canonical_op
from gradcheck.settings import DTYPES

__all__ = ["ClassConfig", "find_config", "parse_config"]

_SECTION = "docs/contract.md, section 1c"

KINDS = ("tensor", "scalar")

# ``backward(grad)``, ``backward()``, ``backward(gradient=grad)``.
_BACKWARD = re.compile(r"(?P<name>[A-Za-z_]\w*)\((?:(?P<keyword>[A-Za-z_]\w*)=)?(?P<arg>grad)?\)")
_VALUE = re.compile(r"(?P<name>[A-Za-z_]\w*)(?P<call>\(\))?")
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")

_EXAMPLE = (
    'for example class = "Tensor", constructor = { requires_grad = true }, backward = "backward(grad)" '
    'and, in [tool.gradcheck.ops], sum = "x.sum(dim=axis)"'
)


@dataclass(frozen=True)
class ClassConfig:
    """What the user said about their class; ``None`` (or empty) leaves it to the probe."""

    class_name: str | None = None
    kind: str | None = None
    dtype: str | None = None
    constructor: dict[str, Any] = field(default_factory=dict)
    value: str | None = None
    grad: str | None = None
    backward: str | None = None
    # Canonical op name -> a method name or an expression.
    ops: dict[str, str] = field(default_factory=dict)
    # Where it was read from, for messages ("" when given in Python).
    source: str = ""

    def __post_init__(self) -> None:
        # The same checks whether the table came from a file or from Python.
        where = self.source or "ClassConfig"
        if self.kind is not None and self.kind not in KINDS:
            raise _bad(where, "kind", self.kind, f'"tensor" or "scalar"')
        if self.dtype is not None and self.dtype not in DTYPES:
            raise _bad(where, "dtype", self.dtype, " or ".join(f'"{d}"' for d in DTYPES))
        for key in ("class_name", "value", "grad", "backward"):
            given = getattr(self, key)
            if given is not None and not isinstance(given, str):
                raise _bad(where, "class" if key == "class_name" else key, given, "a string")
        if self.value is not None and not _VALUE.fullmatch(self.value):
            raise _bad(where, "value", self.value, 'an attribute ("data") or a method call without arguments ("numpy()")')
        if self.grad is not None and not _IDENTIFIER.fullmatch(self.grad):
            raise _bad(where, "grad", self.grad, 'an attribute name, such as "grad"')
        if self.backward is not None and not _BACKWARD.fullmatch(self.backward):
            raise _bad(where, "backward", self.backward,
                       '"backward(grad)" (it takes the cotangent), "backward(gradient=grad)" or "backward()"')
        if not isinstance(self.constructor, dict) or not all(isinstance(k, str) for k in self.constructor):
            raise _bad(where, "constructor", self.constructor, "a table of keywords, e.g. { requires_grad = true }")
        for op, spelled in self.ops.items():
            _check_op_entry(where, op, spelled)

    @property
    def backward_parts(self) -> tuple[str, str | None, bool] | None:
        """Return ``(method, keyword or None, takes the cotangent)`` of ``backward``, if given."""
        if self.backward is None:
            return None
        match = _BACKWARD.fullmatch(self.backward)
        assert match is not None  # checked in __post_init__
        return match["name"], match["keyword"], match["arg"] is not None


def _bad(where: str, key: str, value: Any, meant: str) -> UsageError:
    return UsageError(
        f"{where}: [tool.gradcheck] {key} = {value!r} cannot be used: it must be {meant}. "
        f"Fix that entry or remove it to let gradcheck find out by probing the class ({_SECTION}), {_EXAMPLE}."
    )


def _check_op_entry(where: str, op: str, spelled: Any) -> None:
    if canonical_op(op) is None:
        known = ", ".join(OPS)
        raise UsageError(
            f"{where}: [tool.gradcheck.ops] has an entry for {op!r}, which is not an op gradcheck checks. "
            f"Use one of: {known} ({_SECTION})."
        )
    spec = OPS[canonical_op(op) or op]
    names = (*spec.operands, *(p.name for p in spec.params))
    meant = (
        f"a method name (x.NAME(...)) or an expression in {', '.join(names)}, "
        f"such as {_example_expression(op)!r}"
    )
    if not isinstance(spelled, str) or not spelled.strip():
        raise _bad(where, f"ops.{op}", spelled, meant)
    if _IDENTIFIER.fullmatch(spelled):
        return
    try:
        tree = ast.parse(spelled, mode="eval")
    except SyntaxError:
        raise _bad(where, f"ops.{op}", spelled, meant) from None
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    missing = [name for name in spec.operands if name not in used]
    if missing:
        raise _bad(where, f"ops.{op}", spelled, f"{meant} (it never uses {', '.join(missing)})")


def _example_expression(op: str) -> str:
    spec = OPS[canonical_op(op) or op]
    if len(spec.operands) == 2:
        return f"{spec.operands[0]}.{spec.name}({spec.operands[1]})"
    params = ", ".join(f"{p.name}={p.name}" for p in spec.params)
    return f"x.{spec.name}({params})"


def parse_config(table: Any, source: str) -> ClassConfig:
    """Return the ClassConfig of a ``[tool.gradcheck]`` table read from ``source``."""
    if not isinstance(table, dict):
        raise UsageError(f"{source}: [tool.gradcheck] must be a table, {_EXAMPLE} ({_SECTION}).")
    known = {"class", "kind", "dtype", "constructor", "value", "grad", "backward", "ops"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise UsageError(
            f"{source}: [tool.gradcheck] has the unknown key(s) {', '.join(unknown)}; the keys are "
            f"{', '.join(sorted(known))} ({_SECTION}). Check the spelling."
        )
    ops = table.get("ops", {})
    if not isinstance(ops, dict):
        raise _bad(source, "ops", ops, "a table [tool.gradcheck.ops] of op = spelling")
    canonical = {}
    for op, spelled in ops.items():
        _check_op_entry(source, op, spelled)
        canonical[canonical_op(op) or op] = spelled
    return ClassConfig(
        class_name=table.get("class"),
        kind=table.get("kind"),
        dtype=table.get("dtype"),
        constructor=table.get("constructor", {}),
        value=table.get("value"),
        grad=table.get("grad"),
        backward=table.get("backward"),
        ops=canonical,
        source=source,
    )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10
            import tomli as tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10 without tomli
        raise UsageError(
            f"{path} configures gradcheck, but Python {sys.version_info.major}.{sys.version_info.minor} "
            "has no TOML reader (tomllib came in 3.11). Run gradcheck with Python 3.11 or later, or install tomli."
        ) from None
    try:
        with open(path, "rb") as stream:
            return tomllib.load(stream)
    except OSError as error:
        raise UsageError(f"{path} cannot be read: {error.strerror or error}.") from None
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"{path} is not valid TOML ({error}). Fix the file ({_SECTION})") from None


def find_config(start: str | Path | None) -> ClassConfig | None:
    """Return the ``[tool.gradcheck]`` configuration that applies to a target in folder ``start``.

    A ``gradcheck.toml`` in ``start`` wins; otherwise the nearest
    ``pyproject.toml`` in ``start`` or a parent folder, if it has the table
    (the search stops at the first ``pyproject.toml``: the project's root).
    """
    if start is None:
        return None
    folder = Path(start).resolve()
    if folder.is_file():
        folder = folder.parent
    own = folder / "gradcheck.toml"
    if own.is_file():
        document = _read_toml(own)
        table = document.get("tool", {}).get("gradcheck", document) if "tool" in document else document
        return parse_config(table, str(own))
    for candidate in (folder, *folder.parents):
        project = candidate / "pyproject.toml"
        if project.is_file():
            tool = _read_toml(project).get("tool", {})
            if isinstance(tool, dict) and "gradcheck" in tool:
                return parse_config(tool["gradcheck"], str(project))
            return None
    return None
