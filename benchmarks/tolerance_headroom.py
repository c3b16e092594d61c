"""How close correct engines come to gradcheck's tolerance: the worst error / bound per op.

The adapter campaign (``campaign_adapters.py``) says whether a correct
framework ever *fails*; this says by how much it passes. For every installed
adapter, dtype and op it draws cases with the same strategy and seed as
``check_op``, runs the framework and the oracles, and records, for each case,
the largest ratio ``|actual - expected| / bound`` over the forward value and
every gradient entry (``gradcheck.tolerances.allowed_error``, with the terms
``gradcheck.verdict`` uses). A ratio of 1 would be a false alarm; the
tolerance model (``docs/tolerances.md``) quotes the result.

Usage (from the repository root)::

    python benchmarks/tolerance_headroom.py [--cases 200] [--frameworks tensorflow,torch]
    python benchmarks/tolerance_headroom.py --mode "order 2" --frameworks torch,jax
    python benchmarks/tolerance_headroom.py --mode forward --engine tests/targets/higher_engine.py

With ``--mode`` each case is derived (``gradcheck.higher``): order 2 compares
the first-order values made with ``create_graph=True`` and the VJP of the VJP,
forward mode the JVP, with the terms the verdict gives them. ``--engine``
measures one engine (both dtypes when it has ``engine32``/``engine64``) instead
of the adapters.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gradcheck.adapters import ADAPTERS  # noqa: E402  (needs the repository on sys.path)
from gradcheck.ops import OP_NAMES  # noqa: E402

DTYPES = ("float32", "float64")


def worst_ratios(framework: str, dtype: str, op: str, cases: int, seed: int, mode: str | None = None,
                 target: str | None = None) -> list[float]:
    """Return the worst error / bound of each drawn case of ``op`` (in ``mode``) on the adapter's engine
    (or on ``target``, an engine of that dtype)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    from gradcheck.engine import load_engine
    from gradcheck.execution import run_engine
    from gradcheck.oracles import reference_for
    from gradcheck.strategies import op_cases
    from gradcheck.tolerances import DEFAULT_TOLERANCES, allowed_error

    from gradcheck.higher import derive
    from gradcheck.oracles import derived_references

    engine = load_engine(target or f"{ADAPTERS[framework]}:engine{dtype[-2:]}")
    tolerance = DEFAULT_TOLERANCES[dtype]
    ratios: list[float] = []

    def ratio(actual: np.ndarray, expected: np.ndarray, terms: int) -> float:
        bound = allowed_error(expected, tolerance, terms)
        return float(np.max(np.abs(actual.astype(np.float64) - expected) / bound, initial=0.0))

    @hypothesis_seed(seed)
    @settings(max_examples=cases, database=None, deadline=None, phases=(Phase.generate,),
              suppress_health_check=list(HealthCheck))
    @given(op_cases(op, dtype=dtype))
    def sample(case):
        if mode is not None:
            case = derive(case, mode)
        reference = reference_for(case) if mode is None else derived_references([case])[0]
        outcome = run_engine(engine, case, timeout=None, repeat=False)
        if not reference.agrees or outcome.failure is not None or outcome.forward.shape != reference.forward.shape:
            return  # failures are the campaign's business; this measures passing cases
        worst = ratio(outcome.forward, reference.forward, case.terms(reference.forward.shape))
        count = len(case.inputs)
        for index, (grad, expected) in enumerate(zip(outcome.grads, reference.grads)):
            if grad.shape != expected.shape:
                continue
            if mode is None:
                terms = case.terms(reference.forward.shape, wrt=index)
            elif mode == "forward":
                terms = case.terms(reference.forward.shape)  # the JVP sums what the forward value sums
            else:  # order 2: first-order values as at order 1, then the second derivatives
                terms = (case.base.terms(reference.forward.shape, wrt=index) if index < count
                         else case.terms(reference.forward.shape, wrt=index - count))
            worst = max(worst, ratio(grad, expected, terms))
        ratios.append(worst)

    sample()
    return ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--frameworks", default=",".join(ADAPTERS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mode", choices=["order 2", "forward"], default=None)
    parser.add_argument("--engine", default=None, help="an engine target instead of the adapters")
    parser.add_argument("--ops", default=None, help="comma-separated (default: every op the engine checks)")
    args = parser.parse_args(argv)
    from gradcheck.engine import load_engine
    from gradcheck.higher import ORDER2, has_second_order

    frameworks = ([args.engine] if args.engine else
                  [name for name in args.frameworks.split(",") if importlib.util.find_spec(name)])
    print("| framework | dtype | cases | worst error / bound | op of the worst | median |")
    print("|---|---|---:|---:|---|---:|")
    for framework in frameworks:
        for dtype in DTYPES:
            target = None
            if args.engine:
                target = f"{args.engine}:engine{dtype[-2:]}"
                try:
                    engine = load_engine(target)
                except Exception:  # noqa: BLE001 - an engine of one dtype only
                    continue
            else:
                engine = load_engine(f"{ADAPTERS[framework]}:engine{dtype[-2:]}")
            ops = [op for op in (args.ops.split(",") if args.ops else OP_NAMES) if engine.supports(op)
                   and (args.mode != ORDER2 or has_second_order(op))]
            per_op = {op: worst_ratios(framework, dtype, op, args.cases, args.seed, args.mode, target) for op in ops}
            every = [r for ratios in per_op.values() for r in ratios]
            worst_op = max(per_op, key=lambda op: max(per_op[op], default=0.0))
            print(f"| {framework} | {dtype} | {len(every)} | {max(every):.2g} | {worst_op} | "
                  f"{float(np.median(every)):.2g} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
