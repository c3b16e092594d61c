"""What ``check_function`` draws: shape specs (``array``, ``broadcast:3``, literals, strategies) and domains.

``parse_shapes`` turns what the user wrote (``shapes=``, ``--shapes``) into a
``ShapeSpec``; ``domains_for`` turns ``domain=`` into one ``Domain`` per array;
``domain_options`` and ``parse_domain_option`` spell domains on the command
line and read them back.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from gradcheck.errors import UsageError
from gradcheck.loading import load_object, short_repr
from gradcheck.ops import FREE, Domain

__all__ = [
    "SHAPE_SPECS",
    "SHAPE_SPEC_NAMES",
    "ShapeSpec",
    "domain_options",
    "domains_for",
    "literal_shapes",
    "parse_domain_option",
    "parse_shapes",
]

#: The shape specs ``shapes=`` and ``--shapes`` take by name, and what each draws.
#: ``N`` is a count of arrays (``broadcast:3``); a literal such as
#: ``(2, 3), (3,)`` fixes the shapes instead.
SHAPE_SPECS: dict[str, str] = {
    "array": "one array of any shape, a scalar included",
    "nonscalar": "one array with at least one axis",
    "matrix": "one array with at least two axes: a stack of matrices",
    "matmul": "two matmul operands with NumPy semantics: 1-D operands, broadcast batch axes",
    "same:N": "N arrays of one shape",
    "broadcast:N": "N mutually broadcastable shapes: size-1 axes, different ranks",
}

#: The names of ``SHAPE_SPECS``, without their counts.
SHAPE_SPEC_NAMES = frozenset(spec.partition(":")[0] for spec in SHAPE_SPECS)

_SHAPES_HINT = (
    "Give one shape per array: a literal such as '(2, 3), (3,)'; a spec, one of "
    f"{', '.join(SHAPE_SPECS)}; or path/to/file.py:NAME naming a Hypothesis strategy of tuples of shapes."
)


@dataclass(frozen=True)
class ShapeSpec:
    """The shapes to draw: a strategy, how many arrays it gives (None: unknown), how to spell it."""

    strategy: Any
    count: int | None
    text: str | None


def parse_shapes(shapes: Any) -> ShapeSpec:
    """Return the :class:`ShapeSpec` for ``shapes``: a spec string, a literal tuple of shapes, or a strategy.

    Spec strings are ``SHAPE_SPECS``' names (``array``, ``broadcast:3``, ...),
    a literal (``"(2, 3), (3,)"``), or the target of a strategy in the user's
    code (``"path/to/file.py:NAME"``, ``"package.module:NAME"``, which is
    imported). Raises ``UsageError`` naming the bad spec.

    .. code-block:: pycon

        >>> parse_shapes("broadcast:3").count
        3
        >>> parse_shapes(((2, 3), (3,))).text
        '(2, 3), (3,)'
    """
    from hypothesis import strategies as st

    if isinstance(shapes, ShapeSpec):
        return shapes
    if isinstance(shapes, st.SearchStrategy):
        return ShapeSpec(shapes, None, None)
    if isinstance(shapes, str):
        named = _named_spec(shapes.strip())
        if named is not None:
            return named
        if ":" in shapes and not shapes.rpartition(":")[2].strip().isdigit():
            return ShapeSpec(_shapes_strategy(shapes.strip()), None, shapes.strip())
        try:
            shapes = ast.literal_eval(shapes)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise UsageError(
                f"shapes={shapes!r} is neither a shape spec nor a literal.{_spec_hint(shapes)} {_SHAPES_HINT}"
            ) from None
    literal = literal_shapes(shapes)
    text = ", ".join(str(shape) for shape in literal)
    return ShapeSpec(st.just(literal), len(literal), text)


def _spec_hint(text: str) -> str:
    import difflib

    name, colon, count = text.strip().partition(":")
    close = difflib.get_close_matches(name, sorted(SHAPE_SPEC_NAMES), n=1)
    return f" Did you mean {close[0] + colon + count!r}?" if close else ""


def _shapes_strategy(target: str) -> Any:
    """Return the Hypothesis strategy a target names, e.g. ``layers.py:layer_shapes``."""
    from hypothesis.strategies import SearchStrategy

    strategy = load_object(target, role="shapes strategy")
    if not isinstance(strategy, SearchStrategy):
        raise UsageError(
            f"shapes={target!r} is {short_repr(strategy)}, not a Hypothesis strategy; name a strategy "
            f"of tuples of shapes. {_SHAPES_HINT}"
        )
    return strategy


def literal_shapes(shapes: Any) -> tuple[tuple[int, ...], ...]:
    def is_shape(value: Any) -> bool:
        return isinstance(value, (tuple, list)) and all(
            isinstance(side, (int, np.integer)) and not isinstance(side, bool) and side >= 0 for side in value
        )

    if isinstance(shapes, (tuple, list)) and shapes and all(isinstance(side, (int, np.integer)) for side in shapes):
        shapes = (shapes,)  # a single shape, (2, 3): one array
    elif isinstance(shapes, (tuple, list)) and len(shapes) == 0:
        shapes = ((),)  # (): one scalar
    if not isinstance(shapes, (tuple, list)) or not all(is_shape(shape) for shape in shapes):
        raise UsageError(f"shapes={shapes!r} is not a tuple of shapes. {_SHAPES_HINT}")
    return tuple(tuple(int(side) for side in shape) for shape in shapes)


def _named_spec(text: str) -> ShapeSpec | None:
    """Return the ShapeSpec of a named spec (``broadcast:3``), None when ``text`` names none."""
    from hypothesis import strategies as st

    from gradcheck.strategies import broadcastable_shapes, operand_shapes

    name, _, count_text = text.partition(":")
    if name not in SHAPE_SPEC_NAMES:
        return None
    counted = f"{name}:N" in SHAPE_SPECS
    if counted:
        count_text = count_text or "2"
        if not count_text.isdigit() or int(count_text) < 1:
            raise UsageError(
                f"shapes={text!r}: the count after '{name}:' must be a whole number of arrays >= 1, "
                f"e.g. {name}:2."
            )
    elif count_text:
        raise UsageError(f"shapes={text!r}: {name} takes no count; write {name} ({SHAPE_SPECS[name]}).")
    if name == "broadcast":
        count = int(count_text)
        # As operand_shapes mixes them: small spaces a hundred examples cover
        # densely (sides <= 2; every side 2), then the full one.
        strategy = st.one_of(
            broadcastable_shapes(count, max_side=2),
            broadcastable_shapes(count, min_side=2, max_side=2),
            broadcastable_shapes(count),
        )
    elif name == "same":
        count = int(count_text)
        strategy = operand_shapes("elementwise").map(lambda shapes: shapes * count)
    else:
        rule = {"array": "elementwise", "nonscalar": "nonscalar", "matrix": "matrix", "matmul": "matmul"}[name]
        count = 2 if name == "matmul" else 1
        strategy = operand_shapes(rule)
    return ShapeSpec(strategy, count, f"{name}:{count}" if counted else name)


# --- Domains ---------------------------------------------------------------------------------


def _domain(value: Any, argument: str) -> Domain:
    if isinstance(value, Domain):
        return value
    if (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(end, (int, float, np.number)) and not isinstance(end, bool) for end in value)):
        low, high = (float(end) for end in value)
        if np.isfinite(low) and np.isfinite(high) and low < high:
            return Domain(((low, high),))
    raise UsageError(
        f"{argument}={value!r} is not a domain; give (low, high) with low < high, both finite, "
        "or a gradcheck.ops.Domain."
    )


def domains_for(domain: Any) -> Callable[[int], tuple[Domain, ...]]:
    """Return ``count -> one Domain per array`` for ``domain``: None, one domain, or one per array."""
    if domain is None:
        return lambda count: (FREE,) * count
    if isinstance(domain, Domain) or (
        isinstance(domain, (tuple, list)) and len(domain) == 2
        and not any(isinstance(end, (tuple, list, Domain)) for end in domain)
    ):
        shared = _domain(domain, "domain")
        return lambda count: (shared,) * count
    if not isinstance(domain, (tuple, list)) or not domain:
        raise UsageError(
            f"domain={domain!r} is not a domain; give (low, high), a gradcheck.ops.Domain, "
            "or a list of them, one per array."
        )
    each = tuple(_domain(item, f"domain[{index}]") for index, item in enumerate(domain))

    def per_array(count: int) -> tuple[Domain, ...]:
        if count != len(each):
            raise UsageError(
                f"domain gives {len(each)} domains but the shapes give {count} arrays; give one "
                "domain per array, or a single one for all of them."
            )
        return each

    return per_array


def domain_options(domain: Any) -> list[str] | None:
    """Return ``--domain`` options for ``domain``, or None when the command line cannot spell it."""
    if domain is None:
        return []
    try:
        domains = domains_for(domain)
        shared = isinstance(domain, Domain) or not isinstance(domain[0], (tuple, list, Domain))
        listed = domains(1) if shared else domains(len(domain))
    except (UsageError, TypeError, IndexError):
        return None
    words = []
    for item in listed:
        if item.lattice is not None or item.distinct or len(item.intervals) != 1:
            return None
        low, high = item.intervals[0]
        words.append(f"--domain={low!r},{high!r}")
    return words


def parse_domain_option(text: str) -> tuple[float, float]:
    """Return ``--domain LOW,HIGH`` as ``(low, high)``; raise ``UsageError`` saying what to write."""
    parts = text.split(",")
    try:
        low, high = (float(part) for part in parts)
    except ValueError:
        low = high = float("nan")
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise UsageError(
            f"--domain={text!r} is not LOW,HIGH with LOW < HIGH, both finite numbers; e.g. "
            "--domain=0.25,4 (write --domain=LOW,HIGH with '=' when LOW is negative: --domain=-1,1)."
        )
    return low, high
