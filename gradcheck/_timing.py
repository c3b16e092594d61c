"""Where a check's time goes, stage by stage (benchmarks and ``CheckResult.stages``)."""

from __future__ import annotations

from time import perf_counter

__all__ = ["GENERATION", "STAGES", "StageClock"]

#: Everything not timed as a stage: Hypothesis drawing and bookkeeping, shrinking overhead.
GENERATION = "generation"
#: Stages in the order a case goes through them.
STAGES = (GENERATION, "tensorflow", "finite differences", "engine", "comparison", "blame")


class StageClock:
    """Accumulates seconds per stage; a lap costs well under a microsecond."""

    __slots__ = ("seconds", "_last")

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = perf_counter()

    def reset(self) -> None:
        """Start timing from now (the time since the last lap belongs to no stage)."""
        self._last = perf_counter()

    def lap(self, stage: str) -> None:
        """Charge the time since the last lap (or reset) to ``stage``."""
        now = perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + (now - self._last)
        self._last = now

    def split(self, total: float) -> dict[str, float]:
        """Return seconds per stage, with ``total`` minus the timed stages as generation."""
        timed = {stage: self.seconds[stage] for stage in STAGES if stage in self.seconds}
        timed.update((stage, seconds) for stage, seconds in self.seconds.items() if stage not in timed)
        return {GENERATION: max(0.0, total - sum(timed.values())), **timed}
