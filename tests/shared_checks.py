"""Searches that several test modules assert on: each runs once per test process.

``check_op`` at a fixed seed finds the same failures every time
(``test_runner.test_same_seed_same_minimal_case``), so the 100-example search
of a planted bug at seed 0 is run once and kept: ``test_planted`` asserts it
caught the bug, ``test_diagnosis`` that its minimal case gets the right
diagnosis, ``test_explain`` and ``test_runner`` how the question's tape's
failures are grouped and shrunk. Each still asserts everything it did on the
result of that same search; only the repeated search is gone.

Under pytest-xdist the tests that read these results are one unit of work
(``SHARED_SEARCH_TESTS`` in ``tests/conftest.py``), so they run on one worker
and the cache is hit there instead of each worker searching again. A test
added here and not there is still right, only slower.
"""

from __future__ import annotations

from typing import Any

from gradcheck.engine import load_engine
from gradcheck.results import CheckResult
from gradcheck.runner import check_op

__all__ = ["SEARCH_EXAMPLES", "searched"]

#: The example budget of the shared searches (the runner's checks default to more).
SEARCH_EXAMPLES = 100

# Keyed on the engine's identity (engines need not be hashable); the engine is
# kept with its result so that identity is never reused by another object.
_SEARCHED: dict[tuple[int, str, int], tuple[Any, CheckResult]] = {}


def searched(engine: Any, op: str, seed: int = 0) -> CheckResult:
    """Return ``check_op`` of ``engine`` (anything ``load_engine`` takes) on ``op``, 100 examples at ``seed``."""
    key = (id(engine), op, seed)
    if key not in _SEARCHED:
        _SEARCHED[key] = (engine, check_op(load_engine(engine), op, max_examples=SEARCH_EXAMPLES, seed=seed))
    return _SEARCHED[key][1]
