"""How fast is gradcheck? One run measures everything issue 7 asks, side by side.

    .venv/bin/python benchmarks/speed.py              # everything (about 3 minutes)
    .venv/bin/python benchmarks/speed.py --quick      # fewer repetitions, for a smoke run
    .venv/bin/python benchmarks/speed.py --json out.json

Sections:

1. Per example on fixed cases: our cost split by stage (generation, TensorFlow,
   finite differences, engine, comparison) against the *bare* cost, the
   engine's own forward and backward plus one TensorFlow VJP (eager
   ``tf.GradientTape``, float64) on the same arrays. Ratio = ours / bare.
2. The same cases through other checkers: ``torch.autograd.gradcheck`` (full
   Jacobian and ``fast_mode``), ``jax.test_util.check_grads`` and
   ``tf.test.compute_gradient``. Each is optional; absent ones are skipped
   with a note. Speed-up = their time per check / our time per example.
3. Whole runs, as a user starts them: the default ``gradcheck check`` of the
   bundled correct engine, and from start to the question's bug shrunk to its
   minimal case (``--ops matmul``), each with its peak memory.
4. How cost grows with operand size: matmul ``(4,s,s) @ (s,s)`` for s = 2..64.

The engine is the bundled NumPy engine (float64 unless ``--dtype float32``).
Times are CPU-bound and single-process; run on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gradcheck._timing import STAGES  # noqa: E402
from gradcheck.engine import load_engine  # noqa: E402
from gradcheck.ops import OPS  # noqa: E402
from gradcheck.oracles import vjp as tensorflow_vjp  # noqa: E402
from gradcheck.runner import VALUE_SETS, check_op  # noqa: E402

#: Issue 7's targets.
MAX_RATIO = 2.0
MIN_SPEEDUP = 10.0
DEFAULT_CHECK_SECONDS = 60.0
QUESTION_SECONDS = 10.0


@dataclass(frozen=True)
class Bench:
    label: str
    op: str
    shapes: tuple[tuple[int, ...], ...]
    params: dict[str, Any] = field(default_factory=dict)


CASES = (
    Bench("matmul (2,3,4)@(4,5)", "matmul", ((2, 3, 4), (4, 5))),
    Bench("matmul (4,16,16)@(16,16)", "matmul", ((4, 16, 16), (16, 16))),
    Bench("multiply (4,1,8)*(3,8)", "multiply", ((4, 1, 8), (3, 8))),
    Bench("sum (4,8,16) axis=1", "sum", ((4, 8, 16),), {"axis": 1}),
    Bench("softmax (8,16) axis=-1", "softmax", ((8, 16),), {"axis": -1}),
    # Issue 17: conv2d at the size of its drawn cases, and a small CNN layer's.
    Bench("conv2d (2,3,7,7)*(4,3,3,2) stride=2 padding=1", "conv2d", ((2, 3, 7, 7), (4, 3, 3, 2)),
          {"stride": 2, "padding": 1}),
    Bench("conv2d (4,8,16,16)*(8,8,3,3) padding=1 dilation=2", "conv2d", ((4, 8, 16, 16), (8, 8, 3, 3)),
          {"padding": 1, "dilation": 2}),
)

SIDES = (2, 4, 8, 16, 32, 64)


def _arrays(bench: Bench, rng: np.random.Generator) -> tuple[list[np.ndarray], np.ndarray]:
    spec = OPS[bench.op]
    inputs = [rng.uniform(-3, 3, size=shape) for shape in bench.shapes]
    output = spec.reference(*inputs, **bench.params)
    return inputs, rng.uniform(-2, 2, size=np.shape(output))


def _per_call(function: Callable[[], Any], repeats: int, budget: float = 20.0) -> float:
    """Return seconds per call of ``function`` (after one warm-up call), stopping after ``budget`` s."""
    function()
    started = time.perf_counter()
    calls = 0
    while calls < repeats:
        function()
        calls += 1
        if time.perf_counter() - started > budget:
            break
    return (time.perf_counter() - started) / calls


# --- 1. ours and bare -----------------------------------------------------------


def ours(engine: Any, bench: Bench, examples: int) -> tuple[float, dict[str, float]]:
    """Return our seconds per example and seconds per example per stage.

    An example is what the bare loop does once: one set of arrays run through
    the engine and compared. ``check_op`` checks ``VALUE_SETS`` of them per
    Hypothesis example (one draw of shapes and parameters), so it is run for
    ``examples / VALUE_SETS`` Hypothesis examples.
    """
    check_op(engine, bench.op, max_examples=5, shapes=bench.shapes, params=bench.params, seed=1)  # warm-up
    result = check_op(engine, bench.op, max_examples=max(1, examples // VALUE_SETS),
                      shapes=bench.shapes, params=bench.params)
    if result.status != "passed":
        raise SystemExit(f"the bundled engine failed {bench.label}: {result.failure and result.failure.message}")
    stages = {stage: seconds / result.cases for stage, seconds in result.stages.items()}
    return result.seconds / result.cases, stages


def bare(engine: Any, bench: Bench, repeats: int) -> tuple[float, float]:
    """Return seconds of (the engine's forward and backward, one TensorFlow VJP) per case.

    The loop a minimal hand-written check would be: for each case, the engine
    once and TensorFlow once, one after the other, on new arrays each time.
    """
    spec = OPS[bench.op]
    args, kwargs = spec.call_args({p.name: bench.params.get(p.name, p.default) for p in spec.params})
    rng = np.random.default_rng(0)
    cases = [_arrays(bench, rng) for _ in range(repeats + 1)]
    dtype = engine.dtype
    op = engine.ops[bench.op]

    def forward(tf: Any, *xs: Any) -> Any:
        return spec.tensorflow(tf, *xs, **bench.params)

    engine_seconds = tf_seconds = 0.0
    for index, (inputs, cotangent) in enumerate(cases):
        started = time.perf_counter()
        xs = [engine.variable(x.astype(dtype)) for x in inputs]
        y = op(*xs, *args, **kwargs)
        engine.value(y)
        engine.grad(y, xs, cotangent.astype(dtype))
        middle = time.perf_counter()
        tensorflow_vjp(forward, inputs, cotangent)
        if index:  # the first is a warm-up
            engine_seconds += middle - started
            tf_seconds += time.perf_counter() - middle
    return engine_seconds / repeats, tf_seconds / repeats


def hypothesis_floor(examples: int = 2000) -> float:
    """Return Hypothesis's own seconds per example: a test that draws one integer and does nothing."""
    from hypothesis import HealthCheck, Phase, given, seed, settings
    from hypothesis import strategies as st

    @seed(0)
    @settings(max_examples=examples, deadline=None, database=None, phases=(Phase.generate,),
              suppress_health_check=list(HealthCheck))
    @given(st.integers(0, 2**32))
    def nothing(number: int) -> None:
        pass

    nothing()
    started = time.perf_counter()
    nothing()
    return (time.perf_counter() - started) / examples


# --- 2. other checkers --------------------------------------------------------------


def _torch_function(bench: Bench) -> Callable[..., Any]:
    import torch

    if bench.op == "sum":
        return lambda x: torch.sum(x, dim=bench.params["axis"])
    if bench.op == "softmax":
        return lambda x: torch.softmax(x, dim=bench.params["axis"])
    if bench.op == "conv2d":
        return lambda x, w: torch.nn.functional.conv2d(x, w, **bench.params)
    return {"matmul": torch.matmul, "multiply": torch.mul}[bench.op]


def torch_gradcheck(bench: Bench, fast: bool, repeats: int) -> float | str:
    try:
        import torch
    except ImportError:
        return "torch not installed (pip install torch==2.13.0)"
    inputs, _ = _arrays(bench, np.random.default_rng(0))
    tensors = tuple(torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in inputs)
    function = _torch_function(bench)
    return _per_call(lambda: torch.autograd.gradcheck(function, tensors, fast_mode=fast), repeats)


def jax_check_grads(bench: Bench, repeats: int) -> float | str:
    try:
        import jax
        from jax.test_util import check_grads
    except ImportError:
        return "jax not installed (pip install jax jaxlib)"
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    function = {
        "matmul": jnp.matmul,
        "multiply": jnp.multiply,
        "sum": lambda x: jnp.sum(x, axis=bench.params.get("axis")),
        "softmax": lambda x: jax.nn.softmax(x, axis=bench.params.get("axis", -1)),
        "conv2d": lambda x, w: jax.lax.conv_general_dilated(
            x, w, (bench.params.get("stride", 1),) * 2, [(bench.params.get("padding", 0),) * 2] * 2,
            rhs_dilation=(bench.params.get("dilation", 1),) * 2,
        ),
    }[bench.op]
    inputs, _ = _arrays(bench, np.random.default_rng(0))
    arrays = tuple(jnp.asarray(x) for x in inputs)
    return _per_call(lambda: check_grads(function, arrays, order=1, modes=("rev",)), repeats)


def tf_compute_gradient(bench: Bench, repeats: int) -> float:
    from gradcheck._tf import tensorflow

    tf = tensorflow()
    spec = OPS[bench.op]
    inputs, _ = _arrays(bench, np.random.default_rng(0))
    tensors = [tf.constant(x, dtype=tf.float64) for x in inputs]

    def check() -> None:
        theoretical, numerical = tf.test.compute_gradient(
            lambda *xs: spec.tensorflow(tf, *xs, **bench.params), tensors
        )
        for t, n in zip(theoretical, numerical):
            np.testing.assert_allclose(t, n, rtol=1e-5, atol=1e-5)

    return _per_call(check, repeats)


# --- 3. whole runs ---------------------------------------------------------------------


# The child reports its own peak resident memory: VmHWM belongs to the process
# image after exec, where ru_maxrss would still count the (large) benchmark
# process it was forked from.
_PEAK_REPORTER = """
import atexit, sys
def report():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            sys.stderr.write("PEAK_KB " + line.split()[1] + "\\n")
atexit.register(report)
from gradcheck.cli import main
sys.exit(main(sys.argv[1:]))
"""


def whole_run(arguments: list[str]) -> tuple[float, float, int]:
    """Return (wall seconds, peak RSS in MB, exit status) of ``gradcheck ARGUMENTS`` in a fresh process."""
    started = time.perf_counter()
    finished = subprocess.run(
        [sys.executable, "-c", _PEAK_REPORTER, *arguments],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )
    seconds = time.perf_counter() - started
    peaks = [line.split()[1] for line in finished.stderr.splitlines() if line.startswith("PEAK_KB ")]
    megabytes = int(peaks[-1]) / 1024 if peaks else float("nan")
    return seconds, megabytes, finished.returncode


# --- report ------------------------------------------------------------------------------


def _ms(seconds: float | str | None) -> str:
    if seconds is None:
        return "–"
    if isinstance(seconds, str):
        return "skipped"
    return f"{seconds * 1e3:.2f}"


def _ratio(value: float | str | None, base: float) -> str:
    if not isinstance(value, float):
        return "–"
    return f"{value / base:.1f}x"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer examples and repetitions")
    parser.add_argument("--dtype", default="float64", choices=("float32", "float64"))
    parser.add_argument("--examples", type=int, default=None, help="examples per fixed case (default 300)")
    parser.add_argument("--skip", default="", help="comma list of sections to skip: others,runs,sizes")
    parser.add_argument("--ops", default="", help="comma list of ops: only the fixed cases of these (e.g. conv2d)")
    parser.add_argument("--json", type=Path, help="also write the measurements as JSON here")
    options = parser.parse_args(argv)
    examples = options.examples or (60 if options.quick else 300)
    repeats = 20 if options.quick else 100
    slow_repeats = 3 if options.quick else 10
    skip = set(filter(None, options.skip.split(",")))
    chosen = set(filter(None, options.ops.split(",")))
    cases = tuple(bench for bench in CASES if not chosen or bench.op in chosen)

    from gradcheck.examples.numpy_engine import engine32, engine64

    engine = load_engine(engine64 if options.dtype == "float64" else engine32)
    data: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "dtype": options.dtype,
        "examples": examples,
    }
    print(f"# gradcheck speed, {data['date']}, {data['machine']}, engine dtype {options.dtype}\n")

    # 1.
    rows, per_case = [], []
    for bench in cases:
        our_seconds, stages = ours(engine, bench, examples)
        engine_seconds, tf_seconds = bare(engine, bench, repeats)
        bare_seconds = engine_seconds + tf_seconds
        ratio = our_seconds / bare_seconds
        per_case.append({"case": bench.label, "ours": our_seconds, "stages": stages,
                         "bare_engine": engine_seconds, "bare_tensorflow": tf_seconds, "ratio": ratio})
        rows.append([bench.label, _ms(our_seconds)]
                    + [_ms(stages.get(stage, 0.0)) for stage in STAGES if stage != "blame"]
                    + [_ms(engine_seconds), _ms(tf_seconds), _ms(bare_seconds),
                       f"**{ratio:.2f}**" + ("" if ratio <= MAX_RATIO else " ✗")])
    data["per_example"] = per_case
    print(f"## 1. Per example, ms ({examples} examples per case; bare = engine fwd+bwd + one TF VJP)\n")
    print(_table(["case", "ours"] + [s for s in STAGES if s != "blame"]
                 + ["bare engine", "bare TF VJP", "bare", "ours/bare"], rows))
    floor = hypothesis_floor()
    data["hypothesis_floor"] = floor
    print(f"\nTarget: ours/bare <= {MAX_RATIO}. For scale: Hypothesis alone (a test that draws one "
          f"integer and does nothing) costs {_ms(floor)} ms per example.\n")

    # 1b. The same for an engine built on TensorFlow (the question's tape, fixed), matmul only.
    from gradcheck.examples import question_tape_fixed

    tape = load_engine(question_tape_fixed)
    rows, tape_cases = [], []
    for bench in cases:
        if bench.op != "matmul":
            continue
        our_seconds, stages = ours(tape, bench, examples)
        engine_seconds, tf_seconds = bare(tape, bench, repeats)
        ratio = our_seconds / (engine_seconds + tf_seconds)
        tape_cases.append({"case": bench.label, "ours": our_seconds, "stages": stages,
                           "bare_engine": engine_seconds, "bare_tensorflow": tf_seconds, "ratio": ratio})
        rows.append([bench.label, _ms(our_seconds), _ms(engine_seconds), _ms(tf_seconds),
                     _ms(engine_seconds + tf_seconds), f"**{ratio:.2f}**"])
    data["per_example_tape"] = tape_cases
    print("## 1b. Per example, ms, engine on TensorFlow (the question's tape with the accepted fix)\n")
    print(_table(["case", "ours", "bare engine", "bare TF VJP", "bare", "ours/bare"], rows))
    print()

    # 2.
    if "others" not in skip:
        rows, others = [], []
        for bench, measured in zip(cases, per_case):
            our_seconds = measured["ours"]
            found = {
                "torch gradcheck": torch_gradcheck(bench, fast=False, repeats=slow_repeats),
                "torch fast_mode": torch_gradcheck(bench, fast=True, repeats=repeats),
                "jax check_grads": jax_check_grads(bench, repeats=repeats),
                "tf compute_gradient": tf_compute_gradient(bench, repeats=slow_repeats),
            }
            others.append({"case": bench.label, **{k: v for k, v in found.items()}})
            rows.append([bench.label, _ms(our_seconds)]
                        + [f"{_ms(v)} ({_ratio(v, our_seconds)})" for v in found.values()])
        notes = sorted({v for entry in others for v in entry.values() if isinstance(v, str) and "install" in v})
        data["others"] = others
        print("## 2. Other checkers, ms per check (speed-up of ours per example in brackets)\n")
        print(_table(["case", "ours", "torch gradcheck", "torch fast_mode", "jax check_grads",
                      "tf compute_gradient"], rows))
        for note in notes:
            print(f"\nSkipped: {note}.")
        print(f"\nTarget: >= {MIN_SPEEDUP:.0f}x faster than torch's full gradcheck and tf.test.compute_gradient "
              f"at (4,16,16)@(16,16).\n")

    # 3.
    if "runs" not in skip:
        runs = {
            "default check, bundled correct engine (27 ops x 100 examples + 200 programs)": (
                ["check", "gradcheck.examples.numpy_engine", "--report-dir", "/tmp/gradcheck-bench"],
                DEFAULT_CHECK_SECONDS, 0),
            "question's tape to its minimal matmul case (incl. TensorFlow import)": (
                ["check", "gradcheck/examples/question_tape.py", "--ops", "matmul", "--no-programs",
                 "--report-dir", "/tmp/gradcheck-bench"], QUESTION_SECONDS, 1),
        }
        rows, measured_runs = [], {}
        for label, (arguments, target, expected_status) in runs.items():
            seconds, megabytes, status = whole_run(arguments)
            if status != expected_status:
                raise SystemExit(f"{label}: exit status {status}, expected {expected_status}")
            measured_runs[label] = {"seconds": seconds, "peak_mb": megabytes}
            rows.append([label, f"{seconds:.1f}", f"{target:.0f}", f"{megabytes:.0f}"])
        data["runs"] = measured_runs
        print("## 3. Whole runs (fresh process, wall clock)\n")
        print(_table(["run", "seconds", "target s", "peak memory MB"], rows))
        print()

    # 4.
    if "sizes" not in skip:
        rows, sizes = [], []
        for side in SIDES:
            bench = Bench(f"(4,{side},{side})@({side},{side})", "matmul", ((4, side, side), (side, side)))
            our_seconds, _ = ours(engine, bench, max(20, examples // 5))
            engine_seconds, tf_seconds = bare(engine, bench, repeats)
            full = torch_gradcheck(bench, fast=False, repeats=1) if side <= 32 else "skipped"
            sizes.append({"side": side, "ours": our_seconds, "bare": engine_seconds + tf_seconds,
                          "torch gradcheck": full})
            rows.append([bench.label, _ms(our_seconds), _ms(engine_seconds + tf_seconds),
                         f"{our_seconds / (engine_seconds + tf_seconds):.2f}",
                         _ms(full) if not isinstance(full, str) else "–"])
        data["sizes"] = sizes
        print("## 4. Cost against operand size: matmul, ms per example\n")
        print(_table(["case", "ours", "bare", "ours/bare", "torch gradcheck"], rows))
        print()

    if options.json:
        options.json.write_text(json.dumps(data, indent=2, default=str))
        print(f"Wrote {options.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
