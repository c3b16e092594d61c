"""The adapter campaign: gradcheck on every adapter x dtype x op, many examples each.

Every installed framework of ``gradcheck.adapters`` is checked with
``gradcheck.runner.check_op`` on every op, in float32 and float64, with a
fixed seed, the jobs spread over worker processes. The results go to a
Markdown table (``docs/campaign.md``) and the JSON it is rendered from
(``docs/campaign.json``); ``--render`` re-renders the table from the JSON
without running anything. A failure is either a bug of the framework
(listed in ``KNOWN_BUGS`` with its write-up in ``docs/framework-bugs.md``) or
a false alarm of gradcheck, to be fixed until none is left.

Usage (from the repository root)::

    python benchmarks/campaign_adapters.py                      # 2000 examples per op
    python benchmarks/campaign_adapters.py --examples 200 --frameworks tensorflow,torch
    python benchmarks/campaign_adapters.py --render             # table from docs/campaign.json
    python benchmarks/campaign_adapters.py --mode "order 2"     # second derivatives: docs/campaign-order2.md
    python benchmarks/campaign_adapters.py --mode forward       # forward mode: docs/campaign-forward.md

With ``--mode`` each job is the op's derived check (``gradcheck.higher``:
``tanh (order 2)``, ``tanh (forward)``); order 2 runs only the ops whose
second derivative is not zero everywhere, and only on adapters whose ``grad``
takes ``create_graph`` (forward mode: adapters with ``jvp``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gradcheck.adapters import ADAPTERS  # noqa: E402  (needs the repository on sys.path)
from gradcheck.ops import OP_NAMES  # noqa: E402

DTYPES = ("float32", "float64")
DEFAULT_EXAMPLES = 2000
DEFAULT_SEED = 20240801
#: Seconds one engine call may take before it is a timeout (gradcheck's default is 10).
CALL_TIMEOUT = 120.0
DOCS = REPO / "docs"
BUGS_PAGE = "framework-bugs.md"

#: (framework, op) -> anchor in docs/framework-bugs.md: failures that are the
#: framework's own bugs, each written up with a reproducer. Anything failing
#: and not listed here is a new finding to investigate.
KNOWN_BUGS: dict[tuple[str, str], str] = {
    ("autograd", "broadcast_to"): "autograd-broadcast_to-new-leading-axes",
    ("autograd", "logsumexp"): "scipy-logsumexp-0-d-keepdims",
    ("autograd", "where"): "autograd-where-0-d-operand",
    ("autograd", "einsum"): "autograd-einsum-repeated-subscripts",
}

#: (framework, op, mode) -> anchor: the framework bugs of an op's derived check (``--mode``).
KNOWN_DERIVED_BUGS: dict[tuple[str, str, str], str] = {
    ("torch", "pow_tensor", "order 2"): "pow-exponent-zero-order-2",
    ("autograd", "pow_tensor", "order 2"): "pow-exponent-zero-order-2",
    # The first order's framework bugs, met again on the way to the second derivative.
    ("autograd", "logsumexp", "order 2"): "scipy-logsumexp-0-d-keepdims",
    ("autograd", "einsum", "order 2"): "autograd-einsum-repeated-subscripts",
}


def known_bug(row: dict[str, Any]) -> str | None:
    """Return the anchor of the framework bug a failing row is, or None (a row of ``--mode`` by its mode)."""
    mode = row.get("mode")
    if mode:
        return KNOWN_DERIVED_BUGS.get((row["framework"], row["op"], mode))
    return KNOWN_BUGS.get((row["framework"], row["op"]))


#: Import name of each framework, to see what is installed without importing it.
_FRAMEWORK_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch", "autograd": "autograd"}
# JAX compiles a kernel per new shape: slowest first keeps the workers busy to the end.
_SLOWEST_FIRST = ("jax", "tensorflow", "torch", "autograd")


def installed_frameworks() -> list[str]:
    """Return the frameworks whose adapter can run here, in ``ADAPTERS`` order."""
    return [name for name in ADAPTERS if importlib.util.find_spec(_FRAMEWORK_MODULES[name]) is not None]


def _limit_threads() -> None:
    # One thread per worker: the workers are the parallelism, and oversubscribed
    # BLAS / Eigen / XLA thread pools only slow each other down.
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                     "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ.setdefault(variable, "1")
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")


def run_job(framework: str, dtype: str, op: str, examples: int, seed: int, mode: str | None = None) -> dict[str, Any]:
    """Return one row of the campaign: ``check_op`` of ``op`` (in ``mode``) on the adapter's ``dtype`` engine."""
    from gradcheck.engine import load_engine
    from gradcheck.runner import check_op

    if framework == "torch":
        import torch

        torch.set_num_threads(1)
    engine = load_engine(f"{ADAPTERS[framework]}:engine{dtype[-2:]}")
    started = time.perf_counter()
    # A campaign checks gradients, not speed: a framework compiling a kernel on a
    # busy machine (JAX's first gelu in float32 took over 10 s at load 10) is no timeout.
    result = check_op(engine, op, max_examples=examples, seed=seed, timeout=CALL_TIMEOUT, mode=mode)
    if framework == "jax":
        import jax

        # Its per-shape kernel cache would otherwise grow by gigabytes over a run.
        jax.clear_caches()
    return {
        "framework": framework,
        "dtype": dtype,
        "op": op,
        **({"mode": mode} if mode else {}),
        "status": result.status,
        "examples": result.examples,
        "cases": result.cases,
        "failures": len(result.failures),
        "categories": [failure.category for failure in result.failures],
        "oracle_disagreements": result.oracle_disagreements,
        "oracle_note": result.oracle_note,
        "seconds": round(time.perf_counter() - started, 2),
        "details": [failure.to_dict() for failure in result.failures],
    }


def run_campaign(jobs: list[tuple[str, str, str]], examples: int, seed: int, workers: int,
                 on_row: Callable[[dict[str, Any]], None], mode: str | None = None) -> None:
    """Run ``jobs`` on ``workers`` processes (spawned: no forked TensorFlow), each row to ``on_row``."""
    _limit_threads()
    jobs = sorted(jobs, key=lambda job: _SLOWEST_FIRST.index(job[0]))
    context = multiprocessing.get_context("spawn")
    # Workers live for the whole run (importing TensorFlow costs seconds). Not
    # max_tasks_per_child: on Python 3.11 the pool hung once a worker retired.
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending = {pool.submit(run_job, *job, examples, seed, mode): job for job in jobs}
        for done, future in enumerate(as_completed(pending), 1):
            row = future.result()
            flag = f"FAILED {row['categories']}" if row["failures"] else "ok"
            print(f"[{done}/{len(jobs)}] {row['framework']} {row['dtype']} {row['op']}: {row['examples']} examples, "
                  f"{flag}, {row['oracle_disagreements']} oracle disagreements, {row['seconds']} s", flush=True)
            on_row(row)


def _ordered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    order = {name: index for index, name in enumerate(ADAPTERS)}
    return sorted(rows, key=lambda r: (order[r["framework"]], DTYPES.index(r["dtype"]), OP_NAMES.index(r["op"])))


# --- rendering (from the stored rows only) --------------------------------


def _cases(row: dict[str, Any]) -> int:
    # Rows stored before an example held several value sets checked one each.
    return row.get("cases", row["examples"])


def _summary(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| framework | dtype | ops | examples | value sets | failures | oracle disagreements | seconds |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["framework"], row["dtype"]), []).append(row)
    for (framework, dtype), group in groups.items():
        lines.append(
            f"| {framework} | {dtype} | {len(group)} | {sum(r['examples'] for r in group)} | "
            f"{sum(_cases(r) for r in group)} | {sum(r['failures'] for r in group)} | {sum(r['oracle_disagreements'] for r in group)} | "
            f"{sum(r['seconds'] for r in group):.0f} |"
        )
    missing = _not_run(rows)
    if missing:
        lines += ["", "Not run yet (a stopped or partial campaign; `--resume` goes on): "
                  + "; ".join(f"{framework} {dtype}: {', '.join(ops)}" for (framework, dtype), ops in missing.items()) + "."]
    return lines


def _not_run(rows: list[dict[str, Any]]) -> dict[tuple[str, str], list[str]]:
    """Return the ops of OP_NAMES without a row, per framework and dtype that has rows (none for a whole campaign).

    At order 2 only the ops with a second derivative have a check to run."""
    from gradcheck.higher import ORDER2, has_second_order

    order2 = any(row.get("mode") == ORDER2 for row in rows)
    expected = [op for op in OP_NAMES if not order2 or has_second_order(op)]
    done: dict[tuple[str, str], set[str]] = {}
    for row in rows:
        done.setdefault((row["framework"], row["dtype"]), set()).add(row["op"])
    frameworks = list(dict.fromkeys(framework for framework, _ in done))
    return {
        (framework, dtype): [op for op in expected if op not in done.get((framework, dtype), set())]
        for framework in frameworks for dtype in DTYPES
        if any(op not in done.get((framework, dtype), set()) for op in expected)
    }


def _failure_lines(rows: list[dict[str, Any]]) -> list[str]:
    lines = []
    for row in rows:
        for detail in row["details"]:
            anchor = known_bug(row)
            verdict = (f"framework bug, see [{BUGS_PAGE}]({BUGS_PAGE}#{anchor})" if anchor
                       else "**not classified yet**: a framework bug or a false alarm of gradcheck")
            inputs = ", ".join(f"{i['name']}: {tuple(i['shape'])}" for i in detail["inputs"])
            lines.append(
                f"* {row['framework']} {row['dtype']} `{row['op']}` — {detail['category']}: "
                f"{detail['message']} (minimal case {inputs}, params {detail['params']}). {verdict}."
            )
    return lines or ["None."]


def _derived_header(mode: str, rows: list[dict[str, Any]], meta: dict[str, Any]) -> list[str]:
    """Return the opening lines of the page of a ``--mode`` campaign (``docs/campaign-order2.md``)."""
    what = ("the VJP of the VJP (`OP (order 2)`), on every op whose second derivative is not zero "
            "everywhere, on the adapters whose `grad` takes `create_graph`" if mode == "order 2" else
            "the JVP (`OP (forward)`), on every op, on the adapters with `jvp`")
    source = "campaign-order2.json" if mode == "order 2" else "campaign-forward.json"
    return [
        f"# Adapter campaign: {mode}",
        "",
        f"gradcheck's {mode} checks on the adapters of `gradcheck.adapters` (the framework's own derivatives):",
        f"{what}; float32 and float64, {_budgets(rows, meta)} (`max_examples`; a failing op also counts",
        f"the cases run while shrinking; each example checks 8 value sets), seed {meta['seed']},",
        f"{meta['workers']} worker processes: {sum(r['seconds'] for r in rows) / 60:.0f} minutes of checking",
        f"on {meta['machine']}; {', '.join(f'{k} {v}' for k, v in meta['versions'].items())}.",
        f"Generated by `benchmarks/campaign_adapters.py --mode \"{mode}\"` from `{source}`",
        "(do not edit by hand: rerun, or re-render with `--render`). The first-order campaign is",
        "[campaign.md](campaign.md); the tolerances of the derived checks are in",
        "[tolerances.md](tolerances.md#order-2-and-forward-mode).",
        "",
        "*oracle disagreements* counts the cases on which TensorFlow's nested tapes and finite",
        "differences of its VJP disagreed: gradcheck's problem, skipped and never blamed on the engine.",
        "",
        "```sh",
        f"python benchmarks/campaign_adapters.py --mode \"{mode}\" --examples 12 --resume",
        "```",
        "",
    ]


def render(data: dict[str, Any]) -> str:
    """Return the Markdown page for the stored campaign ``data``."""
    rows, meta = data["rows"], data["meta"]
    table = ["| framework | dtype | op | examples | value sets | failures | oracle disagreements | seconds |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        failures = f"**{row['failures']}** ({', '.join(row['categories'])})" if row["failures"] else "0"
        table.append(f"| {row['framework']} | {row['dtype']} | {row['op']} | {row['examples']} | {_cases(row)} | {failures} | "
                     f"{row['oracle_disagreements']} | {row['seconds']:.1f} |")
    notes = sorted({(r["framework"], r["dtype"], r["op"], r["oracle_note"]) for r in rows if r["oracle_note"]})
    disagreement_lines = [f"* {f} {d} `{o}`: {note}" for f, d, o, note in notes] or ["None."]
    mode = meta.get("mode")
    header = _derived_header(mode, rows, meta) if mode else _header(rows, meta)
    return "\n".join([
        *header,
        "## Summary",
        "",
        *_summary(rows),
        "",
        "## Failures",
        "",
        *_failure_lines(rows),
        "",
        "## Oracle disagreements",
        "",
        *disagreement_lines,
        "",
        "## Every op",
        "",
        *table,
        "",
    ])


def _header(rows: list[dict[str, Any]], meta: dict[str, Any]) -> list[str]:
    """Return the opening lines of the first-order campaign's page (``docs/campaign.md``)."""
    return [
        "# Adapter campaign",
        "",
        "gradcheck on every adapter of `gradcheck.adapters` (the framework's own gradients), every op,",
        f"float32 and float64: {_budgets(rows, meta)} (`max_examples`; a failing op also counts",
        "the cases run while shrinking; each example checks its own value sets, 8 since they were",
        "introduced, one before), seed",
        f"{meta['seed']}, {meta['workers']} worker processes: {sum(r['seconds'] for r in rows) / 60:.0f} minutes of",
        f"checking, {meta['wall_seconds'] / 60:.0f} minutes of wall time (runs resumed with `--resume` add up)",
        f"on {meta['machine']}; {', '.join(f'{k} {v}' for k, v in meta['versions'].items())}.",
        "Generated by `benchmarks/campaign_adapters.py` from `campaign.json`",
        "(do not edit by hand: rerun, or re-render with `--render`).",
        "",
        "*failures* counts the kinds of failure found for the op (each shrunk to its own minimal case);",
        "*oracle disagreements* counts the cases on which TensorFlow's float64 gradient and finite",
        "differences disagreed: those are gradcheck's problem, skipped and never blamed on the engine",
        "(see [tolerances.md](tolerances.md)).",
        "",
        "CI runs a short version (`make test`): `tests/test_adapters.py` checks the TensorFlow adapter on",
        "every op in both dtypes at 25 examples (the other adapters too where installed) and runs this",
        "script on one op. Rerun the whole campaign (about 45 minutes on 2 idle cores, JAX most of it) with:",
        "",
        "```sh",
        "pip install -e \".[jax,torch,autograd]\"",
        "python benchmarks/campaign_adapters.py                 # --examples 2000 --workers 2",
        "python benchmarks/campaign_adapters.py --examples 200   # a quick pass",
        "```",
        "",
    ]


def _budgets(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """Return "2000 examples per op", or each budget and its ops when an --update ran some ops with another."""
    ops_by_budget: dict[int, set[str]] = {}
    for row in rows:
        ops_by_budget.setdefault(row.get("max_examples", meta["examples"]), set()).add(row["op"])
    if len(ops_by_budget) == 1:
        return f"{next(iter(ops_by_budget))} examples per op"
    ordered = sorted(ops_by_budget.items(), key=lambda item: -len(item[1]))
    (common, _), rest = ordered[0], ordered[1:]
    named = "; ".join(f"{budget} for {', '.join(sorted(ops, key=OP_NAMES.index))}" for budget, ops in rest)
    return f"{common} examples per op ({named})"


def _write(path: Path, text: str, quiet: bool = False) -> None:
    # Whole or not at all: a half-written table is worse than the old one.
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
    if not quiet:
        print(f"Wrote {path}")


def _names(text: str, known: tuple[str, ...] | list[str], what: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SystemExit(f"--{what}: unknown {', '.join(unknown)}; choose from {', '.join(known)}.")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=DEFAULT_EXAMPLES, help="max examples per op (default 2000)")
    parser.add_argument("--frameworks", default=None, help="comma-separated (default: every installed one)")
    parser.add_argument("--dtypes", default=",".join(DTYPES))
    parser.add_argument("--ops", default=",".join(OP_NAMES))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--mode", choices=["order 2", "forward"], default=None,
                        help="check each op's derived check instead of its VJP (gradcheck.higher)")
    parser.add_argument("--out", type=Path, default=None,
                        help="Markdown table, JSON beside it (default: docs/campaign.md, or docs/campaign-order2.md / "
                        "docs/campaign-forward.md with --mode)")
    parser.add_argument("--render", action="store_true", help="only re-render the Markdown from the stored JSON")
    parser.add_argument("--update", action="store_true",
                        help="keep the stored rows of the jobs not run now (after fixing one op, say)")
    parser.add_argument("--resume", action="store_true",
                        help="like --update, and skip the jobs already stored (go on after a stopped run)")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = DOCS / {None: "campaign.md", "order 2": "campaign-order2.md", "forward": "campaign-forward.md"}[args.mode]
    json_path = args.out.with_suffix(".json")
    if args.render:
        _write(args.out, render(json.loads(json_path.read_text(encoding="utf-8"))))
        return 0
    available = installed_frameworks()
    frameworks = _names(args.frameworks, list(ADAPTERS), "frameworks") if args.frameworks else available
    missing = [name for name in frameworks if name not in available]
    if missing:
        raise SystemExit(f"not installed: {', '.join(missing)} (pip install -e \".[{','.join(missing)}]\").")
    jobs = [(framework, dtype, op) for framework in frameworks
            for dtype in _names(args.dtypes, DTYPES, "dtypes") for op in _names(args.ops, OP_NAMES, "ops")
            if _checked_in(framework, op, args.mode)]
    stored = (json.loads(json_path.read_text(encoding="utf-8"))
              if (args.update or args.resume) and json_path.exists() else None)
    rows = {_key(row): row for row in (stored["rows"] if stored else [])}
    for row in rows.values():
        # Rows stored before each row kept its own budget ran with the stored one.
        row.setdefault("max_examples", stored["meta"]["examples"] if stored else args.examples)
    earlier_seconds = stored["meta"]["wall_seconds"] if stored else 0.0
    if args.resume:
        jobs = [job for job in jobs if job not in rows]
    started = time.perf_counter()
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def save(row: dict[str, Any]) -> None:
        # After every job: a stopped campaign keeps what it finished (--resume goes on).
        rows[_key(row)] = {**row, "max_examples": args.examples}
        kept = _ordered(list(rows.values()))
        data = {
            "format_version": 1,
            "meta": {
                "examples": args.examples,
                **({"mode": args.mode} if args.mode else {}),
                "seed": args.seed,
                "workers": args.workers,
                "wall_seconds": round(earlier_seconds + time.perf_counter() - started, 1),
                "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
                "versions": _versions(sorted({r["framework"] for r in kept}, key=list(ADAPTERS).index)),
            },
            "rows": kept,
        }
        _write(json_path, json.dumps(data, indent=1) + "\n", quiet=True)
        _write(args.out, render(data), quiet=True)

    run_campaign(jobs, args.examples, args.seed, args.workers, save, args.mode)
    print(f"Wrote {json_path} and {args.out}")
    unexplained = [r for r in rows.values() if r["failures"] and known_bug(r) is None]
    return 1 if unexplained else 0


def _checked_in(framework: str, op: str, mode: str | None) -> bool:
    """Return whether ``op`` of ``framework``'s adapter has a check in ``mode`` (every op has its first-order one)."""
    if mode is None:
        return True
    from gradcheck.engine import load_engine
    from gradcheck.higher import ORDER2, has_second_order

    engine = load_engine(f"{ADAPTERS[framework]}:engine64")
    if mode == ORDER2:
        return engine.takes_create_graph and has_second_order(op)
    return engine.has_jvp


def _key(row: dict[str, Any]) -> tuple[str, str, str]:
    return row["framework"], row["dtype"], row["op"]


def _versions(frameworks: list[str]) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ["numpy", "hypothesis", "tensorflow", *frameworks, "jaxlib" if "jax" in frameworks else None]:
        if name and name not in found:
            try:
                found[name] = version(name)
            except PackageNotFoundError:
                pass
    return found


if __name__ == "__main__":
    sys.exit(main())
