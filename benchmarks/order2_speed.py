"""How much order 2 and forward mode cost per example, beside the first order and other checkers.

    .venv/bin/python benchmarks/order2_speed.py
    .venv/bin/python benchmarks/order2_speed.py --engine tests/targets/higher_engine.py:engine32 --examples 50

For each fixed case (an op and its operand shapes) the same engine is checked
three ways with ``check_op``: its VJP (the first-order check), its VJP of the
VJP (``OP (order 2)``) and its JVP (``OP (forward)``, when the engine has
``jvp``). Time per example is wall time over examples (each example holds
``runner.VALUE_SETS`` value sets), split into stages. When PyTorch is
installed, ``torch.autograd.gradgradcheck`` on the same shapes is timed too
(one call: every entry of the Hessian-vector products by finite differences).
Run on an otherwise idle machine; the numbers go to benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gradcheck.engine import load_engine  # noqa: E402
from gradcheck.higher import FORWARD, ORDER2  # noqa: E402
from gradcheck.runner import VALUE_SETS, check_op  # noqa: E402

#: (op, operand shapes): small cases a course's engine meets.
CASES = (
    ("tanh", [(4, 4)]),
    ("exp", [(4, 4)]),
    ("multiply", [(4, 4), (4, 4)]),
    ("matmul", [(2, 4, 4), (4, 4)]),
)


def timed(engine: Any, op: str, shapes: list[tuple[int, ...]], examples: int, mode: str | None) -> tuple[float, dict[str, float]]:
    """Return seconds per example of ``check_op`` in ``mode``, and its stages per example."""
    started = time.perf_counter()
    result = check_op(engine, op, shapes=shapes, max_examples=examples, seed=1, mode=mode)
    seconds = time.perf_counter() - started
    if result.status != "passed":
        raise SystemExit(f"{result.check} did not pass on the benchmark engine: {result.failures[0].message}")
    per = max(result.examples, 1)
    return seconds / per, {stage: value / per for stage, value in result.stages.items()}


def gradgradcheck(op: str, shapes: list[tuple[int, ...]], dtype: str) -> float | str:
    """Return seconds of one ``torch.autograd.gradgradcheck`` on these shapes, or why it was not run."""
    try:
        import torch
    except ImportError:
        return "PyTorch not installed"
    function = {"tanh": torch.tanh, "exp": torch.exp, "multiply": torch.mul, "matmul": torch.matmul}[op]
    rng = np.random.default_rng(0)
    inputs = [torch.tensor(rng.uniform(0.25, 1.0, shape), dtype=getattr(torch, dtype), requires_grad=True)
              for shape in shapes]
    started = time.perf_counter()
    torch.autograd.gradgradcheck(function, inputs, atol=1e-3 if dtype == "float32" else 1e-5,
                                 rtol=1e-2 if dtype == "float32" else 1e-3)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", default="tests/targets/higher_engine.py", help="an engine with create_graph")
    parser.add_argument("--examples", type=int, default=30, help="examples per check (default 30)")
    args = parser.parse_args(argv)
    engine = load_engine(args.engine)
    if not engine.takes_create_graph:
        raise SystemExit(f"{args.engine}: its grad does not take create_graph; give an engine that does.")
    modes: list[str | None] = [None, ORDER2, *([FORWARD] if engine.has_jvp else [])]
    for mode in modes:  # warm up: TensorFlow's first calls of each kind cost seconds, not per example
        timed(engine, CASES[0][0], CASES[0][1], 2, mode)
    print(f"engine {engine.name} ({engine.dtype.name}), {args.examples} examples per check, "
          f"{VALUE_SETS} value sets per example\n")
    print("| case | order 1 (ms/example) | order 2 (ms/example) | order 2 / order 1 | forward (ms/example) "
          "| gradgradcheck (ms/call) |")
    print("|---|---:|---:|---:|---:|---:|")
    for op, shapes in CASES:
        if not engine.supports(op):
            continue
        per = {mode: timed(engine, op, shapes, args.examples, mode) for mode in modes}
        first, second = per[None][0], per[ORDER2][0]
        forward = f"{per[FORWARD][0] * 1e3:.1f}" if FORWARD in per else "no jvp"
        torch_time = gradgradcheck(op, shapes, engine.dtype.name)
        torch_text = f"{torch_time * 1e3:.1f}" if isinstance(torch_time, float) else torch_time
        case = f"{op} {', '.join(map(str, shapes))}"
        print(f"| {case} | {first * 1e3:.1f} | {second * 1e3:.1f} | {second / first:.1f}x | {forward} | {torch_text} |")
        stages = ", ".join(f"{stage} {value * 1e3:.1f}" for stage, value in per[ORDER2][1].items() if value >= 5e-4)
        print(f"|  ↳ order 2 by stage (ms/example): {stages} | | | | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
