"""What one check may spend on timeouts and crashes once it has seen one.

A case that times out costs the whole time limit, and one that kills an
isolated engine's worker costs a new worker. Shrunk the usual way, such a
failure pays that again at every shrinking step: an engine that hangs on
one shape made a run with ``--timeout 5`` take 315 s. After a check's first
timeout or crash, its ``CostBudget``:

* shortens the time limit of later calls (to ``SHORTENED`` of it): an engine
  that hangs on a shape hangs under any limit, and shrinking tries many cases;
* lets the later timeouts wait one time limit in all, and the later timeouts
  and crashes number at most ``MAX_LATER`` (each one of an isolated engine
  starts a new worker); once either is spent, no new case of the check runs;
* remembers each failure by its case, so that Hypothesis's replay of a
  minimal example raises what was seen instead of running it again (a case
  that merely stopped being run would pass, and the replay would be called
  ``nondeterministic``);
* confirms a minimal timeout seen only under a shortened limit with one run
  at the full limit; if that run returns, the smallest case seen to time out
  at the full limit is reported instead (and a repeat stopped by the
  shortened limit is run again at the full one before it is called
  ``nondeterministic``).

So a hanging op waits out its first timeout, at most one more time limit
while its failure shrinks, and one confirmation: three time limits.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from gradcheck.results import Failure

__all__ = ["COSTLY", "CostBudget", "case_key"]

#: Categories that cost the time limit or a new worker process each time.
COSTLY = frozenset({"timeout", "crash"})
#: The time limit of calls after a check's first timeout, as a share of the full one.
SHORTENED = 1 / 10
#: ... but never shorter than this (seconds), unless the limit itself is: a
#: loaded machine can pause a call that long.
_SHORTEST = 0.1
#: How many timeouts and crashes may follow a check's first one.
MAX_LATER = 10
#: What the later timeouts may wait in all when calls have no time limit.
_UNLIMITED_WAIT = 10.0


def case_key(case: Any) -> tuple[Any, ...]:
    """Return a key equal for two cases exactly when the engine is handed the same computation."""
    arrays = tuple(np.asarray(x) for x in (*case.inputs, case.cotangent))
    return (
        case.kind, case.describe(), repr(case.params), repr(getattr(case, "steps", None)),
        tuple((x.dtype.str, x.shape, x.tobytes()) for x in arrays),
    )


def _size(case: Any) -> tuple[int, ...]:
    """Order cases by how much they hand the engine: entries, then axes, then steps."""
    return (
        sum(int(np.size(x)) for x in case.inputs),
        sum(np.ndim(x) for x in case.inputs),
        len(getattr(case, "steps", ())),
    )


class CostBudget:
    """The time limit a check's calls get, and what its timeouts and crashes may still cost.

    ``timeout`` is the check's time limit per call (None: none). With
    ``shortens=False`` the calls keep their own limit (the caller does not
    read ``limit``); the budget then only bounds how many run.
    """

    def __init__(self, timeout: float | None, *, shortens: bool = True) -> None:
        self.timeout = timeout
        self.shortens = shortens and timeout is not None
        self.wait = _UNLIMITED_WAIT if timeout is None else timeout
        self.waited = 0.0
        self.later = 0  # timeouts and crashes after the first
        self._started = False  # a timeout or crash was seen
        self._shortened = False  # a timeout at the full limit was seen
        self._confirming = False
        # Every failure by its case; the full-limit timeouts with their size; a timeout's reference.
        self._seen: dict[tuple[Any, ...], Failure] = {}
        self._references: dict[tuple[Any, ...], Any] = {}
        self._real_timeouts: dict[tuple[Any, ...], tuple[tuple[int, ...], Failure, Any]] = {}

    @property
    def limit(self) -> float | None:
        """The time limit of the next call: the full one until a first timeout, then ``SHORTENED`` of it."""
        if self.timeout is None or not self._shortened or self._confirming:
            return self.timeout
        return min(self.timeout, max(self.timeout * SHORTENED, _SHORTEST))

    @property
    def exhausted(self) -> bool:
        """Whether the check's timeouts and crashes have spent the budget: no new case is run."""
        return self.waited >= self.wait or self.later >= MAX_LATER

    def seen(self, case: Any, *, costly_only: bool) -> Failure | None:
        """Return the failure ``case`` showed already (a timeout or a crash only, with ``costly_only``)."""
        if costly_only and not self._started:
            return None  # the common case, without computing a key
        failure = self._seen.get(case_key(case))
        if failure is None or (costly_only and failure.category not in COSTLY):
            return None
        return failure

    def record(self, case: Any, reference: Any, failure: Failure | None) -> None:
        """Remember how ``case`` failed under the limit it ran with, and charge a timeout or crash."""
        if failure is None:
            return
        key = case_key(case)
        self._seen.setdefault(key, failure)
        if failure.category not in COSTLY:
            return
        limit = self.limit
        if self._started:
            self.later += 1
            if failure.category == "timeout":
                self.waited += self.wait if limit is None else limit
        self._started = True  # the first one is the failure itself, not its shrinking
        if failure.category == "timeout":
            self._references[key] = reference
            if limit == self.timeout:
                self._real_timeouts.setdefault(key, (_size(case), failure, case))
                self._shortened = self.shortens

    def recheck(self, failure: Failure | None, rerun: Callable[[], Failure | None]) -> Failure | None:
        """Return ``failure``, or for a ``nondeterministic`` one under a shortened limit, ``rerun()`` at the full limit.

        A repeated call stopped by the shortened limit is no evidence that the
        engine keeps state: only the full limit says the repeat did not return.
        """
        if failure is None or failure.category != "nondeterministic" or self.limit == self.timeout:
            return failure
        self._confirming = True
        try:
            return rerun()
        finally:
            self._confirming = False

    def settle(
        self, failure: Failure, case: Any, run: Callable[[Any, Any], Failure | None]
    ) -> tuple[Failure, Any] | None:
        """Return a minimal timeout confirmed at the full limit (``run(case, reference)``), with its case.

        A timeout seen only under a shortened limit is run once more at the
        full one; if it returns, the smallest case seen to time out at the
        full limit stands instead, and None when there is none. Other
        failures are returned as they are.
        """
        key = case_key(case)
        if failure.category != "timeout" or key in self._real_timeouts:
            return failure, case
        self._confirming = True
        try:
            confirmed = run(case, self._references[key])
        finally:
            self._confirming = False
        if confirmed is not None and confirmed.category == "timeout":
            return confirmed, case
        if not self._real_timeouts:
            return None
        _, smallest, smallest_case = min(self._real_timeouts.values(), key=lambda entry: entry[0])
        return smallest, smallest_case
