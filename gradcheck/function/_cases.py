"""Drawing cases of a user's function: shapes, inputs in their domains, ``fn``'s output, a cotangent of its shape."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from gradcheck.errors import UsageError
from gradcheck.execution import guarded_call
from gradcheck.function._shapes import ShapeSpec, literal_shapes
from gradcheck.function_case import FunctionCase, UserFunction
from gradcheck.ops import Domain

__all__ = ["function_cases"]


def function_cases(
    function: UserFunction,
    shapes: ShapeSpec,
    domains: Callable[[int], tuple[Domain, ...]],
    names: Callable[[int], tuple[str, ...]],
    dtype: str,
    outputs: set[str],
) -> Any:
    """Return the strategy for cases of ``function``; ``outputs`` collects what fn returned (for the note)."""
    from hypothesis import strategies as st

    from gradcheck.arrays import as_array
    from gradcheck.strategies import cotangents, values

    @st.composite
    def cases(draw: Any) -> FunctionCase:
        drawn = draw(shapes.strategy)
        try:
            drawn = literal_shapes(drawn)
        except UsageError:
            raise UsageError(
                f"the shapes strategy drew {drawn!r}, which is not a tuple of shapes: "
                "it must draw tuples such as ((2, 3), (3,)), one shape per array."
            ) from None
        inputs = tuple(
            draw(values(shape, domain=domain, dtype=dtype))
            for shape, domain in zip(drawn, domains(len(drawn)))
        )
        # fn's output, for the cotangent's shape (and as the reference's
        # forward value): a guarded call, on copies, like any call into user code.
        stage = f"{function.name}()"
        output, failure = guarded_call(function.forward, *[x.copy() for x in inputs],
                                       stage=stage, timeout=function.timeout)
        forward = None
        if failure is None:
            forward = np.asarray(as_array(output))
            if not np.issubdtype(forward.dtype, np.number):
                failure = ("exception", f"{stage} returned {type(output).__name__}, not an array of numbers", None)
                forward = None
        cotangent = draw(cotangents(() if forward is None else forward.shape, dtype=dtype))
        if forward is not None:
            outputs.add("tensorflow" if _is_tensor(output) else "numpy")
        return FunctionCase(
            function, names(len(drawn)), inputs, cotangent, dtype, forward=forward,
            output_is_tensor=_is_tensor(output), draw_failure=failure,
        )

    return cases()


def _is_tensor(value: Any) -> bool:
    return type(value).__module__.startswith("tensorflow")
