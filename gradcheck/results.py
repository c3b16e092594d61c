"""The result data model: what a run found, as plain data.

Data flows one way: search -> these dataclasses -> renderers. Every object
here is immutable once created: the runner builds a failure whole (its
diagnosis included), renderers (``gradcheck.reports``) only format, and what
a later stage adds (a reproducer's path) comes as a new object
(``dataclasses.replace``), never written into the old one.
``to_dict``/``from_dict`` round-trip the JSON report (docs/contract.md) so
``gradcheck report`` can re-render a stored run without re-running anything.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

import numpy as np

import gradcheck

from gradcheck._literals import from_json, to_json
from gradcheck.program import Step
from gradcheck.tolerances import Tolerance

__all__ = [
    "CATEGORIES",
    "ERROR",
    "STATUSES",
    "ArrayRecord",
    "EngineRecord",
    "CheckResult",
    "Failure",
    "GradeSettings",
    "Gradebook",
    "Report",
    "Row",
    "Weighting",
    "Weights",
    "FORMAT_VERSION",
]

# format_version history:
#   1: first release (docs/contract.md, section 3). Fields added since, without a bump (the
#      contract allows additions): a report's ``tolerance``, a program
#      failure's ``steps``, a result's ``checked_on``/``not_checked`` (declared partial support),
#      a failure's ``also_seen_as``.
FORMAT_VERSION = 1

STATUSES = ("passed", "failed", "unsupported")

# Order matters: when one op fails in several ways, the first category in this
# tuple is the headline ``failure``; the rest are listed in ``failures``. An
# engine whose answer depends on earlier calls comes first (its other
# failures may not even reproduce alone), then a wrong forward value
# (gradients of a wrong function are moot).
CATEGORIES = (
    "nondeterministic",
    "forward",
    "mismatch",
    "shape",
    "nonfinite",
    "mutation",
    "exception",
    "timeout",
    "crash",
)


def _listify(array: Any) -> Any:
    """Return a JSON-ready nested list (or scalar) for an array."""
    if array is None:
        return None
    return np.asarray(array, dtype=np.float64).tolist()


@dataclass(frozen=True)
class ArrayRecord:
    """One named input array of a case, as reported."""

    name: str
    values: np.ndarray
    dtype: str

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(np.shape(self.values))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "values": _listify(self.values),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ArrayRecord":
        values = np.asarray(data["values"], dtype=np.float64).reshape(data["shape"])
        return cls(name=data["name"], values=values, dtype=data["dtype"])


@dataclass(frozen=True)
class Failure:
    """The minimal failing case of one check, and what was wrong with it."""

    category: str
    message: str
    inputs: tuple[ArrayRecord, ...]
    params: dict[str, Any] = field(default_factory=dict)
    cotangent: np.ndarray | None = None
    wrt: str | None = None
    expected: np.ndarray | None = None
    actual: np.ndarray | None = None
    max_abs_error: float | None = None
    # Index (into ``expected``) of the entry with the largest error.
    worst_index: tuple[int, ...] | None = None
    tolerance: float | None = None
    diagnosis: str | None = None
    reproducer: str | None = None
    # Free text the engine produced (exception text, traceback tail).
    detail: str | None = None
    # Composite programs (``kind == "program"``) print as straight-line code,
    # and keep their steps as data (the output named ``y``) for reproducers.
    program: str | None = None
    steps: tuple[Step, ...] = ()
    # Other failures of the same check that the same bug explains (its diagnosis
    # reproduces each on its own case): one bug, told once, with where else it showed.
    also_seen_as: tuple["Failure", ...] = ()
    # A failure of a derived check (gradcheck.higher): "order 2" or "forward", and the
    # case's directions (order 2) or tangents (forward), one per input.
    mode: str | None = None
    directions: tuple[ArrayRecord, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "directions", tuple(self.directions))
        object.__setattr__(self, "steps", tuple(self.steps))
        object.__setattr__(self, "also_seen_as", tuple(self.also_seen_as))

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "message": self.message,
            "inputs": [record.to_dict() for record in self.inputs],
            "params": to_json(self.params),
            "cotangent": _listify(self.cotangent),
            "wrt": self.wrt,
            "expected": _listify(self.expected),
            "actual": _listify(self.actual),
            "max_abs_error": self.max_abs_error,
            "worst_index": list(self.worst_index) if self.worst_index is not None else None,
            "tolerance": self.tolerance,
            "diagnosis": self.diagnosis,
            "reproducer": self.reproducer,
            "detail": self.detail,
            "program": self.program,
            **({"steps": [_step_dict(step) for step in self.steps]} if self.steps else {}),
            **({"also_seen_as": [other.to_dict() for other in self.also_seen_as]} if self.also_seen_as else {}),
            **({"mode": self.mode, "directions": [record.to_dict() for record in self.directions]} if self.mode else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Failure":
        def array(key: str) -> np.ndarray | None:
            value = data.get(key)
            return None if value is None else np.asarray(value, dtype=np.float64)

        worst = data.get("worst_index")
        return cls(
            category=data["category"],
            message=data["message"],
            inputs=tuple(ArrayRecord.from_dict(item) for item in data.get("inputs", [])),
            params={key: from_json(value) for key, value in (data.get("params") or {}).items()},
            cotangent=array("cotangent"),
            wrt=data.get("wrt"),
            expected=array("expected"),
            actual=array("actual"),
            max_abs_error=data.get("max_abs_error"),
            worst_index=tuple(worst) if worst is not None else None,
            tolerance=data.get("tolerance"),
            diagnosis=data.get("diagnosis"),
            reproducer=data.get("reproducer"),
            detail=data.get("detail"),
            program=data.get("program"),
            steps=tuple(_step_from(item) for item in data.get("steps") or ()),
            also_seen_as=tuple(cls.from_dict(item) for item in data.get("also_seen_as") or ()),
            mode=data.get("mode"),
            directions=tuple(ArrayRecord.from_dict(item) for item in data.get("directions") or ()),
        )


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: one op, or one composite program search."""

    check: str
    kind: str = "op"  # "op", "program" or "function" (a user's function, ``check_function``)
    status: str = "passed"
    examples: int = 0
    seconds: float = 0.0
    # The headline failure (minimal case); ``failures`` holds every distinct
    # failure category found for this check, headline first.
    failures: tuple[Failure, ...] = ()
    # Cases where TensorFlow and finite differences disagreed: the harness's
    # problem, never blamed on the engine.
    oracle_disagreements: int = 0
    oracle_note: str | None = None
    reason: str | None = None  # why unsupported, or notes such as all-ones cotangent
    # The command (or call) that replays this check, when it is not
    # ``gradcheck check TARGET --ops CHECK`` (a user's function: ``check-function``).
    replay: str | None = None
    # Sets of arrays run through the engine and compared: an op's example
    # (one draw of shapes and parameters) holds several (``runner.VALUE_SETS``).
    cases: int = 0
    # Declared partial support (the engine's ``supported_params``, gradcheck.support): the
    # parameter values this check drew, and those it left out, as phrases; None: every value.
    checked_on: str | None = None
    not_checked: str | None = None
    # Failing examples an earlier run stored, replayed first (gradcheck._database); the
    # examples count them.
    stored_replayed: int = 0
    # The derivative checked: 1 (the VJP) or 2 (the VJP of the VJP), in reverse or forward mode
    # (gradcheck.higher); the check's name says it too: "tanh (order 2)", "tanh (forward)".
    order: int = 1
    mode: str = "reverse"
    # Seconds per stage (generation, tensorflow, finite differences, engine,
    # comparison, blame); measured, not part of the JSON report.
    stages: dict[str, float] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "failures", tuple(self.failures))

    @property
    def failure(self) -> Failure | None:
        return self.failures[0] if self.failures else None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "check": self.check,
            "kind": self.kind,
            "order": self.order,
            "mode": self.mode,
            "status": self.status,
            "examples": self.examples,
            "cases": self.cases,
            "seconds": round(self.seconds, 3),
        }
        if self.failures:
            data["failure"] = self.failures[0].to_dict()
            data["failures"] = [failure.to_dict() for failure in self.failures]
        if self.oracle_disagreements:
            data["oracle_disagreements"] = self.oracle_disagreements
            data["oracle_note"] = self.oracle_note
        if self.reason:
            data["reason"] = self.reason
        if self.replay:
            data["replay"] = self.replay
        if self.checked_on is not None:
            data["checked_on"] = self.checked_on
            data["not_checked"] = self.not_checked
        if self.stored_replayed:
            data["stored_replayed"] = self.stored_replayed
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CheckResult":
        failures = tuple(Failure.from_dict(item) for item in data.get("failures", []))
        if not failures and data.get("failure"):
            failures = (Failure.from_dict(data["failure"]),)
        return cls(
            check=data["check"],
            kind=data.get("kind", "op"),
            order=int(data.get("order", 1)),
            mode=str(data.get("mode", "reverse")),
            status=data["status"],
            examples=data.get("examples", 0),
            seconds=data.get("seconds", 0.0),
            failures=failures,
            oracle_disagreements=data.get("oracle_disagreements", 0),
            oracle_note=data.get("oracle_note"),
            reason=data.get("reason"),
            replay=data.get("replay"),
            cases=data.get("cases", data.get("examples", 0)),
            checked_on=_optional_text(data, "checked_on"),
            not_checked=_optional_text(data, "not_checked"),
            stored_replayed=data.get("stored_replayed", 0),
        )


def _optional_mapping(data: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = data.get(key)
    if value is not None and not isinstance(value, dict):
        raise TypeError(f"{key} is {type(value).__name__}, not a mapping")
    return value


def _optional_text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{key} is {type(value).__name__}, not text")
    return value


@dataclass(frozen=True)
class EngineRecord:
    """What a reproducer needs of the engine a report was made with, as data.

    The op names it defines under an alias (``{"multiply": "mul"}``) and
    whether its ``grad`` takes a cotangent: with these, reproducers can be
    written from the report alone (``gradcheck grade`` writes them from the
    report its child check sends back).
    """

    aliases: dict[str, str]
    grad_takes_cotangent: bool


@dataclass(frozen=True)
class Report:
    """Everything one ``gradcheck check`` run found."""

    target: str
    seed: int
    engine_name: str | None = None
    dtype: str | None = None
    max_examples: int | None = None
    programs: int | None = None
    # The ops asked for, when the run was limited to some (``--ops``); None: all.
    ops: list[str] | None = None
    results: tuple[CheckResult, ...] = ()
    notes: tuple[str, ...] = ()
    # The tolerance the run compared with (a user's override, or the dtype's
    # default): diagnoses and reproducers judge with the same one.
    tolerance: Tolerance | None = None
    # The engine's spelling and grad signature, for reproducers; None for a function or an old report.
    engine_facts: EngineRecord | None = None
    # Declared partial support given to the run from outside the engine (``--supported-params``),
    # as JSON data: a replay must give it again. None: only the engine's own, if any.
    supported_params: dict[str, Any] | None = None
    # A run stopped by a signal (``"SIGINT"``, ``"SIGTERM"``) reports the checks that finished
    # (docs/contract.md, section 3); ``not_run`` are the checks it would have run next.
    interrupted_by: str | None = None
    not_run: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "results", tuple(self.results))
        object.__setattr__(self, "notes", tuple(self.notes))
        object.__setattr__(self, "not_run", tuple(self.not_run))

    @property
    def partial(self) -> bool:
        """Whether the run was stopped before its last check (``interrupted_by`` says by what)."""
        return self.interrupted_by is not None

    @property
    def summary(self) -> dict[str, int]:
        counts = {status: 0 for status in STATUSES}
        for result in self.results:
            counts[result.status] += 1
        return counts

    @property
    def ok(self) -> bool:
        return self.summary["failed"] == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "target": self.target,
            "seed": self.seed,
            "engine": self.engine_name,
            "dtype": self.dtype,
            "max_examples": self.max_examples,
            "programs": self.programs,
            "ops": self.ops,
            "summary": self.summary,
            "notes": list(self.notes),
            **({} if self.tolerance is None else {
                "tolerance": {"rtol": self.tolerance.rtol, "floor": self.tolerance.floor},
            }),
            **({} if self.engine_facts is None else {
                "engine_facts": {
                    "aliases": dict(self.engine_facts.aliases),
                    "grad_takes_cotangent": self.engine_facts.grad_takes_cotangent,
                },
            }),
            **({} if self.supported_params is None else {"supported_params": self.supported_params}),
            **({} if not self.partial else {
                "partial": True, "interrupted_by": self.interrupted_by, "not_run": list(self.not_run),
            }),
            "results": [result.to_dict() for result in self.results],
        }

    def with_reproducers(self, paths: dict[str, str]) -> "Report":
        """Return this report with each failure of a check in ``paths`` naming its reproducer file."""
        return dataclasses.replace(self, results=tuple(
            dataclasses.replace(result, failures=tuple(
                dataclasses.replace(failure, reproducer=paths[result.check]) for failure in result.failures
            )) if result.check in paths else result
            for result in self.results
        ))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Report":
        return cls(
            target=data["target"],
            seed=data["seed"],
            engine_name=data.get("engine"),
            dtype=data.get("dtype"),
            max_examples=data.get("max_examples"),
            programs=data.get("programs"),
            ops=data.get("ops"),
            results=tuple(CheckResult.from_dict(item) for item in data.get("results", [])),
            notes=tuple(data.get("notes", [])),
            tolerance=None if not data.get("tolerance") else Tolerance(**data["tolerance"]),
            engine_facts=None if not data.get("engine_facts") else EngineRecord(
                aliases={str(op): str(alias) for op, alias in data["engine_facts"].get("aliases", {}).items()},
                grad_takes_cotangent=bool(data["engine_facts"].get("grad_takes_cotangent", True)),
            ),
            supported_params=_optional_mapping(data, "supported_params"),
            interrupted_by=str(data["interrupted_by"]) if data.get("partial") else None,
            not_run=tuple(str(check) for check in data.get("not_run", ())) if data.get("partial") else (),
        )


def _step_dict(step: Step) -> dict[str, Any]:
    return {"out": step.out, "op": step.op, "args": list(step.args), "params": to_json(step.params)}


def _step_from(data: dict[str, Any]) -> Step:
    params = {key: from_json(value) for key, value in (data.get("params") or {}).items()}
    return Step(data["out"], data["op"], tuple(data["args"]), params)


# --- The gradebook of ``gradcheck grade`` ---------------------------------------------

#: The status of every check of a submission that could not be checked.
ERROR = "error"
# How much of an error row's reason its one-line summary shows.
_SUMMARY_REASON = 160


class GradeSettings(Protocol):
    """What a gradebook keeps of the options it was graded with (``gradcheck.grade.GradeOptions``)."""

    # Read-only: the options are a frozen dataclass, and a gradebook never changes them.
    @property
    def max_examples(self) -> int: ...

    @property
    def programs(self) -> int: ...

    @property
    def seed(self) -> int: ...

    @property
    def timeout(self) -> float: ...

    @property
    def checks(self) -> tuple[str, ...]: ...

    def to_dict(self) -> dict[str, Any]: ...


class Weighting(Protocol):
    """How a gradebook's checks were weighted (``Weights``)."""

    @property
    def source(self) -> str | None: ...

    @property
    def default(self) -> float: ...

    def of(self, check: str) -> float: ...


@dataclass(frozen=True)
class Weights:
    """How much each check counts towards a score; ``default`` for the checks not listed.

    The one score rule of gradcheck (``points``): the gradebook, the
    Gradescope, Classroom and Canvas outputs all read it from here.
    ``gradcheck.grade.load_weights`` reads it from a TOML file.
    """

    by_check: Mapping[str, float] = field(default_factory=dict)
    default: float = 1.0
    source: str | None = None

    def of(self, check: str) -> float:
        """Return the weight of ``check`` (an op's canonical name or ``programs``)."""
        return self.by_check.get(check, self.default)

    def points(self, statuses: Mapping[str, str]) -> tuple[float, float]:
        """Return ``(earned, possible)`` for ``{check: status}``: a passed check earns its weight, any other nothing."""
        earned = sum(self.of(check) for check, status in statuses.items() if status == "passed")
        return earned, sum(self.of(check) for check in statuses)


@dataclass
class Row:
    """One submission's line of the gradebook.

    ``checks`` maps every column to ``passed``, ``failed``, ``unsupported`` or
    ``error``; ``failures`` maps each failed column to the categories of its
    failures (``mismatch``, ``crash``, ...); ``reports`` maps a format
    (``json``, ``html``, ``text``) to its file, relative to the report folder.
    ``reason`` says why a submission is an ``error`` row.
    """

    name: str
    path: str
    target: str | None
    status: str  # "graded" or ERROR
    checks: dict[str, str]
    points: float
    max_points: float
    reports: dict[str, str] = field(default_factory=dict)
    reason: str | None = None
    seconds: float = 0.0
    # From the roster (``grade --roster``): who handed the submission in; None without one.
    student_id: str | None = None
    student_name: str | None = None
    failures: dict[str, list[str]] = field(default_factory=dict)
    # The options of a forced regrade (``grade --regrade NAME --force``) that
    # differ from the gradebook's; None when graded with the gradebook's own.
    options: dict[str, Any] | None = None

    @property
    def score(self) -> float:
        """Return the share of the weight earned, in [0, 1]; 0 when nothing weighs anything."""
        return self.points / self.max_points if self.max_points else 0.0

    def summary(self) -> str:
        """Return one line on this row: ``score 85%, failed matmul, programs; 2 unsupported (12.3 s)``."""
        if self.status == ERROR:
            reason = " ".join((self.reason or "").split())
            return f"error: {reason if len(reason) <= _SUMMARY_REASON else reason[:_SUMMARY_REASON - 1] + '…'}"
        failed, unsupported = self.with_status("failed"), self.with_status("unsupported")
        parts = [f"failed {', '.join(failed)}" if failed else "no check failed"]
        if unsupported:
            parts.append(f"{len(unsupported)} unsupported")
        return f"score {self.score:.0%}, {'; '.join(parts)} ({self.seconds:.1f} s)"

    def with_status(self, status: str) -> list[str]:
        """Return the checks whose status is ``status``, in column order."""
        return [check for check, value in self.checks.items() if value == status]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "target": self.target,
            "status": self.status,
            "score": round(self.score, 4),
            "points": _plain(self.points),
            "max_points": _plain(self.max_points),
            "checks": dict(self.checks),
            "failures": {check: list(categories) for check, categories in self.failures.items()},
            "reports": dict(self.reports),
            "reason": self.reason,
            "seconds": round(self.seconds, 2),
            **({} if self.student_id is None else {"student_id": self.student_id, "student_name": self.student_name}),
            **({} if self.options is None else {"options": dict(self.options)}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Row":
        """Return the row ``to_dict`` wrote (a stored ``gradebook.json``'s submission)."""
        return cls(
            name=data["name"], path=data["path"], target=data.get("target"), status=data["status"],
            checks=dict(data["checks"]), points=float(data["points"]), max_points=float(data["max_points"]),
            reports=dict(data.get("reports") or {}), reason=data.get("reason"),
            seconds=float(data.get("seconds") or 0.0), student_id=data.get("student_id"),
            student_name=data.get("student_name"),
            failures={check: list(categories) for check, categories in (data.get("failures") or {}).items()},
            options=data.get("options"),
        )


@dataclass
class Gradebook:
    """Everything one ``gradcheck grade`` run found: the options, the weights, one row per submission."""

    options: GradeSettings
    weights: Weighting
    workers: int
    rows: list[Row] = field(default_factory=list)
    seconds: float = 0.0
    # The submissions without a row yet: grading is under way, or was stopped.
    not_graded: list[str] = field(default_factory=list)

    @property
    def checks(self) -> tuple[str, ...]:
        return self.options.checks

    @property
    def partial(self) -> bool:
        return bool(self.not_graded)

    def to_dict(self) -> dict[str, Any]:
        return {
            # format_version history:
            #   1: first release.
            #   2: "partial" and "not_graded" (written as rows finish, and when stopped).
            #   3: "default_weight"; per submission "failures" (the categories of each
            #      failed check) and, after a forced regrade, its "options".
            "format_version": 3,
            "partial": self.partial,
            "not_graded": list(self.not_graded),
            "gradcheck": gradcheck.__version__,
            "seed": self.options.seed,
            "workers": self.workers,
            "seconds": round(self.seconds, 2),
            "options": self.options.to_dict(),
            "checks": list(self.checks),
            "weights": {check: _plain(self.weights.of(check)) for check in self.checks},
            "default_weight": _plain(self.weights.default),
            "weights_file": self.weights.source,
            "submissions": [row.to_dict() for row in self.rows],
        }


def _plain(number: float) -> int | float:
    """Return ``number`` as an int when it is whole: ``3``, not ``3.0``, in the gradebook."""
    return int(number) if float(number).is_integer() else round(number, 6)
