"""What one TensorFlow VJP over K stacked cases costs, against K separate ones.

``check_op`` checks several value sets per Hypothesis example (``VALUE_SETS``)
and batches their TensorFlow VJPs into one call, stacking the sets on a new
leading axis (``OpSpec.batch``, like a vmap rule). This measures why that
pays: one call over K sets costs about what one set costs, so the oracle's
share per set falls nearly K-fold.

    .venv/bin/python benchmarks/batched_vjp.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gradcheck.ops import OPS  # noqa: E402
from gradcheck.oracles import vjp  # noqa: E402


def _ms_per_call(function: Callable[[], object], calls: int = 200) -> float:
    for _ in range(10):
        function()
    started = time.perf_counter()
    for _ in range(calls):
        function()
    return (time.perf_counter() - started) / calls * 1e3


def main() -> int:
    rng = np.random.default_rng(0)
    print("| sets K | sum (4,8,16) axis=1: ms per call | per set | matmul (4,16,16)@(16,16): ms per call | per set |")
    print("|---:|---:|---:|---:|---:|")
    for sets in (1, 8, 32):
        x, u = rng.random((sets, 4, 8, 16)), rng.random((sets, 4, 16))
        # axis=1 of one case is axis=2 of the stack.
        summed = _ms_per_call(lambda: vjp(lambda tf, a: OPS["sum"].tensorflow(tf, a, axis=2), [x], u))
        a, b, g = rng.random((sets, 4, 16, 16)), rng.random((sets, 1, 16, 16)), rng.random((sets, 4, 16, 16))
        product = _ms_per_call(lambda: vjp(lambda tf, p, q: OPS["matmul"].tensorflow(tf, p, q), [a, b], g))
        print(f"| {sets} | {summed:.3f} | {summed / sets:.3f} | {product:.3f} | {product / sets:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
