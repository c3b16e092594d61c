"""Record and replay: one engine (docs/contract.md, section 1) over any framework with a VJP.

Every op call runs eagerly in the framework, so ``value`` is the framework's
own forward value, and returns a :class:`Node` that records how it was made:
the function that computed it, its parent nodes and its static parameters.
``grad(y, xs, cotangent)`` replays the recorded graph as a pure function of
``xs`` and hands that function to the framework's VJP (``tf.GradientTape``,
``jax.vjp``, ``torch.autograd.grad``, ``autograd.make_vjp``). Functional
frameworks keep no tape after the fact; replaying works for all of them, and
leaves every bit of the gradient to the framework, a user's custom gradient
(``tf.custom_gradient``, ``jax.custom_vjp``, ``torch.autograd.Function``)
included.

Order 2 (docs/contract.md, section 1): ``grad(y, xs, cotangent,
create_graph=True)`` returns recorded nodes, one per x, holding the
first-order gradient. Each is made by the framework's VJP of ``y`` taken
*differentiably* (``Framework.differentiable_vjp``) with ``xs`` as its
parents, so replaying it under the framework's VJP again differentiates the
framework's own backward, a user's backward rule included: a rule built from
detached values has a zero second derivative here, as in training. Orders 3
and up are the same step again. Forward mode: ``jvp(y, xs, tangents)``
replays ``y`` under the framework's JVP (``Framework.jvp``) where it has one.

A framework is described once, as data (:class:`Framework`); the adapter
modules (``gradcheck.adapters.tensorflow`` and friends) are that description
plus the framework's spelling of each op.
"""

from __future__ import annotations

import importlib
import sys
import types
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from gradcheck.errors import MissingFrameworkError, UsageError
from gradcheck.ops import ALIASES, OP_NAMES, OPS, canonical_op
from gradcheck.settings import DTYPES

__all__ = ["DTYPES", "Framework", "Node", "build_engine", "engine_factory", "module_attribute", "require", "replay"]

#: What a framework's VJP returns: one tensor per primal, ``None`` for an unconnected one.
Vjp = Callable[[Callable[..., Any], Sequence[Any], Any], Sequence[Any]]


def require(
    module: str, *, framework: str, adapter: str, install: str, importer: Callable[[], Any] | None = None
) -> Any:
    """Return the imported ``module``, or raise MissingFrameworkError saying how to install it.

    ``importer`` imports it when plain ``import`` is not the way (TensorFlow
    goes through ``gradcheck._tf``, which keeps it quiet).
    """
    try:
        return importer() if importer else importlib.import_module(module)
    except ImportError as exc:
        missing = getattr(exc, "name", None)
        why = (
            "is not installed"
            if missing and module.split(".")[0] == missing.split(".")[0]
            else f"could not be imported ({type(exc).__name__}: {exc})"
        )
        raise MissingFrameworkError(
            f"{adapter} needs {framework}, which {why} in the Python that runs gradcheck "
            f"({sys.executable}). Install it with {install}, then run again; the other adapters "
            "(gradcheck.adapters.tensorflow needs nothing extra) work without it."
        ) from exc


@dataclass(frozen=True)
class Framework:
    """What the recording engine needs from one framework.

    ``constant(array, dtype)`` makes a framework tensor (a copy) of a NumPy
    array; ``to_numpy(tensor)`` goes back. ``vjp(function, primals,
    cotangent)`` returns the VJP of ``function`` at ``primals`` (a sequence
    of tensors, one per primal; ``None`` for an unconnected one).
    ``differentiable_vjp`` returns the same, computed so that the framework
    can differentiate the result again with respect to ``primals`` (it is
    called while an outer VJP replays the graph). ``jvp(function, primals,
    tangents)`` returns the framework's forward-mode derivative of
    ``function`` along ``tangents`` (``None`` when the output does not depend
    on the primals); a framework without forward mode has ``jvp=None`` and
    its engines no ``jvp``. ``ops`` maps every op of the contract
    (docs/contract.md, section 1) to the framework's own implementation,
    called with framework tensors and the op's static parameters.
    """

    name: str
    adapter: str
    constant: Callable[[np.ndarray, str], Any]
    to_numpy: Callable[[Any], np.ndarray]
    vjp: Vjp
    differentiable_vjp: Vjp
    ops: Mapping[str, Callable[..., Any]]
    jvp: Callable[[Callable[..., Any], Sequence[Any], Sequence[Any]], Any] | None = None


class Node:
    """A recorded value: the framework's eager forward value and how it was computed.

    A leaf (from ``variable``, or a constant operand) has no ``function``.
    """

    __slots__ = ("value", "op", "function", "parents", "args", "kwargs")

    def __init__(
        self,
        value: Any,
        op: str | None = None,
        function: Callable[..., Any] | None = None,
        parents: tuple[Node, ...] = (),
        args: tuple[Any, ...] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.value = value
        self.op = op
        self.function = function
        self.parents = parents
        self.args = args
        self.kwargs = dict(kwargs or {})

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(np.shape(self.value))

    def __repr__(self) -> str:
        made = "leaf" if self.function is None else f"{self.op}({len(self.parents)} operand(s))"
        return f"Node({made}, shape={self.shape})"


def _order(y: Node, given: Mapping[int, Any]) -> list[Node]:
    """Return the nodes ``y`` is computed from, parents first, not looking behind ``given`` ones."""
    order: list[Node] = []
    seen: set[int] = set()
    # Iterative: a long chain of ops must not hit the recursion limit.
    stack: list[tuple[Node, bool]] = [(y, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        if id(node) not in given:
            stack.extend((parent, False) for parent in node.parents if id(parent) not in seen)
    return order


def replay(y: Node, given: Mapping[int, Any]) -> Any:
    """Return ``y`` recomputed from the tensors in ``given`` (node id -> tensor).

    Leaves not in ``given`` are constants: their recorded value is used.
    """
    values = dict(given)
    for node in _order(y, given):
        if id(node) in values:
            continue
        if node.function is None:
            values[id(node)] = node.value
        else:
            operands = [values[id(parent)] for parent in node.parents]
            values[id(node)] = node.function(*operands, *node.args, **node.kwargs)
    return values[id(y)]


def _check_ops(framework: Framework, ops: Mapping[str, Callable[..., Any]] | None) -> dict[str, Callable[..., Any]]:
    """Return the framework's ops with the user's substitutes (aliases resolved) in place."""
    chosen = dict(framework.ops)
    for key, function in (ops or {}).items():
        op = canonical_op(key) if isinstance(key, str) else None
        if op is None:
            raise UsageError(
                f"ops={{{key!r}: ...}} names no op of gradcheck. Use one of {', '.join(OP_NAMES)} "
                f"(aliases: {', '.join(f'{a}={c}' for a, c in ALIASES.items())})."
            )
        if not callable(function):
            raise UsageError(
                f"ops={{{key!r}: {function!r}}} is not a function. Give a {framework.name} function "
                f"taking {framework.name} tensors ({', '.join(OPS[op].operands)}) and the op's static "
                "parameters, returning a tensor."
            )
        chosen[op] = function
    return chosen


def build_engine(
    framework: Framework,
    dtype: str = "float64",
    ops: Mapping[str, Callable[..., Any]] | None = None,
    name: str | None = None,
    forward_mode: bool = True,
) -> types.SimpleNamespace:
    """Return an engine (docs/contract.md, section 1) computing in ``dtype`` with ``framework``'s ops.

    ``ops`` substitutes the user's own framework function for any op (by name
    or alias); it is called exactly as the built-in one would be.
    ``forward_mode=False`` leaves ``jvp`` out (it is out anyway where the
    framework has no forward mode): gradcheck then checks no forward mode.
    """
    if dtype not in DTYPES:
        raise UsageError(f"dtype={dtype!r} is not supported; use one of {', '.join(DTYPES)}.")
    if not isinstance(forward_mode, bool):
        raise UsageError(f"forward_mode={forward_mode!r} is not a bool; pass True or False.")
    chosen = _check_ops(framework, ops)

    def leaf(array: Any) -> Node:
        # A copy: the engine must never write into (or alias) an array it was handed.
        return Node(framework.constant(np.array(array, dtype=dtype, copy=True), dtype))

    def as_node(operand: Any) -> Node:
        return operand if isinstance(operand, Node) else leaf(operand)

    def variable(array: np.ndarray) -> Node:
        """Return a differentiable leaf holding ``array`` in the engine's dtype."""
        return leaf(array)

    def value(x: Node) -> np.ndarray:
        """Return the framework's forward value of ``x`` as a NumPy array."""
        return framework.to_numpy(_node(x, "x", framework).value)

    def zeros(shape: tuple[int, ...]) -> Any:
        return framework.constant(np.zeros(shape, dtype=dtype), dtype)

    def replayed(y: Node, unique: Sequence[Node]) -> Callable[..., Any]:
        """Return ``y`` as a function of the tensors standing for ``unique`` (other leaves are constants)."""

        def function(*tensors: Any) -> Any:
            return replay(y, {id(x): tensor for x, tensor in zip(unique, tensors)})

        return function

    def grad(y: Node, xs: Sequence[Node], cotangent: Any = None, create_graph: bool = False) -> list[Any]:
        """Return the framework's VJP of ``y`` w.r.t. each of ``xs`` (all-ones cotangent if omitted).

        NumPy arrays; with ``create_graph=True``, nodes of this engine holding
        them, which ``grad`` differentiates again (order 2).
        """
        y = _node(y, "y", framework)
        xs = [_node(x, f"xs[{index}]", framework) for index, x in enumerate(xs)]
        seed = np.ones(y.shape) if cotangent is None else np.asarray(cotangent)
        if seed.shape != y.shape:
            raise ValueError(
                f"cotangent has shape {seed.shape} but y has shape {y.shape}; pass a cotangent shaped like y."
            )
        # A node listed twice is one primal: the framework sees each input once.
        unique = list({id(x): x for x in xs}.values())
        if not unique:
            return []
        function = replayed(y, unique)
        seed_tensor = framework.constant(seed.astype(dtype), dtype)
        grads = framework.vjp(function, [x.value for x in unique], seed_tensor)
        if create_graph:
            by_id: dict[int, Any] = {
                id(x): gradient_node(function, unique, seed_tensor, index, g)
                for index, (x, g) in enumerate(zip(unique, grads))
            }
        else:
            by_id = {
                id(x): np.zeros(x.shape, dtype=dtype) if g is None else framework.to_numpy(g)
                for x, g in zip(unique, grads)
            }
        return [by_id[id(x)] for x in xs]

    def gradient_node(function: Callable[..., Any], unique: Sequence[Node], seed: Any, index: int, g: Any) -> Node:
        """Return the node of ``unique[index]``'s gradient: ``g``, recomputed differentiably when replayed."""
        x = unique[index]

        def vjp_of(*tensors: Any) -> Any:
            # The whole VJP, each time one gradient is replayed: the framework
            # computes them in one backward pass anyway, and nodes stay single tensors.
            again = framework.differentiable_vjp(function, tensors, seed)[index]
            return zeros(x.shape) if again is None else again

        held = zeros(x.shape) if g is None else framework.constant(framework.to_numpy(g), dtype)
        return Node(held, "grad", vjp_of, tuple(unique))

    def jvp(y: Node, xs: Sequence[Node], tangents: Sequence[Any]) -> np.ndarray:
        """Return the framework's forward-mode derivative of ``y`` along ``tangents`` (one per x), shaped like y."""
        y = _node(y, "y", framework)
        xs = [_node(x, f"xs[{index}]", framework) for index, x in enumerate(xs)]
        if len(tangents) != len(xs):
            raise ValueError(f"{len(tangents)} tangents for {len(xs)} xs; pass one tangent per x, shaped like it.")
        # A node listed twice moves along the sum of its tangents.
        summed: dict[int, np.ndarray] = {}
        for index, (x, tangent) in enumerate(zip(xs, tangents)):
            t = np.asarray(tangent)
            if t.shape != x.shape:
                raise ValueError(
                    f"tangents[{index}] has shape {t.shape} but xs[{index}] has shape {x.shape}; "
                    "pass a tangent shaped like its x."
                )
            summed[id(x)] = summed[id(x)] + t if id(x) in summed else t
        unique = list({id(x): x for x in xs}.values())
        assert framework.jvp is not None  # the engine has jvp only where the framework has
        out = None if not unique else framework.jvp(
            replayed(y, unique),
            [x.value for x in unique],
            [framework.constant(summed[id(x)].astype(dtype), dtype) for x in unique],
        )
        return np.zeros(y.shape, dtype=dtype) if out is None else framework.to_numpy(out)

    def recorded(op: str, function: Callable[..., Any]) -> Callable[..., Node]:
        spec = OPS[op]
        before = sum(1 for param in spec.params if param.before)

        def call(*args: Any, **kwargs: Any) -> Node:
            # The call as OpSpec.engine_args builds it: parameters before the
            # operands (einsum's subscripts), the operands (one list for
            # concat), then the static parameters.
            leading, rest = args[:before], args[before:]
            if spec.listed:
                operands, static = list(rest[0]), rest[1:]
            elif spec.variadic:
                operands, static = list(rest), ()
            else:
                operands, static = list(rest[:len(spec.operands)]), rest[len(spec.operands):]
            count = len(operands)
            # A node passed where a static parameter goes (pow's tensor exponent) is an operand too.
            lifted = [index for index, arg in enumerate(static) if isinstance(arg, Node)]
            parents = tuple(as_node(operand) for operand in [*operands, *(static[i] for i in lifted)])

            def apply(*tensors: Any) -> Any:
                given = list(static)
                for index, tensor in zip(lifted, tensors[count:]):
                    given[index] = tensor
                inputs = [list(tensors[:count])] if spec.listed else list(tensors[:count])
                return function(*leading, *inputs, *given, **kwargs)

            return Node(apply(*[parent.value for parent in parents]), op, apply, parents)

        call.__name__ = call.__qualname__ = op
        call.__doc__ = f"Return {op} computed by {framework.name}, recorded for grad."
        return call

    # Forward mode only where the framework has it and it is wanted: gradcheck checks jvp when the engine has one.
    forward = {"jvp": jvp} if framework.jvp is not None and forward_mode else {}
    return types.SimpleNamespace(
        name=name or f"{framework.name} adapter ({dtype})",
        dtype=dtype,
        framework=framework.name,
        variable=variable,
        value=value,
        grad=grad,
        **forward,
        **{op: recorded(op, function) for op, function in chosen.items()},
    )


def engine_factory(framework: Framework) -> Callable[..., types.SimpleNamespace]:
    """Return the adapter module's ``make_engine`` for ``framework``."""

    def make_engine(
        dtype: str = "float64",
        ops: Mapping[str, Callable[..., Any]] | None = None,
        name: str | None = None,
        forward_mode: bool = True,
    ) -> types.SimpleNamespace:
        return build_engine(framework, dtype, ops, name, forward_mode)

    make_engine.__module__ = framework.adapter
    make_engine.__doc__ = (
        f"Return a {framework.name} engine computing in ``dtype`` (float32 or float64).\n\n"
        f"``ops`` maps op names (or aliases) to your own {framework.name} functions, each called\n"
        f"like the op it replaces: {framework.name} tensors for the operands, then the static\n"
        "parameters (``pow(x, p)``, ``sum(x, axis=None, keepdims=False)``, ...); it returns a tensor.\n"
        "``name`` is shown in reports. "
        + (
            "``forward_mode=False`` leaves out ``jvp``, so that gradcheck checks no forward mode\n"
            f"(for a function {framework.name} has no forward mode for, as a custom VJP rule alone)."
            if framework.jvp is not None
            else f"{framework.name} engines have no ``jvp``: gradcheck checks orders 1 and 2 only."
        )
    )
    return make_engine


def _node(x: Any, what: str, framework: Framework) -> Node:
    if not isinstance(x, Node):
        raise TypeError(
            f"{what} is {type(x).__name__}, not a value of this engine: pass what variable() "
            f"or one of the engine's ops returned (raw {framework.name} tensors have no recorded graph)."
        )
    return x


def module_attribute(engine: types.SimpleNamespace, module: str, attribute: str) -> Any:
    """Return ``engine.attribute`` for a module's ``__getattr__``: the module *is* that engine."""
    # Only the engine's own attributes: the namespace's dunders are not the module's.
    try:
        return vars(engine)[attribute]
    except KeyError:
        raise AttributeError(f"module {module!r} has no attribute {attribute!r}") from None
