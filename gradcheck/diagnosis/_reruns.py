"""Exceptions explained by running the engine again on the same case, written another way.

An exception carries no numbers to compare, so the evidence is a second run
(as ``blame_steps`` replays steps): the same values with negative axes written
non-negative, or with broadcast operands already broadcast. When the engine
raised on the case and passes on its rewrite, the rewrite names what the
engine does not handle. Each variant is the same mathematical case: the
reference is unchanged but for the rewritten operands' gradients, which the
verdict judges afresh.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from gradcheck.case import Case
from gradcheck.diagnosis._evidence import BROADCASTING
from gradcheck.results import Failure
from gradcheck.tolerances import Tolerance

if TYPE_CHECKING:
    from gradcheck.engine import CheckedEngine

__all__ = ["RERUNS", "Rerun", "explain_exception"]


def _axes(value: Any) -> list[int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return [int(value)]
    if isinstance(value, (tuple, list)):
        return [int(a) for a in value]
    return []


def _non_negative_axes(case: Case) -> tuple[Case, dict[str, Any]] | None:
    """Return ``case`` with its negative axes written non-negative, or None when it has none."""
    ndim = case.inputs[0].ndim
    changed: dict[str, Any] = {}
    for name in ("axis", "axes"):
        value = case.params.get(name)
        axes = _axes(value)
        if not any(a < 0 for a in axes):
            continue
        fixed = [a % ndim for a in axes]
        changed[name] = fixed[0] if isinstance(value, (int, np.integer)) else tuple(fixed)
    if not changed:
        return None
    name = next(iter(changed))
    axes = _axes(case.params[name])
    kind = "mixed-sign" if any(a >= 0 for a in axes) else "negative"
    fields = {"param": name, "given": case.params[name], "fixed": changed[name], "kind": kind}
    return dataclasses.replace(case, params={**case.params, **changed}), fields


def _pre_broadcast(case: Case) -> tuple[Case, dict[str, Any]] | None:
    """Return ``case`` with every operand broadcast to the output's shape first, or None when none is."""
    if case.op not in BROADCASTING or len(case.inputs) < 2:
        return None
    target = tuple(np.broadcast_shapes(*case.shapes))
    if all(x.shape == target for x in case.inputs):
        return None
    inputs = tuple(np.array(np.broadcast_to(x, target)) for x in case.inputs)
    shapes = ", ".join(f"{name} {x.shape}" for name, x in zip(case.names, case.inputs))
    return dataclasses.replace(case, inputs=inputs), {"shapes": shapes, "target": target}


@dataclass(frozen=True)
class Rerun:
    """One rewrite of a case that an engine may handle where it does not handle the original."""

    name: str
    rewrite: Callable[[Case], tuple[Case, dict[str, Any]] | None]
    template: str
    cause: str


#: The rewrites tried on an op's exception, in order.
RERUNS: tuple[Rerun, ...] = (
    Rerun(
        "negative_axes", _non_negative_axes,
        "{op} raised with {kind} axes {param}={given!r} and gives the right gradient with the same "
        "axes written non-negative, {param}={fixed!r}: the engine mishandles negative axes; "
        "normalize each with axis % x.ndim before using it (in the backward pass too).",
        "{op}: negative axes",
    ),
    Rerun(
        "broadcast_operands", _pre_broadcast,
        "{op} raised on operands of shapes {shapes}, and gives the right gradients on the same values "
        "broadcast to {target} beforehand: the backward does not handle broadcast operands; sum each "
        "operand's gradient over the broadcast axes back to its own shape, after any mask such as "
        "a > b is applied at the broadcast shape.",
        "{op}: broadcast operands",
    ),
)


def explain_exception(
    engine: CheckedEngine, case: Case, failure: Failure, tolerance: Tolerance, timeout: float | None
) -> tuple[str, str] | None:
    """Return ``(sentence, cause)`` when a rewrite of ``case`` runs clean where ``case`` raised, else None."""
    from gradcheck.oracles import reference_for
    from gradcheck.verdict import judge

    if failure.category != "exception":
        return None
    for rerun in RERUNS:
        rewritten = rerun.rewrite(case)
        if rewritten is None:
            continue
        variant, fields = rewritten
        reference = reference_for(variant)
        if not reference.agrees:
            continue
        if judge(variant, engine.run(variant, timeout, False), reference, tolerance) is not None:
            continue  # it fails there too: the rewrite is not what the engine lacks
        values = {"op": case.op, **fields}
        return rerun.template.format(**values), rerun.cause.format(**values)
    return None
