"""Second order (reverse over reverse) and forward mode: checks derived from a first-order case.

A first-order case (``Case`` or ``ProgramCase``) checks ``grad(y, xs, u)``,
the VJP. Two more computations are derived from it, each with its own random
directions (drawn from the case's numbers, so a replay sees the same):

* **order 2**: with ``grad(y, xs, u, create_graph=True)`` the engine returns
  its gradients ``g_j`` as engine tensors; ``grad(g_j, xs, v_j)`` summed over
  ``j`` is the VJP of the VJP along ``v``, a Hessian-vector product. The
  reference is TensorFlow's nested tapes, cross-checked by central finite
  differences of TensorFlow's first-order VJP along random directions.
* **forward mode**: ``jvp(y, xs, t)`` is the directional derivative of ``y``
  along the tangents ``t``. The reference is the derivative of TensorFlow's
  VJP with respect to its cotangent (the transpose of a transpose), cross-
  checked by central differences of the NumPy forward along ``t``; with
  ``grad``, the engine's own ``<u, J t>`` and ``<J^T u, t>`` must agree too.

Each is its own check (``tanh (order 2)``, ``tanh (forward)``) with its own
minimal case: the derived computation delegates everything else (shapes,
shrinking, reports) to the case it was derived from.
"""

from __future__ import annotations

import dataclasses
import math
import re
import zlib
from dataclasses import dataclass
from typing import Any, Sequence, cast

import numpy as np

from gradcheck._modes import FORWARD, MODES, ORDER2
from gradcheck.case import EngineCall, largest_magnitude
from gradcheck.oracles import DerivedReference

__all__ = [
    "FORWARD",
    "MODES",
    "ORDER2",
    "SECOND_ORDER_ZERO",
    "Derived",
    "base_check",
    "check_name",
    "derive",
    "has_second_order",
    "judge_derived",
    "mode_of_check",
    "not_differentiable",
    "reference",
]


#: Ops whose second derivative is zero wherever gradcheck draws them (linear, or
#: piecewise linear away from its kinks): their order-2 check could only find
#: zeros, so they get none. A backward of theirs that is not differentiable
#: still shows at order 2 in programs, where a nonlinear step feeds them.
SECOND_ORDER_ZERO = frozenset({
    "add", "subtract", "negative", "matrix_transpose", "permute_dims", "reshape", "broadcast_to",
    "sum", "mean", "max", "relu", "abs", "maximum", "leaky_relu", "clip", "cumulative_sum",
    "take", "getitem", "where", "flip", "pad", "concat", "stack", "max_pool2d", "avg_pool2d",
})

#: How many times the rounding of TensorFlow's own float32 second derivative a float32
#: engine's may reach before it is a mismatch (docs/tolerances.md).
ROUNDING_MULTIPLE = 8.0

_CHECK_NAME = re.compile(r"^(?P<base>.+) \((?P<mode>order 2|forward)\)$")


def check_name(base: str, mode: str) -> str:
    """Return the name of ``base``'s check in ``mode``: ``tanh (order 2)``, ``programs (forward)``."""
    return f"{base} ({mode})"


def mode_of_check(check: str) -> str | None:
    """Return the mode a check's name says (``order 2``, ``forward``), or None for a first-order check."""
    match = _CHECK_NAME.match(check)
    return match.group("mode") if match else None


def base_check(check: str) -> str:
    """Return the first-order check a check's name is derived from (itself when it is one)."""
    match = _CHECK_NAME.match(check)
    return match.group("base") if match else check


def has_second_order(op: str) -> bool:
    """Return whether ``op`` gets an order-2 check: its second derivative is not zero everywhere."""
    return op not in SECOND_ORDER_ZERO


def _directions(case: Any, salt: int) -> tuple[np.ndarray, ...]:
    """Return one direction per input of ``case``, drawn from its numbers and exactly representable in its dtype."""
    digest = zlib.crc32(np.asarray(case.cotangent).tobytes(), salt)
    for x in case.inputs:
        digest = zlib.crc32(np.asarray(x).tobytes(), digest)
    rng = np.random.default_rng(digest)
    dtype = np.dtype(case.dtype)
    # Multiples of 1/8 in [-1, 1], never 0: exact in every dtype, and a zero direction checks nothing.
    return tuple(
        (rng.integers(1, 9, size=np.shape(x)) * rng.choice([-1.0, 1.0], size=np.shape(x)) / 8.0)
        .astype(dtype).astype(np.float64)
        for x in case.inputs
    )


@dataclass(frozen=True)
class Derived:
    """A first-order case checked at order 2 or in forward mode, with its random directions.

    Everything not about the mode (names, inputs, shapes, a program's steps)
    is the base case's: reports, shrinking and reproducers read it from there.
    """

    base: Any
    mode: str
    directions: tuple[np.ndarray, ...]

    def __getattr__(self, name: str) -> Any:
        # A program's steps, code and output are the base program's.
        if name.startswith("__") or name in ("base", "mode", "directions"):
            raise AttributeError(name)
        return getattr(self.base, name)

    @property
    def kind(self) -> str:
        return str(self.base.kind)

    @property
    def op(self) -> str:
        return str(self.base.op)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.base.names)

    @property
    def inputs(self) -> tuple[np.ndarray, ...]:
        return tuple(self.base.inputs)

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.base.params)

    @property
    def cotangent(self) -> np.ndarray:
        return np.asarray(self.base.cotangent)

    @property
    def dtype(self) -> str:
        return str(self.base.dtype)

    @property
    def shapes(self) -> tuple[tuple[int, ...], ...]:
        return tuple(self.base.shapes)

    def describe(self) -> str:
        return f"{self.base.describe()} ({self.mode})"

    def reference(self, *inputs: np.ndarray) -> np.ndarray:
        return np.asarray(self.base.reference(*inputs))

    def tensorflow(self, tf: Any, *tensors: Any) -> Any:
        return self.base.tensorflow(tf, *tensors)

    def apply(self, engine: Any, xs: list[Any], call: EngineCall) -> Any:
        return self.base.apply(engine, xs, call)

    def terms(self, output_shape: tuple[int, ...], wrt: int | None = None) -> int:
        """Return the terms an entry sums: a derived gradient sums the first order's twice over."""
        count = len(self.base.inputs)
        if wrt is None:
            return int(self.base.terms(output_shape))
        inner = int(self.base.terms(output_shape, wrt=wrt % count)) if count else 1
        return inner if self.mode == FORWARD else inner * inner

    def magnitude(self) -> float:
        return max(float(self.base.magnitude()), largest_magnitude(self.directions))

    def conditioning(self) -> float:
        return float(self.base.conditioning())

    def judge(self, outcome: Any, reference: Any, tolerance: Any) -> Any:
        """Return the first thing wrong with the engine's answer (``judge_derived``), or None."""
        return judge_derived(self, outcome, reference, tolerance)

    def evaluate(self, engine: Any, labels: Any, xs: list[Any], call: EngineCall,
                 cotangent: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Run the derived computation on ``engine``: the forward value, then what the mode checks.

        Order 2 returns the first-order gradients made with
        ``create_graph=True`` followed by the VJP of the VJP along the
        directions; forward mode returns the JVP, followed by the gradients of
        ``grad`` (for the consistency of the two) when it takes a cotangent.
        """
        from gradcheck.execution import CallFailed, as_array, as_list

        dtype = np.dtype(engine.dtype)
        y = self.base.apply(engine, xs, call)
        forward = call(labels.value, lambda: as_array(engine.value(y), "the forward value"))
        if forward.shape != cotangent.shape:
            return forward, []
        if self.mode == FORWARD:
            tangents = [np.array(t, dtype=dtype) for t in self.directions]
            jvp = call("jvp()", lambda: as_array(engine.jvp(y, xs, tangents), "the JVP"))
            if not engine.grad_takes_cotangent:
                return forward, [jvp]
            grads = call(labels.grad, lambda: [as_array(g, "a gradient") for g in as_list(engine.grad(y, xs, cotangent))])
            return forward, [jvp, *grads]
        made = call("grad(..., create_graph=True)", lambda: as_list(engine.grad(y, xs, cotangent, create_graph=True)))
        firsts = [call("value() of a gradient made with create_graph=True",
                       lambda g=g: as_array(engine.value(g), "a gradient made with create_graph=True")) for g in made]
        if len(firsts) != len(xs) or any(f.shape != x.shape for f, x in zip(firsts, self.inputs)):
            return forward, firsts  # the verdict names the count or the shape
        seconds = [np.zeros(np.shape(x), dtype=np.float64) for x in self.inputs]
        for g, v in zip(made, self.directions):
            direction = np.array(v, dtype=dtype)
            again = call("grad() of a gradient", lambda g=g, d=direction: [
                as_array(s, "a second-order gradient") for s in as_list(engine.grad(g, xs, d))
            ])
            if len(again) != len(xs) or any(s.shape != x.shape for s, x in zip(again, self.inputs)):
                raise CallFailed("shape", (
                    f"grad() of a gradient made with create_graph=True returned {len(again)} array(s) of shapes "
                    f"{', '.join(str(s.shape) for s in again) or 'none'} for {len(xs)} input(s): it must return "
                    "one per x, shaped like it, zeros for an x the gradient does not depend on "
                    "(docs/contract.md, section 1)"))
            for total, part in zip(seconds, again):
                total += part.astype(np.float64)
        return forward, [*firsts, *(s.astype(dtype) for s in seconds)]


def derive(case: Any, mode: str) -> Derived:
    """Return ``case`` checked in ``mode``, with its directions (order 2) or tangents (forward)."""
    return Derived(case, mode, _directions(case, 2 if mode == ORDER2 else 3))


# --- The reference ------------------------------------------------------------


def reference(case: Derived, clock: Any = None) -> DerivedReference:
    """Return the reference of ``case``: TensorFlow's nested tapes, cross-checked by finite differences
    (``gradcheck.oracles``; an example's value sets are answered together by ``references_for``)."""
    from gradcheck.oracles import derived_references

    return derived_references([case], clock)[0]


# --- The verdict --------------------------------------------------------------


def judge_derived(case: Derived, outcome: Any, reference: DerivedReference, tolerance: Any) -> Any:
    """Return the first thing wrong with the engine's answer to a derived case, or None.

    The forward value first (as at order 1), then order 2's first-order
    gradients made with ``create_graph=True`` and its second-order ones, or
    forward mode's JVP and its agreement with the engine's own VJP.
    """
    from gradcheck.verdict import compare, failure_for, judged_forward

    failure, tolerance = judged_forward(case, outcome, reference.forward, tolerance)
    if failure is not None:
        return failure
    forward, grads = outcome.forward, outcome.grads
    if case.mode == FORWARD:
        return _judge_forward(case, outcome, reference, tolerance)
    count = len(case.inputs)
    firsts, seconds = grads[:count], grads[count:]
    if len(firsts) != count:
        return failure_for(case, "shape", (
            f"grad(..., create_graph=True) returned {len(firsts)} gradient(s) for {count} input(s)"))
    for index, (name, x, made, expected) in enumerate(zip(case.names, case.inputs, firsts, reference.first)):
        if made.shape != x.shape:
            return failure_for(
                case, "shape", f"the gradient w.r.t. {name} made with create_graph=True has shape {made.shape}, "
                f"expected {x.shape} (the shape of {name})", wrt=name, expected=expected, actual=made.astype(np.float64),
            )
        failure = compare(case, made, expected, tolerance, int(case.base.terms(forward.shape, wrt=index)),
                          f"the gradient w.r.t. {name} made with create_graph=True", name)
        if failure is not None:
            return failure
    for index, (name, second, expected) in enumerate(zip(case.names, seconds, reference.grads[count:])):
        # In float32, never tighter than a multiple of what float32 itself rounds to on this case
        # (a saturated tanh's 1 - y**2 keeps few digits): docs/tolerances.md.
        slack = ROUNDING_MULTIPLE * reference.rounding[index] if reference.rounding else None
        failure = compare(case, second, expected, tolerance, case.terms(forward.shape, wrt=index),
                          f"the second derivative w.r.t. {name} (the VJP of the VJP along the case's directions)",
                          name, slack=slack)
        if failure is not None:
            return failure
    return None


def _judge_forward(case: Derived, outcome: Any, reference: DerivedReference, tolerance: Any) -> Any:
    from gradcheck.verdict import compare, failure_for

    forward, (jvp, *grads) = outcome.forward, outcome.grads
    expected = reference.grads[0]
    if jvp.shape != expected.shape:
        return failure_for(case, "shape", f"jvp() returned shape {jvp.shape}, expected {expected.shape} "
                           "(the shape of the forward value)", expected=expected, actual=jvp.astype(np.float64))
    failure = compare(case, jvp, expected, tolerance, case.terms(forward.shape),
                      "the JVP (forward-mode derivative along the case's tangents)", None, category="mismatch")
    if failure is not None:
        return dataclasses.replace(failure, diagnosis=_jvp_diagnosis(case, jvp, expected, grads, reference, tolerance))
    if len(grads) != len(case.inputs) or any(g.shape != x.shape for g, x in zip(grads, case.inputs)):
        return None  # grad's own answer is judged by the first-order check
    u = case.cotangent
    along_u = float(np.sum(u * jvp.astype(np.float64)))
    through_grad = float(sum(np.sum(g.astype(np.float64) * t) for g, t in zip(grads, case.directions)))
    scale = float(np.sum(np.abs(u * jvp))) + float(sum(np.sum(np.abs(g * t)) for g, t in zip(grads, case.directions)))
    terms = max(int(case.terms(forward.shape)), 1) * max(1, int(np.size(u)))
    bound = tolerance.rtol * math.sqrt(terms) * (scale + tolerance.floor)
    if abs(along_u - through_grad) <= bound:
        return None
    return failure_for(
        case, "mismatch",
        f"jvp() and grad() disagree: <u, J t> is {along_u:.6g} from jvp() and {through_grad:.6g} from grad() "
        f"(<J^T u, t>), a difference of {abs(along_u - through_grad):.3g} beyond {bound:.3g}",
    )


def _jvp_diagnosis(case: Derived, jvp: np.ndarray, expected: np.ndarray, grads: Sequence[np.ndarray],
                   reference: DerivedReference, tolerance: Any) -> str | None:
    """Name what is wrong with a JVP that differs from the reference, from the case's own evidence."""
    from gradcheck.verdict import compare

    actual = jvp.astype(np.float64)
    largest = float(np.max(np.abs(expected), initial=0.0))
    where = f"{case.op}'s forward-mode rule" if case.kind == "op" else "a forward-mode rule in this program"
    if largest > 0 and float(np.max(np.abs(actual), initial=0.0)) <= 1e-6 * largest:
        return (f"jvp() returned zeros where the reference's JVP is not: {where} does not carry the tangents "
                "of its inputs to its output")
    if largest > 0 and np.allclose(actual, -expected, rtol=1e-3, atol=1e-6 * largest):
        return f"the JVP has the wrong sign everywhere: {where} negates its result"
    right_vjp = len(grads) == len(reference.first) and all(
        g.shape == e.shape and compare(case, g, e, tolerance, 1, "", "x") is None for g, e in zip(grads, reference.first)
    )
    if right_vjp and grads:
        return (f"grad() is right on this very case and jvp() is not: {where} (the JVP) is wrong, not the "
                "derivative it is meant to compute; compare it with the VJP rule of the same op")
    return None


def not_differentiable(case: Any, failure: Any) -> str | None:
    """Name the classic cause of an order-2 failure: a backward that is not differentiable, or None.

    When the engine's second derivative is zero (to rounding) where the
    reference's is not, its gradient has no graph behind it: the backward was
    built from values the engine does not differentiate (detached, or NumPy
    copies wrapped as new leaves).
    """
    if getattr(case, "mode", None) != ORDER2 or failure.category != "mismatch" or failure.actual is None:
        return None
    if failure.expected is None or "second derivative" not in failure.message:
        return None
    actual, expected = np.abs(np.asarray(failure.actual)), np.abs(np.asarray(failure.expected))
    largest = float(np.max(expected, initial=0.0))
    if largest == 0.0 or float(np.max(actual, initial=0.0)) > 1e-6 * largest:
        return None
    where = f"{case.op}'s backward" if case.kind == "op" else "a backward rule in this program"
    return (
        f"the second derivative w.r.t. {failure.wrt} is zero where the reference's is not: {where} is built "
        "from values the engine does not differentiate (a saved tensor detached, or converted to NumPy and "
        "wrapped again), so its gradient has no graph behind it; build the backward from the engine's own "
        "differentiable ops on the saved inputs or outputs"
    )


def confirmed_not_differentiable(engine: Any, case: Derived, failure: Any, tolerance: Any,
                                 timeout: float | None) -> str | None:
    """Return ``not_differentiable``'s diagnosis of an order-2 failure once a second case bears it out.

    The minimal case can sit where two bugs look alike: at ``a = b = 0`` a
    create_graph path computing ``out @ b.T`` for ``g @ b.T`` gives the right
    first-order values and a zero second derivative, as a detached backward
    would. The case is shifted by an eighth of its directions (inside every
    domain: kinks and poles stay at least 0.25 away) and judged again: the
    diagnosis stands when the second derivative is zero there too; when the
    first-order values made with ``create_graph=True`` are wrong there, that
    is what is named instead.
    """
    guess = not_differentiable(case, failure)
    if guess is None:
        return None
    from gradcheck.verdict import judge

    base = case.base
    shifted_inputs = tuple(np.asarray(x + d / 8.0).astype(base.dtype).astype(np.float64)
                           for x, d in zip(base.inputs, case.directions))
    shifted = Derived(dataclasses.replace(base, inputs=shifted_inputs), case.mode, case.directions)
    expected = reference(shifted)
    if not expected.agrees:
        return guess  # nothing to weigh it against
    again = judge(shifted, engine.run(shifted, timeout, repeat=False), cast(Any, expected), tolerance)
    if again is None:
        return None  # right there: the minimal case alone says too little to name a cause
    if again.category == "mismatch" and "made with create_graph=True" in again.message:
        where = f"{case.op}'s backward" if case.kind == "op" else "a backward rule in this program"
        return (
            f"grad(..., create_graph=True) returns other first-order values than a correct gradient on the same "
            f"case moved by an eighth of its directions ({again.message}): {where} computes its gradient with "
            "another formula when it builds a graph; make both paths one formula"
        )
    return guess if not_differentiable(shifted, again) is not None else None


# --- Programs: which step's backward is to blame --------------------------------


def blame_derived(engine: Any, program: Derived, tolerance: Any, timeout: float | None) -> list[tuple[Any, Any]]:
    """Return the steps of a derived program that fail on their own in its mode, with how they fail.

    Each step is replayed alone, derived in the program's mode (at order 2
    only the steps whose second derivative is not zero: the others could only
    give zeros). When none fails alone at order 2, a linear step whose
    backward is not differentiable hides in its own check; it shows once a
    nonlinear function of its output follows it, so each one is replayed as
    ``t = step(...)`` then ``y = multiply(t, t)`` (when the engine has
    ``multiply`` and ``multiply (order 2)`` is right).
    """
    from gradcheck.verdict import judge

    culprits: list[tuple[Any, Any]] = []
    linear: list[tuple[Any, Any]] = []
    for step, case in program.base.step_cases():
        if program.mode == ORDER2 and not has_second_order(step.op):
            linear.append((step, case))
            continue
        failure = _judged_alone(engine, derive(case, program.mode), tolerance, timeout, judge)
        if failure is not None:
            culprits.append((step, failure))
    if culprits or program.mode != ORDER2 or not engine.supports("multiply"):
        return culprits
    for step, case in linear:
        probe = _squared(step, case)
        if probe is None:
            continue
        failure = _judged_alone(engine, derive(probe, ORDER2), tolerance, timeout, judge)
        if failure is not None:
            culprits.append((step, failure))
    return culprits


def _judged_alone(engine: Any, case: Derived, tolerance: Any, timeout: float | None, judge: Any) -> Any:
    expected = reference(case)
    if not expected.agrees:
        return None  # the oracles cannot judge this step; blame nobody for it
    return judge(case, engine.run(case, timeout, repeat=False), expected, tolerance)


def _squared(step: Any, case: Any) -> Any:
    """Return the program ``t = step(operands); y = multiply(t, t)`` on the step's own operands, or None."""
    from gradcheck.ops import OPS
    from gradcheck.program import ProgramCase, Step

    spec = OPS[step.op]
    if spec.listed or spec.variadic or any(param.before for param in spec.params):
        return None  # operands that are not one name each
    names = tuple(case.names)
    try:
        output = np.asarray(spec.reference(*case.inputs, **case.params))
    except Exception:  # noqa: BLE001 - a step the reference cannot replay alone is not probed
        return None
    cotangent = _directions(case, 5)[0] if output.shape == np.shape(case.inputs[0]) else np.ones(output.shape)
    return ProgramCase(
        names, tuple(case.inputs),
        (Step("t", step.op, names, dict(case.params)), Step("y", "multiply", ("t", "t"), {})),
        np.asarray(cotangent, dtype=np.float64), case.dtype,
    )


def blamed(program: Any, culprits: Sequence[tuple[Any, Any]]) -> str | None:
    """Name the step of a failing derived program to blame, or say that none fails alone."""
    if not culprits:
        return (
            f"every step passes alone in {program.mode}, so the engine's {program.mode} pass over the whole "
            "program is at fault (how it orders or accumulates the derivatives of shared values)"
        )
    step, failure = culprits[0]
    why = failure.diagnosis or not_differentiable(_AsCase(step.op, program.mode), failure) or failure.message
    alone = " (followed by multiply(t, t), since its own second derivative is zero)" if not has_second_order(step.op) \
        and program.mode == ORDER2 else ""
    return f"step `{step.out} = {step.op}(...)` fails alone in {program.mode}{alone}: {why}"


@dataclass(frozen=True)
class _AsCase:
    op: str
    mode: str
    kind: str = "op"
