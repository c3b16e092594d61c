"""The harness catches every planted bug, in the category the bug is about.

Each engine of ``tests/engines`` has one bug (proved real, without gradcheck,
by ``test_planted_sanity.py``). A planted bug the harness misses is a failing
test here, never a test to delete.
"""

from __future__ import annotations

import pytest

from tests.engines import PLANTED
from tests.shared_checks import searched


@pytest.mark.parametrize("planted", PLANTED, ids=[planted.id for planted in PLANTED])
def test_planted_bug_is_caught(planted):
    result = searched(planted.engine, planted.op)  # check_op, 100 examples, seed 0
    # A category the same bug also showed (``also_seen_as``) is reported too.
    categories = [seen.category for failure in result.failures for seen in (failure, *failure.also_seen_as)]
    assert result.status == "failed", f"{planted.id}: the harness missed the bug"
    assert planted.category in categories, f"{planted.id}: found {categories}, expected {planted.category}"
    # The case is shrunk: nothing bigger than the shapes a person reads at a glance.
    for failure in result.failures:
        for record in failure.inputs:
            assert len(record.shape) <= 4 and max(record.shape, default=1) <= 4, (planted.id, record.shape)
