"""pytest-xdist scheduling that keeps a session's gradcheck items together, on one worker.

``gradcheck[programs]`` is told which ops failed their own items, so that a
program failing only because of one of them is not reported again; it knows
the verdicts of the items that ran in its own process. Under ``-n N`` (whose
default is ``--dist load``) pytest-xdist would spread the gradcheck items
over the workers. pytest-xdist's own way to keep tests together, the
``xdist_group`` marker, works only with ``--dist loadgroup`` and appends
``@group`` to the node ids, which then no longer rerun as printed nor match
``--lf``'s. Instead the plugin's ``pytest_xdist_make_scheduler`` hook returns
the scheduler below for ``load`` and ``loadgroup``: every other test is
scheduled as those modes schedule it, the gradcheck items go to one worker,
in collection order, as one unit of work.

``loadfile`` and ``loadscope`` keep them together already (they share the
target's "file"); ``each`` runs every item on every worker; ``worksteal``
may move them apart (the README says so).

Imported by that hook only, so only in a pytest-xdist controller.
"""

from __future__ import annotations

from typing import Any

from xdist.scheduler import LoadGroupScheduling

__all__ = ["GROUPED_MODES", "GradcheckScheduling"]

#: The ``--dist`` modes whose scheduler the plugin replaces with :class:`GradcheckScheduling`.
GROUPED_MODES = ("load", "loadgroup")


class GradcheckScheduling(LoadGroupScheduling):
    """``--dist loadgroup`` scheduling in which the node ids starting with ``prefix`` form one group.

    A test without an ``xdist_group`` marker is its own unit of work, as in
    ``--dist load``; with ``--dist load`` no node id carries a group (the
    markers count under ``loadgroup`` only), so those are scheduled as
    ``load`` schedules them.
    """

    def __init__(self, config: Any, log: Any, prefix: str) -> None:
        super().__init__(config, log)
        self.prefix = prefix

    def _split_scope(self, nodeid: str) -> str:
        # The prefix ends in "::gradcheck[": no test of a file, nor a group name, is spelt so.
        if nodeid.startswith(self.prefix):
            return self.prefix
        scope: str = super()._split_scope(nodeid)
        return scope
