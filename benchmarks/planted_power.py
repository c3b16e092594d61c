"""How often does a small search find each planted bug? A measure of search power, not speed.

For every planted op bug of ``tests/engines`` and each of several seeds,
``check_op`` runs with a small budget of examples; a hit is a run that
reports the bug's own category. Changes to generation (shapes, value sets,
styles) should not lower the total.

    .venv/bin/python benchmarks/planted_power.py [--examples 20] [--seeds 6] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gradcheck.engine import load_engine  # noqa: E402
from gradcheck.runner import check_op  # noqa: E402
from tests.engines import PLANTED  # noqa: E402


def _categories(result) -> set[str]:
    """Return every category reported, a failure's ``also_seen_as`` (the same bug) included."""
    return {seen.category for failure in result.failures for seen in (failure, *failure.also_seen_as)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=20, help="max_examples per run (default 20)")
    parser.add_argument("--seeds", type=int, default=6, help="seeds 0..N-1 per bug (default 6)")
    parser.add_argument("--json", type=Path, help="also write the hits per bug as JSON here")
    options = parser.parse_args(argv)
    started = time.perf_counter()
    hits: dict[str, int] = {}
    for planted in PLANTED:
        engine = load_engine(planted.engine)
        hits[planted.id] = sum(
            planted.category in _categories(check_op(engine, planted.op, max_examples=options.examples, seed=seed))
            for seed in range(options.seeds)
        )
    print(f"| planted bug | hits of {options.seeds} |\n|---|---|")
    for name, count in hits.items():
        print(f"| {name} | {count}{'' if count == options.seeds else ' ✗'} |")
    total = len(hits) * options.seeds
    print(f"\n{sum(hits.values())} of {total} runs found their bug "
          f"({options.examples} examples each, {time.perf_counter() - started:.0f} s)")
    if options.json:
        options.json.write_text(json.dumps(hits, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
