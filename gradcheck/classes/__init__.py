"""Engines built from a Tensor class or a scalar ``Value`` class, with no glue code (docs/contract.md, section 1c).

``engine_from_class(Tensor)`` probes the class (``_engine``): how to make a
leaf and read a value, how each op is spelled (operators, methods, functions
of its module; each kept only when its forward matches the op's reference,
``_probe``), and how to take a VJP with ``backward``. The result satisfies
the engine contract, so ``gradcheck.engine.load_engine`` wraps it like any
engine and nothing after loading knows it came from a class. What probing
cannot find, ``[tool.gradcheck]`` says (``_config``).

.. code-block:: pycon

    >>> engine = engine_from_class(Tensor)  # doctest: +SKIP
    >>> print(describe_mapping(engine))  # doctest: +SKIP
    Tensor: a tensor class, float64
      leaves    Tensor(array, requires_grad=True)
      ...
"""

from __future__ import annotations

from typing import Any

from gradcheck.classes._config import ClassConfig, find_config, parse_config
from gradcheck.classes._engine import ClassEngine, build, is_tensor_class
from gradcheck.loading import function_location
from gradcheck.ops import OPS

__all__ = [
    "ClassConfig",
    "ClassEngine",
    "describe_mapping",
    "engine_from_class",
    "find_config",
    "is_tensor_class",
    "parse_config",
]


def engine_from_class(cls: type, config: ClassConfig | None = None, module: Any = None) -> ClassEngine:
    """Return an engine (docs/contract.md, section 1) built from the Tensor or Value class ``cls``.

    ``config`` overrides what probing would find (``ClassConfig``: constructor
    keywords, value and gradient spellings, op expressions); ``module`` is
    where module functions are looked for (default: the class's own module).
    Raises ``gradcheck.errors.TargetError`` when no leaf, value or gradient
    can be found.
    """
    return build(cls, config, module)


def describe_mapping(engine: ClassEngine, ops: Any = None) -> str:
    """Return, one line per op, how the engine calls the class or why the op is unsupported."""
    at = function_location(engine.cls)
    lines = [
        f"{engine.cls.__qualname__}{f' ({at})' if at else ''}: a {engine.kind} class, {engine.dtype}",
        f"  leaves      {engine.leaf_text}",
        f"  value       {engine.value_text}",
        f"  gradient    {engine.backward_text}",
    ]
    if engine.config_source:
        lines.append(f"  configured  {engine.config_source}")
    width = max(len(op) for op in OPS)
    for op in ops or OPS:
        if op in engine.mapping:
            mapped = engine.mapping[op]
            line = f"  {op:<{width}}  {mapped.text}"
            support = engine.param_support.get(op)
            if support:
                line += "  [checked on " + "; ".join(f"{p} in {_values(v)}" for p, v in support.items()) + "]"
            if mapped.note:
                line += f"  ({mapped.note})"
        else:
            line = f"  {op:<{width}}  unsupported: {engine.unsupported.get(op, 'not probed')}"
        lines.append(line)
    return "\n".join(lines)


def _values(values: list[Any]) -> str:
    shown = ", ".join(repr(v) for v in values[:8])
    return "{" + shown + (", …" if len(values) > 8 else "") + "}"
