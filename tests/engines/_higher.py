"""The correct order-2 and forward-mode engine, ``tests/targets/higher_engine.py``, and the engines planted in it.

``tests/targets`` is no package, and gradcheck loads a planted engine as a
file with its own folder first on ``sys.path``, where ``from _higher import
higher`` finds this module. It loads the engine by path once and shares it;
`load_planted` imports a planted engine the way gradcheck does. These
engines are not in ``PLANTED`` (``tests/engines/__init__.py``): their bugs
show at order 2 or in forward mode only, and their modules say which with
``ORDER = 2`` or ``MODE = "forward"``.

Their engine lives outside their folder, which gradcheck's sandbox does not
show a worker: check them in-process (the default) or with ``--isolate
--no-sandbox``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["PLANTED_HIGHER", "higher", "load_planted"]

_HERE = Path(__file__).resolve().parent
_ENGINE_NAME = "gradcheck_tests_higher_engine"

#: The planted engines built on `higher`, by module name.
PLANTED_HIGHER = (
    "order2_tanh_detached",
    "order2_exp_numpy_backward",
    "order2_sum_numpy_backward",
    "order2_matmul_create_graph_values",
    "forward_sin_wrong_jvp",
    "forward_matmul_jvp_one_side",
)


def _import(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    # Registered first, as `import` does.
    sys.modules[name] = module
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


def load_planted(name: str) -> ModuleType:
    """Return the planted engine module ``tests/engines/NAME.py``, imported by path with its folder on sys.path."""
    return _import(f"gradcheck_tests_{name}", _HERE / f"{name}.py")


#: The module ``tests/targets/higher_engine.py``, one object however often this module is loaded.
higher: ModuleType = sys.modules.get(_ENGINE_NAME) or _import(_ENGINE_NAME, _HERE.parent / "targets" / "higher_engine.py")
