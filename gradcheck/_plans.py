"""The examples a passing search drew, kept to be run again on the next engine (grading workers).

A search's examples depend on its seed and on how the engine fared: as long
as every example passes, Hypothesis draws the same ones in the same order for
any engine given the same strategy. A grading worker checks every student
with the same seed and options, so the examples of a check that passed for
one student are the examples that check draws for the next, as long as
nothing the strategy is built from differs (the check, dtype, declared
support, the ops a program may use, the options; ``plan_key`` lists them).

``gradcheck.search.search`` then runs the kept examples directly, without
Hypothesis drawing them again, each with the oracles' answers kept beside
it (a reference depends on the case alone), and hands an isolated engine a
few examples' cases at a time (``PLAN_BATCH``) instead of one round trip
per example. If they all pass, the result is the one the
search would have returned (the same examples, cases and oracle
disagreements); at the first one that fails, the search runs as always, from
its first example, so failures and their shrinking are exactly those of a
search without a plan. Off by default (``keep_plans``): only a grading worker,
whose engines all run isolated, keeps plans.
"""

from __future__ import annotations

import collections
import json
from typing import Any, Hashable, Sequence

from gradcheck._literals import to_json

__all__ = ["keep_plans", "plan_for", "plan_key", "store_plan"]

_KEPT: "collections.OrderedDict[Hashable, tuple[Any, ...]] | None" = None
_LIMIT = 0


def keep_plans(entries: int | None) -> None:
    """Keep the examples of up to ``entries`` passing checks in this process (None: keep none, the default)."""
    global _KEPT, _LIMIT
    _KEPT = collections.OrderedDict() if entries else None
    _LIMIT = entries or 0


def plan_key(*parts: Any) -> Hashable | None:
    """Return a key naming everything a search's strategy is built from, or None when a part has no exact text."""
    if _KEPT is None:
        return None
    try:
        return json.dumps([to_json(part) for part in parts], sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        return None


def plan_for(key: Hashable | None) -> tuple[Any, ...] | None:
    """Return the examples kept under ``key``, or None."""
    if _KEPT is None or key is None or key not in _KEPT:
        return None
    _KEPT.move_to_end(key)
    return _KEPT[key]


def store_plan(key: Hashable | None, examples: Sequence[Any]) -> None:
    """Keep ``examples`` (those a passing search drew, in order, each with its references) under ``key``."""
    if _KEPT is None or key is None:
        return
    _KEPT[key] = tuple(examples)
    _KEPT.move_to_end(key)
    while len(_KEPT) > _LIMIT:
        _KEPT.popitem(last=False)
