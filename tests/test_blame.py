"""Blame for a failing program: the op at fault, or the traversal that reproduces the engine's gradient.

Each faulty traversal of ``TRAVERSALS`` is reproduced on a hand-built engine
(``tests/engines/traversal_*.py``, and one here) and a small program that
reaches its bug: the engine's gradient is wrong, every step passes alone, and
the diagnosis names that traversal.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pytest

from gradcheck.diagnosis import TRAVERSALS, blame_steps, diagnose
from gradcheck.engine import load_engine
from gradcheck.examples.numpy_engine import accumulate, make_engine, topological_order
from gradcheck.oracles import reference_for
from gradcheck.program import ProgramCase, Step
from gradcheck.tolerances import DEFAULT_TOLERANCES
from gradcheck.verdict import judge

TOLERANCE = DEFAULT_TOLERANCES["float64"]
TIMEOUT = 10.0
X = np.array([0.5, -1.25, 2.0])
COTANGENT = np.array([1.0, -0.5, 2.0])


def _same_operand_once(y: Any, seed: np.ndarray) -> None:
    """A reverse sweep whose rule asks "is this parent a?" before "is it b?": x - x gets 2g, not 0."""
    y.grad = seed
    for current in reversed(topological_order(y)):
        if current._backward is None or current.grad is None:
            continue
        first: dict[int, np.ndarray] = {}
        for parent, contribution in zip(current._parents, current._backward(current.grad)):
            first.setdefault(id(parent), contribution)
        for parent in current._parents:
            if first[id(parent)] is not None:
                parent.grad = accumulate(parent.grad, first[id(parent)])


def _program(*steps: str) -> ProgramCase:
    """Return the program of ``steps`` (``"t0 = sin(x0)"``, ...) on input ``X``; the last is the output."""
    parsed = []
    for line in steps:
        out, call = line.split(" = ")
        op, args = call.rstrip(")").split("(")
        parsed.append(Step(out, op, tuple(arg.strip() for arg in args.split(","))))
    return ProgramCase(("x0",), (X,), tuple(parsed), COTANGENT)


# A value used twice, the second time along a longer path: overwriting and
# first-visit sweeps both lose a contribution to t0.
REUSED = ("t0 = sin(x0)", "t1 = exp(t0)", "y = multiply(t0, t1)")


class Row(NamedTuple):
    """``engine`` fails ``program``, and ``traversal`` reproduces its gradient."""

    traversal: str
    engine: Any
    program: tuple[str, ...]


ROWS = [
    Row("same operand once", make_engine(name="test: same_operand_once", backward_pass=_same_operand_once),
        ("y = subtract(x0, x0)",)),
    Row("overwrite", "tests/engines/traversal_overwrites.py:engine", REUSED),
    # x0 is dequeued (and returned) before the path through t1 and t0 reaches it.
    Row("early exit", "tests/engines/traversal_early_exit.py:engine",
        ("t0 = sin(x0)", "t1 = exp(t0)", "y = multiply(t1, x0)")),
    Row("first visit", "tests/engines/traversal_breadth_first.py:engine", REUSED),
]


def test_every_traversal_has_an_engine():
    assert [row.traversal for row in ROWS] == [traversal.name for traversal in TRAVERSALS]


@pytest.mark.parametrize("row", ROWS, ids=[row.traversal for row in ROWS])
def test_traversal_reproduces_the_engines_gradient(row: Row):
    engine, program = load_engine(row.engine), _program(*row.program)
    reference = reference_for(program)
    assert reference.agrees, reference.note
    failure = judge(program, engine.run(program, TIMEOUT), reference, TOLERANCE)
    assert failure is not None and failure.category == "mismatch"
    culprits = blame_steps(engine, program, TOLERANCE, TIMEOUT)
    assert culprits == []
    sentence = diagnose(program, failure, TOLERANCE, culprits=culprits)
    assert "the backward pass itself is at fault" in sentence
    (traversal,) = [traversal for traversal in TRAVERSALS if traversal.name == row.traversal]
    assert traversal.sentence in sentence


def test_the_right_traversal_passes_the_same_programs():
    engine = load_engine("gradcheck.examples.numpy_engine:engine64")
    for row in ROWS:
        program = _program(*row.program)
        assert judge(program, engine.run(program, TIMEOUT), reference_for(program), TOLERANCE) is None


def test_a_step_that_fails_alone_is_blamed():
    engine = load_engine("tests/engines/log_derivative_squared.py:engine")
    program = ProgramCase(("x0",), (np.array([0.5, 2.0]),),
                          (Step("t0", "log", ("x0",)), Step("y", "add", ("t0", "t0"))), np.array([1.0, -0.5]))
    failure = judge(program, engine.run(program, TIMEOUT), reference_for(program), TOLERANCE)
    assert failure is not None
    culprits = blame_steps(engine, program, TOLERANCE, TIMEOUT)
    assert [step.op for step, _ in culprits] == ["log"]
    sentence = diagnose(program, failure, TOLERANCE, culprits=culprits)
    assert sentence.startswith("log is wrong on its own: `t0 = log(x0)` replayed alone (operands x (2,))")
