"""Programs: small random expression DAGs over an engine's ops.

A program is built one step at a time. Each step draws an op and its operands
from the values made so far, most recent first (so programs are chains that
shrink toward one op), sometimes an older one (skip connections) or the same
one twice (reused values), and sometimes a fresh input. Every value is
computed in float64 as the program grows, so an op is only applied where its
domain holds *on the values it actually gets* (log of a positive value, relu
away from its kink, max without ties) and magnitudes stay moderate. When an op
cannot be applied the next op is tried: shapes and domains are consistent by
construction, nothing is rejected after the fact.

Where the engine has a convolution and a matmul or a loss, one program in eight
is instead the shape of a course's small CNN: conv → activation → pool →
reshape (N, -1) → matmul (+ bias) → cross_entropy, each stage the engine has.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.extra import numpy as hnp

from gradcheck import ops
from gradcheck.program import ProgramCase, Step
from gradcheck.strategies._cases import PARAM_RULES, declared_params
from gradcheck.strategies._geometry import conv_shapes, conv_weight_shapes, pool_shapes
from gradcheck.strategies._validation import check_dtype, check_int
from gradcheck.strategies._values import cotangents, values

__all__ = ["PROGRAM_OPS", "programs"]

#: Largest magnitude any value of a program may reach: beyond it exp of a sum
#: of exps overflows float32 and rounding dominates the comparison.
MAGNITUDE_CAP = 30.0

#: Highest rank a program's value may reach (broadcast_to and reshape add
#: axes); TensorFlow's BroadcastTo supports only a few more.
MAX_RANK = 5

#: Shape rules that take one operand, and the rank that operand needs.
_MIN_RANK = {"elementwise": 0, "reducible": 0, "nonscalar": 1, "permutable": 1, "matrix": 2, "spread": 1}

#: Every op programs can use (all of docs/contract.md, section 1).
PROGRAM_OPS = ops.OP_NAMES


class _Builder:
    """The program under construction: its inputs, steps and float64 values."""

    def __init__(self, draw: st.DrawFn, dtype: str, max_dims: int, max_side: int,
                 supported: Mapping[str, Mapping[str, Sequence[Any]]] | None = None) -> None:
        self.draw, self.dtype = draw, dtype
        self.supported = supported or {}
        self.max_dims, self.max_side = max_dims, max_side
        self.width = 32 if dtype == "float32" else 64
        self.inputs: list[tuple[str, np.ndarray]] = []
        self.steps: list[Step] = []
        self.values: dict[str, np.ndarray] = {}
        self.producer: dict[str, Step] = {}

    # --- values ---------------------------------------------------------------

    def new_input(self, shape: tuple[int, ...], domain: ops.Domain = ops.FREE) -> str:
        name = f"x{len(self.inputs)}"
        array = self.draw(values(shape, domain=domain, dtype=self.dtype))
        self.inputs.append((name, array))
        self.values[name] = array
        return name

    def pick(self, accept: Callable[[np.ndarray], bool] = lambda value: True) -> str | None:
        """Return a value satisfying ``accept``, the most recent one unless drawn otherwise."""
        candidates = [name for name, value in reversed(self.values.items()) if accept(value)]
        if not candidates:
            return None
        # Mostly the newest value, so the program stays one connected chain
        # that the second operands of binary ops then branch off; now and
        # then an older one.
        if len(candidates) == 1 or not (self.draw(st.booleans()) and self.draw(st.booleans())):
            return candidates[0]
        return candidates[self.draw(st.integers(1, len(candidates) - 1))]

    def fresh_shape(self, min_rank: int) -> tuple[int, ...]:
        return self.draw(hnp.array_shapes(
            min_dims=min_rank, max_dims=max(min_rank, self.max_dims), min_side=1, max_side=self.max_side,
        ))

    def operand(self, min_rank: int, domain: ops.Domain) -> str:
        """Return an existing value usable as an operand, or a fresh input in ``domain``."""
        name = self.pick(lambda value: value.ndim >= min_rank)
        if name is None:
            return self.new_input(self.fresh_shape(min_rank), domain)
        if not domain.admits(self.values[name]):
            # Same shape, so it still fits where that value would have gone.
            return self.new_input(self.values[name].shape, domain)
        return name

    def reuse_or_new(self, fits: Callable[[np.ndarray], bool], shape: Callable[[], tuple[int, ...]],
                     domain: ops.Domain, beside: str) -> str:
        """Return an existing value that ``fits`` (usually) or a new input of a drawn shape.

        ``beside`` is the other operand. First in line (what Hypothesis draws
        most and shrinks to) are the values ``beside`` was computed from: a
        skip connection, so one value reaches the output along paths of
        different lengths (a diamond). Then ``beside`` itself (a value used
        twice), then any other value.
        """
        if not self.draw(st.booleans()):
            producer = self.producer.get(beside)
            preferred = list(producer.args) if producer else []
            ordered = dict.fromkeys(preferred + [beside] + list(reversed(self.values)))
            candidates = [name for name in ordered if fits(self.values[name]) and domain.admits(self.values[name])]
            if candidates:
                return candidates[self.draw(st.integers(0, len(candidates) - 1))]
        return self.new_input(shape(), domain)

    def finish(self, cotangent: np.ndarray) -> ProgramCase:
        """Return the program without dead code, names renumbered (x0, x1, ...; t0, t1, ...).

        Steps the output does not depend on, and inputs no remaining step
        uses, cannot change the output's gradient; they only make the program
        longer to read.
        """
        live = {self.steps[-1].out}
        for step in reversed(self.steps):
            if step.out in live:
                live.update(step.args)
        used = [step for step in self.steps if step.out in live]
        kept = [(name, array) for name, array in self.inputs if name in live]
        renamed = {name: f"x{index}" for index, (name, _) in enumerate(kept)}
        renamed.update({step.out: f"t{index}" for index, step in enumerate(used)})
        steps = tuple(
            Step(renamed[step.out], step.op, tuple(renamed[arg] for arg in step.args), step.params)
            for step in used
        )
        return ProgramCase(
            tuple(renamed[name] for name, _ in kept),
            tuple(array for _, array in kept),
            steps,
            cotangent,
            self.dtype,
        )

    # --- steps ----------------------------------------------------------------

    def add_step(self, op: str) -> bool:
        """Append one step of ``op``; return False (appending nothing) if it cannot apply here."""
        spec = ops.OPS[op]
        planned = _PLANNERS.get(spec.shapes, _plan_single)(self, spec)
        if planned is None:
            return False
        args, params = planned
        return self.apply(spec, args, params)

    def apply(self, spec: ops.OpSpec, args: Sequence[str], params: dict[str, Any]) -> bool:
        """Append the step ``spec(*args, **params)``; False (appending nothing) where its value is unusable."""
        try:
            with np.errstate(all="ignore"):
                result = np.asarray(spec.reference(*[self.values[a] for a in args], **params), dtype=np.float64)
        except ValueError:
            return False
        if (
            result.ndim > MAX_RANK
            or not np.all(np.isfinite(result))
            or np.max(np.abs(result), initial=0.0) > MAGNITUDE_CAP
        ):
            return False
        out = f"t{len(self.steps)}"
        self.steps.append(Step(out, spec.name, tuple(args), params))
        self.producer[out] = self.steps[-1]
        self.values[out] = result
        return True

    def params(self, spec: ops.OpSpec, shapes: tuple[tuple[int, ...], ...]) -> dict[str, Any] | None:
        """Return parameters for ``spec`` on ``shapes``; None when no value the engine supports fits."""
        if not spec.param_rule:
            return {}
        drawn = self.draw(PARAM_RULES[spec.param_rule](shapes, self.width))
        declared = self.supported.get(spec.name)
        if declared:
            restricted = declared_params(self.draw, spec, shapes, drawn, declared)
            if restricted is None:
                return None
            drawn = restricted
        return {param.name: drawn[param.name] for param in spec.params}


def _plan_one(builder: _Builder, spec: ops.OpSpec, fits: Callable[[np.ndarray], bool],
              fresh_shape: Callable[[], tuple[int, ...]]):
    """One operand: a value of the program that ``fits`` (a new input of its shape if outside the
    op's domain), or a new input of ``fresh_shape()`` if none fits."""
    probe = builder.pick(fits)
    shape = builder.values[probe].shape if probe is not None else fresh_shape()
    params = builder.params(spec, (shape,))
    if params is None:
        return None
    (domain,) = spec.domains_for(params)
    if probe is not None and domain.admits(builder.values[probe]):
        return [probe], params
    return [builder.new_input(shape, domain)], params


def _plan_single(builder: _Builder, spec: ops.OpSpec):
    """One operand: elementwise functions, reductions, shape ops."""
    min_rank = _MIN_RANK[spec.shapes]
    return _plan_one(builder, spec, lambda value: value.ndim >= min_rank, lambda: builder.fresh_shape(min_rank))


def _plan_broadcast(builder: _Builder, spec: ops.OpSpec):
    """Two operands that broadcast together; either may be new."""
    domain_a, domain_b = (ops.FREE if d.lattice else d for d in spec.domains_for({}))
    a = builder.operand(0, domain_a)
    a_shape = builder.values[a].shape

    def fits(value: np.ndarray) -> bool:
        try:
            np.broadcast_shapes(a_shape, value.shape)
        except ValueError:
            return False
        return True

    b = builder.reuse_or_new(
        fits, lambda: builder.draw(hnp.broadcastable_shapes(a_shape, max_side=builder.max_side)), domain_b, a
    )
    if spec.name == "maximum":
        # Ties make the gradient undefined; a gap wider than any
        # finite-difference step keeps both references well defined.
        if np.min(np.abs(builder.values[a] - builder.values[b]), initial=np.inf) < 0.25:
            return None
    # Where both operands have the same domain the program's value may go on either side.
    args = [b, a] if domain_a == domain_b and builder.draw(st.booleans()) else [a, b]
    # where's condition: drawn to broadcast with the two operands.
    params = builder.params(spec, tuple(builder.values[arg].shape for arg in args))
    return (args, params) if params is not None else None


def _plan_matmul(builder: _Builder, spec: ops.OpSpec):
    """``matmul`` with NumPy semantics: a value of the program on the left or on the right."""
    anchor = builder.operand(1, ops.FREE)
    shape = builder.values[anchor].shape
    on_left = builder.draw(st.booleans())
    inner = shape[-1] if on_left else shape[-2] if len(shape) > 1 else shape[0]

    def partner_shape() -> tuple[int, ...]:
        side = builder.draw(st.integers(1, builder.max_side))
        form = builder.draw(st.sampled_from(("matrix", "vector", "stack")))
        core = (inner, side) if on_left else (side, inner)
        if form == "vector":
            return (inner,)
        if form == "stack" and len(shape) > 2:
            batch = builder.draw(hnp.broadcastable_shapes(shape[:-2], max_side=builder.max_side))
            return tuple(batch) + core
        return core

    def fits(value: np.ndarray) -> bool:
        left, right = (shape, value.shape) if on_left else (value.shape, shape)
        try:
            np.matmul(np.zeros(left), np.zeros(right))
        except ValueError:
            return False
        return True

    partner = builder.reuse_or_new(fits, partner_shape, ops.FREE, anchor)
    return ([anchor, partner] if on_left else [partner, anchor]), {}


def _plan_conv(builder: _Builder, spec: ops.OpSpec):
    """conv1d/conv2d: a (N, C, *sizes) value of the program as x (a fresh one if none), a new weight w."""
    spatial = 1 if spec.shapes == "conv1d" else 2
    x = builder.pick(lambda value: value.ndim == spatial + 2)
    if x is None:
        x_shape, _ = builder.draw(conv_shapes(spatial, max_side=builder.max_side))
        x = builder.new_input(x_shape)
    shape = builder.values[x].shape
    w_shape = builder.draw(conv_weight_shapes(shape))
    params = builder.params(spec, (shape, w_shape))
    if params is None:
        return None
    return [x, builder.new_input(w_shape)], params


def _plan_pool(builder: _Builder, spec: ops.OpSpec):
    """2-D pooling of a (N, C, H, W) value of the program (a fresh one if none, or if it has ties)."""
    return _plan_one(builder, spec, lambda value: value.ndim == 4,
                     lambda: builder.draw(pool_shapes(max_side=builder.max_side))[0])


def _plan_joined(builder: _Builder, spec: ops.OpSpec):
    """``concat``/``stack``: a value of the program and 0 to 2 more, the same shape but along one axis (concat)."""
    concat = spec.shapes == "concat"
    anchor = builder.operand(1 if concat else 0, ops.FREE)
    shape = builder.values[anchor].shape
    axis = builder.draw(st.integers(0, len(shape) - 1)) if concat else 0

    def fits(value: np.ndarray) -> bool:
        if not concat:
            return value.shape == shape
        return value.ndim == len(shape) and value.shape[:axis] + value.shape[axis + 1:] == shape[:axis] + shape[axis + 1:]

    def other_shape() -> tuple[int, ...]:
        if not concat:
            return shape
        return shape[:axis] + (builder.draw(st.integers(1, builder.max_side)),) + shape[axis + 1:]

    args = [anchor]
    for _ in range(builder.draw(st.integers(0, 2))):
        args.append(builder.reuse_or_new(fits, other_shape, ops.FREE, anchor))
    params = builder.params(spec, tuple(builder.values[arg].shape for arg in args))
    return None if params is None else (args, params)


def _plan_einsum(builder: _Builder, spec: ops.OpSpec):
    """``einsum``: a value of the program (at most 3-D) and 0 to 2 new operands with sides it has, subscripts to fit."""
    anchor = builder.pick(lambda value: value.ndim <= 3)
    if anchor is None:
        anchor = builder.new_input(builder.fresh_shape(0))
    sides = sorted(set(builder.values[anchor].shape)) or [builder.draw(st.integers(1, builder.max_side))]
    args = [anchor]
    for _ in range(builder.draw(st.integers(0, 2))):
        rank = builder.draw(st.integers(0, 3))
        args.append(builder.new_input(tuple(builder.draw(st.sampled_from(sides)) for _ in range(rank))))
    params = builder.params(spec, tuple(builder.values[arg].shape for arg in args))
    return None if params is None else (args, params)


def _plan_logits(builder: _Builder, spec: ops.OpSpec):
    """``cross_entropy``: a matrix of the program as the logits (a loss ends a program), or a new one."""
    logits = builder.pick(lambda value: value.ndim == 2)
    if logits is None:
        logits = builder.new_input(builder.fresh_shape(2)[:2])
    params = builder.params(spec, (builder.values[logits].shape,))
    return None if params is None else ([logits], params)


_PLANNERS = {
    "broadcast": _plan_broadcast,
    "matmul": _plan_matmul,
    "conv1d": _plan_conv,
    "conv2d": _plan_conv,
    "pool2d": _plan_pool,
    "concat": _plan_joined,
    "stack": _plan_joined,
    "einsum": _plan_einsum,
    "logits": _plan_logits,
}


#: Activations a CNN-shaped program may put after its convolution, in no particular order.
_ACTIVATIONS = ("relu", "leaky_relu", "elu", "gelu", "softplus", "tanh", "sigmoid")


def _pool_untied(x: np.ndarray, kernel_size: Any, stride: Any) -> bool:
    """Return whether every max-pooling window of ``x`` has a single largest value, TIE_GAP clear of the next.

    Only ties at the top of a window make max pooling's gradient undefined;
    ``max_pool2d``'s domain (every value distinct) is stricter than that and
    refuses almost any computed value, a ReLU's zeros always.
    """
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    if stride is None:
        sh, sw = kh, kw
    else:
        sh, sw = (stride, stride) if isinstance(stride, int) else stride
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    ordered = np.sort(windows.reshape(*windows.shape[:4], kh * kw), axis=-1)
    return ordered.shape[-1] < 2 or bool(np.all(ordered[..., -1] - ordered[..., -2] >= ops.TIE_GAP))


def _cnn_possible(op_names: Sequence[str]) -> bool:
    """Whether a CNN-shaped program can be built: a convolution and, after it, a matmul or a loss."""
    return bool({"conv2d", "conv1d"} & set(op_names)) and bool({"matmul", "cross_entropy"} & set(op_names))


def _cnn(builder: _Builder, op_names: Sequence[str], max_steps: int) -> None:
    """Build the program a course's CNN is: conv → activation → pool → reshape (N, -1) → matmul (+ bias) → loss.

    Each stage the engine has (and whose step fits the value it gets) is one
    step on the value before it, every parameter drawn as in a case of that op;
    a stage that cannot apply is left out and a loss ends the program. Weights
    are new inputs. The caller goes on from whatever was built.
    """
    draw, have = builder.draw, set(op_names)

    def step(op: str, args: list[str], params: dict[str, Any] | None) -> bool:
        return params is not None and len(builder.steps) < max_steps and builder.apply(ops.OPS[op], args, params)

    def latest() -> str:
        return builder.steps[-1].out

    conv = "conv2d" if "conv2d" in have else "conv1d"
    x_shape, _ = draw(conv_shapes(2 if conv == "conv2d" else 1, max_side=builder.max_side))
    x = builder.new_input(x_shape)
    w_shape = draw(conv_weight_shapes(x_shape))
    if not step(conv, [x, builder.new_input(w_shape)], builder.params(ops.OPS[conv], (x_shape, w_shape))):
        return
    def activate(activations: list[str]) -> bool:
        """Apply the first of ``activations`` whose domain the latest values are in (a ReLU's: clear of 0)."""
        for op in activations:
            params = builder.params(ops.OPS[op], (builder.values[latest()].shape,))
            if params is not None and ops.OPS[op].domains_for(params)[0].admits(builder.values[latest()]):
                return step(op, [latest()], params)
        return False

    # The activation drawn goes after the convolution; where its values are
    # too close to its kink, after the pooling (fewer values; for max pooling
    # and a ReLU the same function); else a smooth one goes after the convolution.
    activations = [op for op in draw(st.permutations(_ACTIVATIONS)) if op in have]
    activated = activate(activations[:1])
    if not activated:
        activated = activate(activations[1:]) if conv != "conv2d" or draw(st.booleans()) else False
    pools = [op for op in draw(st.permutations(("max_pool2d", "avg_pool2d"))) if op in have]
    if conv == "conv2d" and pools:
        value = builder.values[latest()]
        params = builder.params(ops.OPS[pools[0]], (value.shape,))
        if params is not None and (pools[0] == "avg_pool2d" or _pool_untied(value, **params)):
            step(pools[0], [latest()], params)
        if not activated:
            activate(activations)
    batch = builder.values[latest()].shape[0]
    features = builder.values[latest()].size // batch
    if "reshape" in have:
        # (N, -1) as students write it, or the count spelled out.
        target = (batch, -1) if draw(st.booleans()) else (batch, features)
        declared = builder.supported.get("reshape")
        if declared and target not in declared.get("shape", (target,)):
            return
        if not step("reshape", [latest()], {"shape": target}):
            return
    if "matmul" in have and builder.values[latest()].ndim == 2:
        classes = draw(st.integers(2, 3))
        if not step("matmul", [latest(), builder.new_input((features, classes))], {}):
            return
        if "add" in have and draw(st.booleans()):
            step("add", [latest(), builder.new_input((classes,))], {})
    if "cross_entropy" in have and builder.values[latest()].ndim == 2:
        step("cross_entropy", [latest()], builder.params(ops.OPS["cross_entropy"], (builder.values[latest()].shape,)))


@st.composite
def _program(draw: st.DrawFn, op_names: tuple[str, ...], dtype: str, max_steps: int,
             max_dims: int, max_side: int, ones: bool,
             supported: Mapping[str, Mapping[str, Sequence[Any]]] | None = None) -> ProgramCase:
    builder = _Builder(draw, dtype, max_dims, max_side, supported)
    # One program in eight, where the engine has the ops, is a CNN (the
    # choice Hypothesis shrinks away from unless the failure needs it). A
    # CNN is a chain, which no traversal bug shows on: at one in four, the
    # planted traversal bugs were found by fewer seeds (breadth-first 2 of 4
    # at 300 programs, against 3 of 4 at one in eight or without CNNs).
    if _cnn_possible(op_names) and max_steps >= 3 and draw(st.integers(0, 7)) == 7:
        _cnn(builder, op_names, max_steps)
    templated = bool(builder.steps)
    if not builder.values:
        builder.new_input(builder.fresh_shape(0))
    # A program of one-operand ops is a chain: one path per value, nothing a
    # traversal can get wrong. So half the steps are two-operand ops (the
    # half Hypothesis favours, and shrinks to). Hypothesis also favours the
    # first index of any choice; drawing each op order per program moves that
    # favour to a different op each time.
    binary = [op for op in op_names if len(ops.OPS[op].operands) == 2]
    unary = [op for op in op_names if len(ops.OPS[op].operands) == 1]
    orders = [draw(st.permutations(group)) for group in (binary, unary) if group]
    # Each step ends with a "go on?" marker, as st.lists does: the shrinker
    # can then delete any one step's choices (a middle one too) as a block.
    # The program stops when three coins all come up False. Hypothesis draws
    # False (the simpler choice) about two times in three here, so that is
    # about one step in three; shrinking turns every coin False and stops early.
    while not templated and len(builder.steps) < max_steps:
        order = orders[0] if len(orders) == 1 or not draw(st.booleans()) else orders[1]
        first = draw(st.integers(0, len(order) - 1))
        # Try the drawn op, then the next ones: never reject, never loop.
        if not any(builder.add_step(order[(first + k) % len(order)]) for k in range(len(order))):
            break
        if not any(draw(st.booleans()) for _ in range(3)):
            break
    if not builder.steps:
        # Not even one op applied (e.g. only ``matmul`` on a scalar): start from a matrix.
        builder.new_input((1, 1))
        for op in op_names:
            if builder.add_step(op):
                break
    output = builder.values[builder.steps[-1].out] if builder.steps else None
    if output is None:
        raise InvalidArgument(f"no op of {op_names!r} applies to any value; cannot build a program.")
    cotangent = draw(cotangents(output.shape, dtype=dtype, ones=ones))
    return builder.finish(cotangent)


def programs(
    ops_used: Sequence[str] = PROGRAM_OPS,
    *,
    dtype: str = "float64",
    max_steps: int = 6,
    max_dims: int = 3,
    max_side: int = 3,
    ones_cotangent: bool = False,
    supported: Mapping[str, Mapping[str, Sequence[Any]]] | None = None,
) -> st.SearchStrategy[ProgramCase]:
    """Return a strategy for small programs over ``ops_used``, with inputs and a cotangent.

    Programs reuse values (fan-out), skip over steps, broadcast intermediate
    results against each other and chain ``matmul``s like the founding
    question's ``matmul(matmul(x, y), z)``; reductions and reshapes appear in
    the middle. They shrink toward fewer steps, then smaller shapes.
    ``supported`` maps an op to the only values its parameters take (an
    engine's declared partial support, ``gradcheck.support``); an op step
    none of whose declared values fits is not taken there.

    .. code-block:: pycon

        >>> print(programs(["matmul", "sum"]).example().code())  # doctest: +SKIP
        x0 = input(2, 2)
        x1 = input(2,)
        t0 = matmul(x0, x1)
        y = sum(t0, axis=0)
    """
    if isinstance(ops_used, str) or not ops_used:
        raise InvalidArgument(f"ops_used={ops_used!r} must be a non-empty list of op names.")
    names = []
    for op in ops_used:
        canonical = ops.canonical_op(op)
        if canonical is None:
            raise InvalidArgument(f"ops_used contains {op!r}, which is not an op of gradcheck.")
        if canonical not in names:
            names.append(canonical)
    dtype = check_dtype(dtype)
    max_steps = check_int("max_steps", max_steps, 1)
    max_dims = check_int("max_dims", max_dims, 2)
    max_side = check_int("max_side", max_side, 1)
    declared = {}
    for op, params in (supported or {}).items():
        canonical = ops.canonical_op(op)
        if canonical is None:
            raise InvalidArgument(f"supported names {op!r}, which is not an op of gradcheck.")
        declared[canonical] = params
    return _program(tuple(names), dtype, max_steps, max_dims, max_side, bool(ones_cotangent), declared)
