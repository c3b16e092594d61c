"""The package's structure, checked: one-way imports and public seams between modules.

Read from the source with ``ast`` (nothing is imported), so a violation names
the file and line. Imports under ``if TYPE_CHECKING:`` are for annotations
only and never run: they are allowed to point anywhere.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gradcheck"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(name: str) -> bool:
    return (PACKAGE.parent / name.replace(".", "/") / "__init__.py").is_file()


def _runtime_imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """Return ``(line, module, names)`` for each import that runs (TYPE_CHECKING blocks left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for inner in node.body for child in ast.walk(inner))
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name, []) for alias in node.names)
    return [(line, module, names) for line, module, names in found if module.split(".")[0] == "gradcheck"]


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _private_part(module: str) -> str | None:
    """Return the package that owns ``module``'s first private part (``gradcheck.oracles`` for ``._tensorflow``)."""
    parts = module.split(".")
    for index, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:index])
    return None


def _package_of(module: str) -> str:
    return module if _is_package(module) else module.rpartition(".")[0]


@pytest.mark.parametrize("module", sorted(MODULES), ids=sorted(MODULES))
def test_no_private_module_of_another_package_and_no_private_name_across_modules(module):
    """A private module is used inside its own package only; a private name inside its own module only."""
    problems = []
    own_package = _package_of(module)
    for line, imported, names in _runtime_imports(MODULES[module]):
        owner = _private_part(imported)
        if owner is not None and not (own_package == owner or own_package.startswith(owner + ".")):
            problems.append(f"line {line}: imports {imported}, a private module of {owner}")
        for name in names:
            full = f"{imported}.{name}"
            if name.startswith("__"):
                continue  # dunders (__version__) are public
            if name.startswith("_") and full not in MODULES:
                problems.append(f"line {line}: imports the private name {name} from {imported}")
            elif name.startswith("_") and full in MODULES and _private_part(full) is not None:
                owner = _private_part(full)
                if not (own_package == owner or own_package.startswith(owner + ".")):
                    problems.append(f"line {line}: imports {full}, a private module of {owner}")
    assert not problems, f"{MODULES[module]}:\n" + "\n".join(problems)


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for module, path in MODULES.items():
        for _, imported, names in _runtime_imports(path):
            targets = [f"{imported}.{name}" for name in names if f"{imported}.{name}" in MODULES] or [imported]
            graph[module].update(target for target in targets if target in MODULES and target != module)
    return graph


def test_no_import_cycle():
    """Imports form a DAG, function-level imports included: data flows one way through the pipeline."""
    graph = _graph()
    # A package's __init__ re-exporting its own modules is not a cycle of the pipeline.
    for module in graph:
        graph[module] = {target for target in graph[module]
                         if not (_is_package(target) and module.startswith(target + "."))}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module)
            assert cycle is None, "import cycle: " + " -> ".join(cycle)
