"""Probing a class: bounded calls into user code, small inputs, and the choice of a spelling per op.

Every call into the class goes through ``Prober.call``: quiet, under a time
limit per call (``execution.guarded_call``) and an overall budget, so a class
that hangs or raises makes an op ``unsupported`` with the reason, never a
failed load. A *spelling* is one way to call an op on the class (``a + b``,
``x.sum(dim=axis)``); each is tried on a few *trials* (small inputs, chosen
parameters) and compared with the op's NumPy reference (``gradcheck.ops``).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from gradcheck._tracebacks import describe_exception
from gradcheck.arrays import as_array
from gradcheck.execution import EngineTimeout, quiet, time_limit
from gradcheck.ops import OPS

__all__ = ["Choice", "Prober", "Spelling", "Trial", "TRIALS", "choose", "sample"]

# Seconds one probing call may take, and all probing of one class together: a probe
# takes milliseconds, so these only stop a class that hangs (a loaded CI machine
# must never turn a slow probe into an unsupported op).
PER_CALL = 5.0
BUDGET = 30.0

# Operand ranks gradcheck draws (strategies: up to 3 axes): declared values beyond are never drawn.
MAX_RANK = 3


class Unspellable(Exception):
    """A spelling cannot express these parameter values (``x.transpose()`` for axes (1, 2, 0))."""


@dataclass(frozen=True)
class Spelling:
    """One way to call an op on the class.

    ``call(*operands, **params)`` gets every parameter of the op (defaults
    filled in) and raises ``Unspellable`` for values it cannot express.
    ``named`` is true when the spelling carries the op's own name (``x.exp()``,
    ``a + b``): one whose forward differs from the reference is then the
    engine's bug for the check to show, not another op.
    """

    text: str
    call: Callable[..., Any]
    named: bool = True


@dataclass(frozen=True)
class Trial:
    """One probe of an op: operand shapes and parameters; a failure removes ``excludes`` values of ``param``."""

    label: str
    shapes: tuple[tuple[int, ...], ...]
    params: dict[str, Any] = field(default_factory=dict)
    param: str | None = None
    excludes: Callable[[Any], bool] | None = None


def _ints(value: Any) -> tuple[int, ...]:
    return value if isinstance(value, tuple) else () if value is None else (value,)


_PERMUTATIONS = [p for rank in range(1, MAX_RANK + 1) for p in itertools.permutations(range(rank))]
_REDUCTION_AXES: list[Any] = [None, *range(MAX_RANK), *range(-MAX_RANK, 0)] + [
    axes for n in range(2, MAX_RANK + 1) for axes in itertools.combinations(range(MAX_RANK), n)
] + [axes for n in range(2, MAX_RANK + 1) for axes in itertools.combinations(range(-MAX_RANK, 0), n)]

#: The values a declaration may list, per parameter (``Choice.param_support``).
UNIVERSES: dict[tuple[str, str], list[Any]] = {
    ("reduction", "axis"): _REDUCTION_AXES,
    ("reduction", "keepdims"): [False, True],
    ("single_axis", "axis"): [-1, *range(MAX_RANK), -2, -3],
    ("permutation", "axes"): _PERMUTATIONS,
}


def _reduction_trials() -> list[Trial]:
    x = ((2, 3, 4),)
    return [
        Trial("axis=None", x, {}, "axis", lambda v: v is None),
        Trial("axis=1", x, {"axis": 1}, "axis", lambda v: isinstance(v, int) and v >= 0),
        Trial("axis=-1", x, {"axis": -1}, "axis", lambda v: any(a < 0 for a in _ints(v))),
        Trial("axis=(0, 2)", x, {"axis": (0, 2)}, "axis", lambda v: isinstance(v, tuple)),
        Trial("keepdims=True", x, {"keepdims": True}, "keepdims", lambda v: v is True),
        Trial("keepdims=True", x, {"axis": 1, "keepdims": True}, "keepdims", lambda v: v is True),
    ]


def _single_axis_trials() -> list[Trial]:
    x = ((3, 4),)
    return [
        Trial("axis=-1", x, {}, "axis", lambda v: v == -1),
        Trial("axis=0", ((3, 4, 2),), {"axis": 0}, "axis", lambda v: v >= 0),
        Trial("axis=-2", ((3, 4, 2),), {"axis": -2}, "axis", lambda v: v < -1),
    ]


def _trials(op: str) -> list[Trial]:
    spec = OPS[op]
    if spec.param_rule == "reduction":
        return _reduction_trials()
    if spec.param_rule == "single_axis":
        return _single_axis_trials()
    table: dict[str, list[Trial]] = {
        "pow": [Trial("p=2.0", ((2, 3),), {"p": 2.0}), Trial("p=0.5", ((2, 3),), {"p": 0.5})],
        "matmul": [Trial("(2, 3) @ (3, 4)", ((2, 3), (3, 4))), Trial("batched", ((2, 2, 3), (2, 3, 4))),
                   Trial("vector", ((3,), (3, 4)))],
        "matrix_transpose": [Trial("2-D", ((2, 3),)), Trial("3-D", ((2, 3, 4),))],
        "permute_dims": [
            Trial("axes=(1, 2, 0)", ((2, 3, 4),), {"axes": (1, 2, 0)}, "axes", lambda v: v != tuple(reversed(range(len(v))))),
            Trial("axes=(2, 1, 0)", ((2, 3, 4),), {"axes": (2, 1, 0)}, "axes", lambda v: v == tuple(reversed(range(len(v))))),
        ],
        "reshape": [Trial("shape=(4, 6)", ((2, 3, 4),), {"shape": (4, 6)}),
                    Trial("shape=(-1, 2)", ((2, 3, 4),), {"shape": (-1, 2)})],
        "broadcast_to": [Trial("(1, 4) to (2, 3, 4)", ((1, 4),), {"shape": (2, 3, 4)})],
        # Indexing: integer and boolean inputs are NumPy arrays (docs/contract.md, section 1b).
        "take": [Trial("indices=[0, 2, 2], axis=1", ((2, 3),), {"indices": np.array([0, 2, 2]), "axis": 1})],
        "getitem": [Trial("x[::-1, [0, 2, 2]]", ((2, 3),), {"key": (slice(None, None, -1), np.array([0, 2, 2]))}),
                    Trial("x[0]", ((2, 3),), {"key": 0})],
        "where": [Trial("broadcast", ((2, 3), (3,)),
                        {"condition": np.array([[True, False, True], [False, True, False]])})],
        "pad": [Trial("pad_width=1", ((2, 3),), {"pad_width": 1})],
    }
    if op in table:
        return table[op]
    if len(spec.operands) == 2:
        return [Trial("same shapes", ((2, 3), (2, 3))), Trial("broadcast", ((2, 3), (3,)))]
    return [Trial("(2, 3)", ((2, 3),)), Trial("0-d", ((),))]


#: The trials of each op, in order.
TRIALS: dict[str, list[Trial]] = {op: _trials(op) for op in OPS}


def sample(op: str, trial: Trial, rng: np.random.Generator) -> list[np.ndarray]:
    """Return float64 operands for ``trial`` inside the op's domains (distinct values, no ties)."""
    spec = OPS[op]
    params = {p.name: trial.params.get(p.name, p.default) for p in spec.params}
    arrays = []
    for index, (shape, domain) in enumerate(zip(trial.shapes, spec.domains_for(params))):
        size = int(np.prod(shape))
        if domain.lattice is not None:
            step, offset = domain.lattice
            values = rng.integers(-4, 5, size) * step + offset
        elif domain.distinct:
            values = rng.permutation(size) * 0.125 - size * 0.0625 + 0.03
        else:
            low, high = domain.intervals[0]
            values = rng.uniform(low, high, size)
        arrays.append(np.asarray(values, dtype=np.float64).reshape(shape))
        del index
    return arrays


def matches(result: np.ndarray, expected: np.ndarray) -> bool:
    return result.shape == expected.shape and bool(np.allclose(result, expected, rtol=1e-3, atol=1e-4))


class Prober:
    """Calls into user code, each under ``per_call`` seconds, all within ``budget`` seconds."""

    def __init__(self, per_call: float | None = None, budget: float | None = None) -> None:
        self.per_call = PER_CALL if per_call is None else per_call
        self.deadline = time.monotonic() + (BUDGET if budget is None else budget)
        self.rng = np.random.default_rng(0)

    @property
    def exhausted(self) -> bool:
        return time.monotonic() > self.deadline

    def attempt(self, function: Callable[..., Any], *args: Any) -> tuple[Any, BaseException | None]:
        """Return ``(function(*args), None)`` or ``(None, the exception)``; a timeout is ``EngineTimeout``."""
        if self.exhausted:
            return None, EngineTimeout("probing the class ran out of time")
        try:
            with time_limit(self.per_call), quiet():
                return function(*args), None
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - user code: SystemExit is a failure too
            return None, exc

    def call(self, function: Callable[..., Any], *args: Any) -> tuple[Any, str | None]:
        """Return ``(function(*args), None)`` or ``(None, why it failed, in one line)``."""
        result, error = self.attempt(function, *args)
        return result, None if error is None else describe(error)


def describe(error: BaseException) -> str:
    if isinstance(error, EngineTimeout):
        return str(error) or "no answer within the probe's time limit"
    return describe_exception(error)


def absent(error: BaseException) -> bool:
    """Return whether ``error`` says the spelling does not exist (not that the code inside it is wrong).

    A ``TypeError`` raised by the call itself (an unexpected keyword, a wrong
    number of arguments), ``AttributeError`` for the method, or
    ``NotImplementedError``: the parameter is not handled, so it is left out
    of the check instead of failing it.
    """
    if isinstance(error, (Unspellable, NotImplementedError)):
        return True
    if isinstance(error, TypeError):
        text = str(error)
        return any(words in text for words in (
            "unexpected keyword", "positional argument", "required positional", "takes no arguments",
            "takes from", "takes exactly", "missing 1 required", "got multiple values",
        ))
    return isinstance(error, AttributeError)


@dataclass
class Choice:
    """What probing found for one op: the spelling to use (or None) and what it handles."""

    op: str
    spelling: Spelling | None
    reason: str = ""  # why unsupported, or a note about the chosen spelling
    # Trials whose parameter values the spelling does not have (signature, NotImplementedError).
    failed: list[Trial] = field(default_factory=list)

    def param_support(self) -> dict[str, list[Any]]:
        """Return ``{param: [allowed values]}`` for parameters some trial failed on (all ranks up to 3)."""
        spec = OPS[self.op]
        support: dict[str, list[Any]] = {}
        for param in spec.params:
            universe = UNIVERSES.get((spec.param_rule or "", param.name))
            failed = [t for t in self.failed if t.param == param.name and t.excludes is not None]
            if universe is None or not failed:
                continue
            support[param.name] = [v for v in universe if not any(t.excludes(v) for t in failed if t.excludes)]
        return support


def _trial_outcome(
    prober: Prober, op: str, spelling: Spelling, trial: Trial, make: Callable[[np.ndarray], Any],
    read: Callable[[Any], np.ndarray],
) -> tuple[str, str | None]:
    """Return ``("match" | "mismatch" | "error" | "absent", detail)`` of one trial."""
    spec = OPS[op]
    operands = sample(op, trial, prober.rng)
    params = {p.name: trial.params.get(p.name, p.default) for p in spec.params}
    expected = spec.reference(*operands, **params)

    def run() -> np.ndarray:
        nodes = [make(x) for x in operands]
        return as_array(read(spelling.call(*nodes, **params)))

    result, error = prober.attempt(run)
    if error is not None:
        return ("absent" if absent(error) else "error"), describe(error)
    try:
        result = np.asarray(result, dtype=np.float64)
    except (TypeError, ValueError):
        return "mismatch", "gives something that is not an array of numbers"
    if matches(result, expected):
        return "match", None
    if result.shape != expected.shape:
        return "mismatch", f"gives shape {result.shape} where {op} gives {expected.shape}"
    return "mismatch", "gives other values than the reference"


def choose(
    prober: Prober, op: str, spellings: list[Spelling], make: Callable[[np.ndarray], Any],
    read: Callable[[Any], np.ndarray], forced: bool = False,
) -> Choice:
    """Return the spelling of ``op`` whose forward matches the reference on the most trials.

    An unnamed spelling (``x.T`` for ``matrix_transpose``) that runs but gives
    another result on any trial means another op and is never chosen. When
    nothing matches, the first named spelling that runs is chosen anyway: its
    forward is the engine's bug, which the check then shows. ``forced`` (a
    spelling from the user's configuration) is always chosen.
    """
    trials = TRIALS[op]
    best: tuple[int, Spelling, list[Trial]] | None = None
    fallback: Spelling | None = None
    tried: list[str] = []
    for spelling in spellings:
        outcomes = [(t, *_trial_outcome(prober, op, spelling, t, make, read)) for t in trials]
        matched = [t for t, kind, _ in outcomes if kind == "match"]
        wrong = [(t, detail) for t, kind, detail in outcomes if kind == "mismatch"]
        errors = [(t, detail) for t, kind, detail in outcomes if kind in ("error", "absent")]
        missing = _absent_labels(outcomes)
        if forced:
            note = "" if matched else f"its forward did not match the reference on the probe ({_first(wrong, errors)})"
            return Choice(op, spelling, note, missing if matched else [])
        if not spelling.named and (wrong or any(kind == "error" for _, kind, _ in outcomes)):
            # Not the op's own name: kept only where it does what the op does on every trial.
            tried.append(f"{spelling.text} {_first(wrong, errors)}")
            continue
        if matched:
            if best is None or len(matched) > best[0]:
                best = (len(matched), spelling, missing)
            if len(matched) == len(trials):
                break
            continue
        if fallback is None and spelling.named and (wrong or len(errors) < len(trials)):
            fallback = spelling
        tried.append(f"{spelling.text}: {_first(wrong, errors)}")
    if best is not None:
        return Choice(op, best[1], "", best[2])
    if fallback is not None:
        return Choice(op, fallback, "its forward differs from the reference on the probe: the check shows where")
    if prober.exhausted:
        return Choice(op, None, "probing the class ran out of time before this op")
    if not tried:
        return Choice(op, None, "the class has no method, operator or module function for it")
    return Choice(op, None, "tried " + "; ".join(tried[:3]) + ("; …" if len(tried) > 3 else ""))


def _absent_labels(outcomes: list[tuple[Trial, str, str | None]]) -> list[Trial]:
    """Return the trials whose parameter values the spelling lacks: every trial of the label absent."""
    labels = {t.label for t, kind, _ in outcomes if kind == "absent"}
    labels -= {t.label for t, kind, _ in outcomes if kind != "absent"}
    return [t for t, kind, _ in outcomes if t.label in labels and kind == "absent"]


def _first(wrong: list[tuple[Trial, str | None]], errors: list[tuple[Trial, str | None]]) -> str:
    if wrong:
        return f"{wrong[0][1]} on {wrong[0][0].label}"
    if errors:
        return f"raised {errors[0][1]} on {errors[0][0].label}"
    return "no trial could be spelled"
