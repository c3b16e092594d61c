"""A failing program: which op is to blame, or the backward pass itself.

Each step of the program is replayed alone, as a single-op case with exactly
the operands and cotangent it sees inside the program. A step that fails
alone is an op bug. When every step passes alone yet the program fails, the
fault is in how the backward pass combines them; to say how, the program's
gradient is recomputed from each step's reference VJP under the traversals
hand-written engines get wrong (``TRAVERSALS``), and the one that reproduces
the engine's gradient is named.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from gradcheck.ops import OPS
from gradcheck.oracles import reference_for, vjp
from gradcheck.program import OUTPUT, ProgramCase, Step
from gradcheck.results import Failure
from gradcheck.tolerances import Tolerance, allowed_error
from gradcheck.verdict import judge

if TYPE_CHECKING:
    from gradcheck.engine import CheckedEngine

__all__ = ["TRAVERSALS", "Traversal", "blame_steps", "diagnose_program"]


def blame_steps(
    engine: CheckedEngine, program: ProgramCase, tolerance: Tolerance, timeout: float | None
) -> list[tuple[Step, Failure]]:
    """Return the steps of ``program`` that fail on their own, with how they fail.

    Each step runs once: the question is whether its rule is wrong, and state
    kept between calls is no rule's (a ``nondeterministic`` program is not blamed).
    """
    culprits = []
    for step, case in program.step_cases():
        reference = reference_for(case)
        if not reference.agrees:
            continue  # the oracles cannot judge this step; blame nobody for it
        failure = judge(case, engine.run(case, timeout, repeat=False), reference, tolerance)
        if failure is not None:
            culprits.append((step, failure))
    return culprits


# --- Simulated traversals -----------------------------------------------------

#: ``vjp(step, g)``: the reference contributions of one step to each operand position.
LocalVJP = Callable[[Step, np.ndarray], list[np.ndarray]]


def _local_vjp(program: ProgramCase) -> LocalVJP:
    values = program.reference_values(*program.inputs)

    def local(step: Step, g: np.ndarray) -> list[np.ndarray]:
        forward = lambda tf, *operands: OPS[step.op].tensorflow(tf, *operands, **step.params)  # noqa: E731
        return vjp(forward, [values[arg] for arg in step.args], g)[1]

    return local


def _producers(program: ProgramCase) -> dict[str, Step]:
    return {step.out: step for step in program.steps}


def _add(adjoints: dict[str, np.ndarray], name: str, contribution: np.ndarray) -> None:
    adjoints[name] = adjoints[name] + contribution if name in adjoints else contribution


def _reverse_sweep(program: ProgramCase, vjp: LocalVJP, overwrite: bool, same_operand_once: bool):
    adjoints = {program.steps[-1].out: program.cotangent}
    for step in reversed(program.steps):
        if step.out not in adjoints:
            continue
        contributions = vjp(step, adjoints[step.out])
        if same_operand_once:
            # The rule asks "is this parent a?" before "is it b?": a value that
            # is both operands gets the first position's gradient every time.
            first = {arg: contributions[step.args.index(arg)] for arg in step.args}
            contributions = [first[arg] for arg in step.args]
        for arg, contribution in zip(step.args, contributions):
            if overwrite:
                adjoints[arg] = contribution
            else:
                _add(adjoints, arg, contribution)
    return adjoints


def _first_visit_sweep(program: ProgramCase, vjp: LocalVJP):
    # Breadth first from the output; each node passes on its gradient the
    # first time it is dequeued, complete or not.
    producers = _producers(program)
    adjoints = {program.steps[-1].out: program.cotangent}
    working, swept = [program.steps[-1].out], set()
    while working:
        name = working.pop(0)
        if name in swept or name not in producers:
            continue
        swept.add(name)
        step = producers[name]
        for arg, contribution in zip(step.args, vjp(step, adjoints[name])):
            _add(adjoints, arg, contribution)
            working.append(arg)
    return adjoints


def _early_exit_gradient(program: ProgramCase, vjp: LocalVJP):
    # The founding question's gradient(y, dx), run once per input: it returns
    # dx's adjoint the moment dx is dequeued, and re-propagates a node each
    # time it is dequeued again.
    producers = _producers(program)
    result = {}
    for leaf in program.names:
        adjoints = {program.steps[-1].out: program.cotangent}
        working = [program.steps[-1].out]
        while working:
            name = working.pop(0)
            if name == leaf:
                break
            if name not in producers:
                continue
            step = producers[name]
            for arg, contribution in zip(step.args, vjp(step, adjoints[name])):
                _add(adjoints, arg, contribution)
                if arg not in working:
                    working.append(arg)
        if leaf in adjoints:
            result[leaf] = adjoints[leaf]
    return result


@dataclass(frozen=True)
class Traversal:
    """A way of running the backward pass that hand-written engines get wrong."""

    name: str
    simulate: Callable[[ProgramCase, LocalVJP], dict[str, np.ndarray]]
    sentence: str


#: Faulty traversals, most specific first. ``{value}`` names the value concerned.
TRAVERSALS: tuple[Traversal, ...] = (
    Traversal(
        "same operand once",
        lambda program, vjp: _reverse_sweep(program, vjp, overwrite=False, same_operand_once=True),
        "the engine's gradient is what you get when a value that is *both* operands of an op "
        "receives the first operand's gradient each time (a rule that tests `parent is a` before "
        "`parent is b`): each operand position needs its own contribution, even when the two are "
        "the same object",
    ),
    Traversal(
        "overwrite",
        lambda program, vjp: _reverse_sweep(program, vjp, overwrite=True, same_operand_once=False),
        "the engine's gradient is what you get when each contribution *overwrites* the adjoint "
        "instead of adding to it: accumulate (`grad += contribution`) for every use of a value",
    ),
    Traversal(
        "early exit",
        _early_exit_gradient,
        "the engine's gradient is what you get from a breadth-first `gradient(y, dx)` that returns "
        "as soon as it dequeues dx (the founding question's traversal): dx's adjoint is not "
        "complete until every path to it is done; visit nodes in reverse topological order",
    ),
    Traversal(
        "first visit",
        _first_visit_sweep,
        "the engine's gradient is what you get from a breadth-first sweep that passes on a node's "
        "gradient the first time it is dequeued, before all its consumers have contributed: "
        "visit nodes in reverse topological order (a topological sort, then a reverse sweep)",
    ),
)


def _matching_traversals(program: ProgramCase, failure: Failure, tolerance: Tolerance) -> list[Traversal]:
    """Return the faulty traversals whose gradient is the engine's gradient on this program."""
    if failure.wrt is None or failure.actual is None or failure.expected is None:
        return []
    vjp = _local_vjp(program)
    bound = allowed_error(failure.expected, tolerance, program.terms(failure.expected.shape))
    matches = []
    for traversal in TRAVERSALS:
        simulated = traversal.simulate(program, vjp).get(failure.wrt)
        if simulated is None:
            simulated = np.zeros_like(failure.expected)
        simulated = np.broadcast_to(simulated, failure.expected.shape)
        if failure.actual.shape == simulated.shape and np.all(np.abs(failure.actual - simulated) <= bound):
            matches.append(traversal)
    return matches


def _output_name(program: ProgramCase, name: str) -> str:
    return OUTPUT if name == program.steps[-1].out else name


def _structure(program: ProgramCase) -> str:
    """Say which values are reused and which are reached along paths of different lengths."""
    facts = []
    for name, users in program.consumers().items():
        if len(users) > 1:
            facts.append(f"{name} is used {len(users)} times (by {', '.join(_output_name(program, u) for u in users)})")
    for name, lengths in program.path_lengths().items():
        if len(lengths) > 1:
            facts.append(f"{name} reaches {OUTPUT} along paths of length {', '.join(map(str, sorted(lengths)))}")
    return "; ".join(facts)


def diagnose_program(
    program: ProgramCase, culprits: list[tuple[Step, Failure]], failure: Failure, tolerance: Tolerance
) -> str:
    """Return a sentence saying who is at fault for ``program`` failing, and what to fix."""
    if failure.category == "nondeterministic":
        return (
            "the program gave different answers to two calls on the same inputs, further apart than "
            "summing in another order can explain (the message gives both values and the bound); no op "
            "is blamed, since each step's rule is the same on every call: the engine keeps state from "
            "one call to the next (gradients not reset, a cache keyed on id(), a tape that keeps "
            "growing), see docs/contract.md, section 3"
        )
    if culprits:
        step, alone = culprits[0]
        shapes = ", ".join(f"{record.name} {record.shape}" for record in alone.inputs)
        return (
            f"{step.op} is wrong on its own: `{step.code(_output_name(program, step.out))}` "
            f"replayed alone (operands {shapes}) fails too ({alone.category}: {alone.message}). "
            f"Fix {step.op}'s rule first; the program only shows where it matters."
        )
    structure = _structure(program)
    prefix = (
        "every op in this program gives the right gradient on its own (each step replayed alone "
        "with the operands and cotangent it sees here), so the backward pass itself is at fault"
    )
    matches = _matching_traversals(program, failure, tolerance)
    if matches:
        # Several faulty traversals can give the same numbers on a small program.
        explained = "; or ".join(traversal.sentence for traversal in matches)
        return f"{prefix}: {explained}. Here {structure}." if structure else f"{prefix}: {explained}."
    if structure:
        return (
            f"{prefix}: {structure}. A value's gradient is the sum over all its uses and all "
            "paths; check that adjoints accumulate and that nodes are visited in reverse "
            "topological order."
        )
    return f"{prefix}: check how gradients are passed from one op to the next."
