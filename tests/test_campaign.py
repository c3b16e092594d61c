"""Long campaigns: no false alarm on the correct engine at 1000 examples per op.

Marked ``slow``: excluded from ``make test`` (and CI); ``make campaign`` runs
them. The figures of the last run are in the closing note of the issue.
"""

from __future__ import annotations

import pytest

from gradcheck.engine import load_engine
from gradcheck.ops import OP_NAMES
from gradcheck.runner import check_op

CAMPAIGN_EXAMPLES = 1000


@pytest.mark.slow
@pytest.mark.parametrize("op", OP_NAMES)
@pytest.mark.parametrize("target", ["engine32", "engine64"])
def test_correct_engine_never_fails(target, op):
    engine = load_engine(f"gradcheck.examples.numpy_engine:{target}")
    result = check_op(engine, op, max_examples=CAMPAIGN_EXAMPLES, seed=12345)
    assert result.status == "passed", [failure.to_dict() for failure in result.failures]
    assert result.oracle_disagreements == 0, result.oracle_note
