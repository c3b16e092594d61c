"""Calling the user's engine on a case, and noticing everything it does wrong on the way.

Every call into user code goes through ``run_engine``: it hands the engine
copies of the case's arrays in the engine's dtype, guards each call with a
time limit, keeps what the engine prints out of the terminal, catches
everything it raises (``SystemExit`` too), and checks afterwards that it did
not write into any array it was handed. The verdict compares what comes back.

Messages name the calls as the thing being run names them: an engine's are
``variable()``, ``value()``, ``grad()``; anything else run as an engine (a
user's function, ``gradcheck.function``) gives its own ``call_labels``.
"""

from __future__ import annotations

import contextlib
import io
import signal
import sys
import threading
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol, Sequence

import numpy as np

from gradcheck.case import Computation

__all__ = [
    "ENGINE_LABELS",
    "CallFailure",
    "CallLabels",
    "EngineCalls",
    "EngineOutcome",
    "EngineTimeout",
    "CallFailed",
    "as_array",
    "as_list",
    "call_labels",
    "captured",
    "guarded_call",
    "quiet",
    "run_engine",
    "time_limit",
]

#: ``(category, message, detail)``: how a call into user code failed.
CallFailure = tuple[str, str, "str | None"]

# What the engine prints is kept (for the report) up to this many characters.
_OUTPUT_LIMIT = 4000


@dataclass(frozen=True)
class CallLabels:
    """How failure messages name the calls into what is run, and what is run itself.

    An object run by ``run_engine`` may carry its own as ``call_labels``;
    without them it is an engine, named by ``ENGINE_LABELS``.
    """

    variable: str = "variable()"
    value: str = "value()"
    grad: str = "grad()"
    # The subject of "... keeps state" and "--- ... printed ---".
    runner: str = "the engine"


#: An engine's words for its calls.
ENGINE_LABELS = CallLabels()


def call_labels(engine: Any) -> CallLabels:
    """Return the words messages use for ``engine``'s calls: its ``call_labels``, else an engine's."""
    labels = getattr(engine, "call_labels", None)
    return labels if isinstance(labels, CallLabels) else ENGINE_LABELS


@dataclass
class EngineOutcome:
    """What the engine returned for a case, or how it failed before returning it."""

    forward: np.ndarray | None = None
    grads: list[np.ndarray] | None = None
    # A failure found while calling the engine.
    failure: CallFailure | None = None
    output: str = ""
    # How messages about this outcome name the calls that produced it.
    labels: CallLabels = ENGINE_LABELS


class EngineTimeout(Exception):
    """Raised inside user code when its time limit expires (``time_limit``)."""


class _BoundedText(io.TextIOBase):
    """A text sink that keeps the first ``limit`` characters and counts the rest."""

    def __init__(self, limit: int = _OUTPUT_LIMIT) -> None:
        self.parts: list[str] = []
        self.kept = 0
        self.dropped = 0
        self.limit = limit

    def write(self, text: str) -> int:
        room = self.limit - self.kept
        if room > 0:
            self.parts.append(text[:room])
            self.kept += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def text(self) -> str:
        tail = f"\n... ({self.dropped} more characters)" if self.dropped else ""
        return "".join(self.parts) + tail


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    # SIGALRM interrupts Python code only, and only on the main thread; process
    # isolation (``--isolate``) is what stops an engine stuck in C code.
    usable = (
        seconds is not None
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if seconds is None or not usable:
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise EngineTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class captured:  # noqa: N801 - used as a function: ``with captured(sink):``
    """Send what user code prints to ``sink`` and keep its warnings out of the terminal.

    The warnings (overflow, invalid value) are the user code's, not the
    harness's output. A class, not a generator: it is entered twice per case.
    """

    def __init__(self, sink: io.TextIOBase) -> None:
        self.sink = sink
        self.warnings = warnings.catch_warnings()

    def __enter__(self) -> None:
        self.saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = self.sink
        self.warnings.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc_info: Any) -> None:
        self.warnings.__exit__(*exc_info)
        sys.stdout, sys.stderr = self.saved


class _CallFailed(Exception):
    """How a call into user code failed: raised by the calls, and by a computation's ``evaluate``."""

    def __init__(self, category: str, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.category, self.message, self.detail = category, message, detail


def _describe(exc: BaseException) -> str:
    from gradcheck._tracebacks import describe_exception

    return describe_exception(exc)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Keep what user code prints or warns out of the terminal, for the harness's own calls.

    Drawing a case or computing a reference calls the user's function too;
    what it prints then is noise, unlike what ``run_engine`` captures.
    """
    with captured(io.StringIO()):
        yield


def guarded_call(
    function: Callable[..., Any], *args: Any, stage: str, timeout: float | None
) -> tuple[Any, CallFailure | None]:
    """Call ``function(*args)`` quietly within ``timeout``; return its value or how it failed."""
    try:
        with time_limit(timeout), quiet():
            return function(*args), None
    except EngineTimeout:
        return None, ("timeout", f"{stage} did not return within {timeout:g} s", None)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - SystemExit from user code is a failure too
        return None, ("exception", f"{stage} raised {type(exc).__name__}", _describe(exc))


class EngineCalls(Protocol):
    """What ``run_engine`` calls: an ``Engine`` (a user's, wrapped) or a user's function shaped as one.

    ``Computation.apply`` reaches the ops (or the function) itself; an
    optional ``call_labels`` attribute (``CallLabels``) names the calls in messages.
    """

    @property
    def dtype(self) -> np.dtype: ...

    def variable(self, array: np.ndarray) -> Any: ...

    def value(self, node: Any) -> Any: ...

    def grad(self, y: Any, xs: list[Any], cotangent: np.ndarray) -> Sequence[Any]: ...


def run_engine(engine: EngineCalls, case: Computation, timeout: float | None = 10.0, repeat: bool = True) -> EngineOutcome:
    """Return what ``engine`` computes for ``case``: forward value and gradients.

    With ``repeat`` the case is run a second time on fresh variables, and the
    two answers must agree to within the rounding of summing the same terms
    in another order (``gradcheck.tolerances.repeat_allowed``): an engine
    whose answer depends on an earlier call (gradients never reset, a cache
    keyed on ``id()``, a global tape that keeps growing) is
    ``nondeterministic`` on the very case that shows it, while one that
    merely sums in a different order each call (parents kept in a set) is not.
    """
    sink = _BoundedText()
    labels = call_labels(engine)
    outcome = EngineOutcome(labels=labels)
    try:
        outcome.forward, outcome.grads = _attempt(engine, labels, case, timeout, sink)
        if repeat:
            try:
                again = _attempt(engine, labels, case, timeout, sink)
            except _CallFailed as failed:
                raise _CallFailed(
                    "nondeterministic",
                    f"the same case worked once, then failed when repeated: {failed.message}",
                    failed.detail,
                ) from None
            difference = _difference(case, (outcome.forward, *outcome.grads), (again[0], *again[1]))
            if difference:
                raise _CallFailed(
                    "nondeterministic",
                    f"the same case, run twice on fresh variables, gave different answers: {difference}; "
                    f"{labels.runner} keeps state from one call to the next "
                    "(gradients not reset? a cache keyed on id()? a tape that keeps growing?)",
                )
    except _CallFailed as failed:
        outcome.failure = (failed.category, failed.message, failed.detail)
    outcome.output = sink.text()
    return outcome


def _attempt(
    engine: EngineCalls,
    labels: CallLabels,
    case: Computation,
    timeout: float | None,
    sink: _BoundedText,
    check_each_call: bool = False,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Run ``case`` once on fresh copies of its arrays; raise _CallFailed on any failure.

    The guards (time limit, output capture, warnings) are set up once for the
    whole attempt, and the handed arrays are compared with their copies once
    at the end: per call, both would cost more than a small engine's op. Only
    when an array did change is the case run again, checking after every call,
    to name the call that wrote into it.
    """
    dtype = np.dtype(engine.dtype)
    handed = [np.array(x, dtype=dtype) for x in case.inputs]
    cotangent = np.array(case.cotangent, dtype=dtype)
    pristine = [x.copy() for x in handed] + [cotangent.copy()]
    current = [labels.variable]  # the call in progress, for a timeout's message

    def check_mutation(stage: str) -> None:
        for index, (now, before) in enumerate(zip(handed + [cotangent], pristine)):
            if now.shape == before.shape and now.dtype == before.dtype and now.tobytes() == before.tobytes():
                continue  # the same bits: untouched (array_equal below costs more than a small engine's op)
            if not np.array_equal(now, before, equal_nan=True):
                what = f"input {case.names[index]}" if index < len(handed) else "the cotangent"
                raise _CallFailed(
                    "mutation",
                    f"{stage} wrote into the array it was handed for {what}",
                    f"before: {np.array2string(before, precision=4)}\nafter:  {np.array2string(now, precision=4)}",
                )

    def call(stage: str, function: Callable[..., Any], *call_args: Any, **call_kwargs: Any) -> Any:
        current[0] = stage
        try:
            result = function(*call_args, **call_kwargs)
        except (EngineTimeout, KeyboardInterrupt):
            raise
        except BaseException as exc:  # noqa: BLE001 - SystemExit from user code is a failure too
            raise _CallFailed("exception", f"{stage} raised {type(exc).__name__}", _describe(exc)) from None
        if check_each_call:
            check_mutation(stage)
        return result

    try:
        with time_limit(timeout), captured(sink):
            xs = [call(labels.variable, engine.variable, array) for array in handed]
            evaluate = getattr(case, "evaluate", None)
            if evaluate is not None:
                # A derived computation (gradcheck.higher): order 2 or forward mode.
                forward, grads = evaluate(engine, labels, xs, call, cotangent)
            else:
                forward, grads = _first_order(engine, labels, case, xs, call, cotangent)
    except EngineTimeout:
        raise _CallFailed("timeout", f"{current[0]} did not return within {timeout:g} s") from None
    if not check_each_call:
        try:
            check_mutation("a call")
        except _CallFailed:
            # Find the call that wrote; if the second run writes nowhere, say so as found.
            _attempt(engine, labels, case, timeout, _BoundedText(), check_each_call=True)
            raise
    return forward, grads


def _first_order(
    engine: EngineCalls, labels: CallLabels, case: Computation, xs: list[Any], call: Callable[..., Any],
    cotangent: np.ndarray,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Return the engine's forward value of ``case`` and its VJP of ``cotangent``."""
    y = case.apply(engine, xs, call)
    forward = call(labels.value, lambda: _as_array(engine.value(y), "the forward value"))
    if forward.shape != cotangent.shape:
        # The cotangent has the reference's output shape: grad() would
        # fail on it, and the forward shape is the bug to report.
        return forward, []
    grads = call(
        labels.grad,
        lambda: [_as_array(g, "a gradient") for g in _as_list(engine.grad(y, xs, cotangent))],
    )
    return forward, grads


def _difference(case: Computation, first: tuple[np.ndarray, ...], second: tuple[np.ndarray, ...]) -> str | None:
    """Describe how two answers to ``case`` differ beyond reassociated sums, or return None.

    The bound (``repeat_allowed``) counts the terms each entry sums
    (``case.terms``) and the magnitudes they are made of: the case's values
    for the forward value, those times the cotangent for a gradient.
    """
    from gradcheck.tolerances import repeat_allowed

    if len(first) != len(second):
        return f"the first call returned {len(first) - 1} gradient(s), the second {len(second) - 1}"
    for index, (a, b) in enumerate(zip(first, second)):
        what = "the forward value" if index == 0 else _gradient_name(case, index - 1)
        if a.shape != b.shape:
            return f"{what} had shape {a.shape}, then {b.shape}"
        if np.array_equal(a, b, equal_nan=True):
            continue  # the common case: a deterministic engine repeats itself bit for bit
        values = case.magnitude()
        if index == 0:
            terms, involved = case.terms(a.shape), values
        else:
            cotangent = float(np.max(np.abs(case.cotangent), initial=0.0))
            terms, involved = case.terms(first[0].shape, wrt=index - 1), cotangent * max(1.0, values)
        bound = repeat_allowed(a, terms, involved)
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        with np.errstate(all="ignore"):  # inf and NaN entries are compared below, not warned about
            error = np.abs(a64 - b64)
            same = (a64 == b64) | (np.isnan(a64) & np.isnan(b64))
            beyond = ~same & ~(error <= bound)  # NaN on one side only, or an inf that moved, is beyond too
            if not beyond.any():
                continue
            excess = np.where(beyond, np.nan_to_num(error / np.maximum(bound, 1e-300), nan=np.inf), 0.0)
        worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(excess)), excess.shape))
        at = f" at index {worst}" if a.ndim else ""
        return (
            f"{what}{at} was {float(a64[worst])!r} the first time and {float(b64[worst])!r} the second, "
            f"a difference of {error[worst]:.3g}; summing the entry's {terms} term(s) in any order "
            f"moves it by at most {bound[worst]:.3g}"
        )
    return None


def _gradient_name(case: Computation, index: int) -> str:
    name = case.names[index] if index < len(case.names) else None
    return f"the gradient w.r.t. {name}" if name else f"gradient {index + 1}"


def _as_list(grads: Any) -> list[Any]:
    return as_list(grads)


def as_list(grads: Any) -> list[Any]:
    """Return what ``grad`` returned as a list: a bare result is the one gradient of a single x."""
    if isinstance(grads, np.ndarray) or not isinstance(grads, (list, tuple)):
        return [grads]
    return list(grads)


def _as_array(value: Any, what: str) -> np.ndarray:
    return as_array(value, what)


def as_array(value: Any, what: str) -> np.ndarray:
    """Return a copy of what user code returned as a NumPy array of numbers; raise TypeError if it is not one."""
    from gradcheck.arrays import as_array as converted

    # A copy: the engine may reuse its buffers in a later call (grad after value).
    array = np.array(converted(value), copy=True)
    if not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"{what} must be an array of numbers, got {type(value).__name__}")
    return array


#: Raised by a computation's ``evaluate`` for a failure it finds itself (``CallFailed(category, message, detail)``).
CallFailed = _CallFailed
