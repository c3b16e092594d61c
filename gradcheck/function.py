"""``check_function``: check one custom function's hand-written gradient, no engine needed.

You wrote ``fn`` (a fused layer, a custom loss) and its gradient by hand, as
a VJP ``grad_fn(*arrays, cotangent)``, or as a ``tf.custom_gradient`` on
``fn``. gradcheck draws inputs of the shapes you name, calls both, and
compares the gradient with the truth: finite differences of ``fn`` in
float64, or TensorFlow's own gradient of ``fn`` when ``fn`` is TensorFlow
code (cross-checked by finite differences). A wrong gradient shrinks to the
smallest case that shows it, exactly as an engine's op does.

.. code-block:: python

    import numpy as np
    import gradcheck

    def softplus(x):
        return np.logaddexp(0.0, x)

    def softplus_vjp(x, cotangent):
        return (cotangent / (1.0 + np.exp(-x)),)

    def test_softplus():
        gradcheck.assert_function_gradients(softplus, softplus_vjp, shapes="array")

The search is every check's (``gradcheck.search``), the calls into the user's
code are guarded as an engine's are (``gradcheck.execution``), the verdict is
the same (``gradcheck.verdict``): a function's check is one more ``kind`` of
check (``"function"``) in the same reports.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import shlex
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from gradcheck.errors import UsageError
from gradcheck.loading import import_target, load_function, load_object, short_repr
from gradcheck.execution import guarded_call
from gradcheck.function_case import FUNCTION_KIND, FunctionCase, Taped, UserFunction
from gradcheck.ops import FREE, Domain
from gradcheck.results import CheckResult, Failure, Report
from gradcheck.settings import DEFAULT_MAX_EXAMPLES, DEFAULT_SEED, DEFAULT_TIMEOUT, TOLERANCE, check_dtype
from gradcheck.tolerances import Tolerance

__all__ = [
    "SHAPE_SPECS",
    "SHAPE_SPEC_NAMES",
    "ShapeSpec",
    "assert_function_gradients",
    "check_function",
    "check_user_function",
    "load_function",
    "load_object",
    "parse_domain_option",
    "parse_shapes",
    "user_function",
]

#: The shape specs ``shapes=`` and ``--shapes`` take by name, and what each draws.
#: ``N`` is a count of arrays (``broadcast:3``); a literal such as
#: ``(2, 3), (3,)`` fixes the shapes instead.
SHAPE_SPECS: dict[str, str] = {
    "array": "one array of any shape, a scalar included",
    "nonscalar": "one array with at least one axis",
    "matrix": "one array with at least two axes: a stack of matrices",
    "matmul": "two matmul operands with NumPy semantics: 1-D operands, broadcast batch axes",
    "same:N": "N arrays of one shape",
    "broadcast:N": "N mutually broadcastable shapes: size-1 axes, different ranks",
}

#: The names of ``SHAPE_SPECS``, without their counts.
SHAPE_SPEC_NAMES = frozenset(spec.partition(":")[0] for spec in SHAPE_SPECS)

_SHAPES_HINT = (
    "Give one shape per array: a literal such as '(2, 3), (3,)'; a spec, one of "
    f"{', '.join(SHAPE_SPECS)}; or path/to/file.py:NAME naming a Hypothesis strategy of tuples of shapes."
)


# --- Loading a function by target ---------------------------------------------------------


def _callable(value: Any, role: str, argument: str) -> tuple[Callable[..., Any], str | None]:
    """Return ``value`` as a function and its import target (None when unknown)."""
    if isinstance(value, str):
        return load_function(value, role=role), value
    if not callable(value):
        raise UsageError(
            f"{argument}={value!r} is not a function; give the function itself or its target "
            "string ('path/to/file.py:NAME')."
        )
    return value, import_target(value)


def _name(function: Callable[..., Any]) -> str:
    return getattr(function, "__name__", None) or type(function).__name__


def user_function(
    fn: Callable[..., Any] | str,
    grad_fn: Callable[..., Any] | str | None = None,
    *,
    reference_fn: Callable[..., Any] | str | None = None,
    tolerance: float | Tolerance | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> UserFunction:
    """Return the :class:`~gradcheck.function_case.UserFunction` ``check_function`` checks.

    Functions may be given as objects or as target strings (loaded with
    :func:`load_function`). Raises ``UsageError``/``TargetError`` for a bad one.
    """
    fn, fn_target = _callable(fn, "function", "fn")
    grad_target = grad_name = None
    if grad_fn is not None:
        grad_fn, grad_target = _callable(grad_fn, "gradient", "grad_fn")
        grad_name = _name(grad_fn)
    reference_target = None
    if reference_fn is not None:
        reference_fn, reference_target = _callable(reference_fn, "reference function", "reference_fn")
    return UserFunction(
        fn=fn, grad_fn=grad_fn, name=_name(fn), tolerance=_tolerance(tolerance),
        reference_fn=reference_fn, timeout=timeout, fn_target=fn_target, grad_target=grad_target,
        reference_target=reference_target, grad_name=grad_name,
    )


def _dtype(dtype: Any) -> str:
    try:
        name = np.dtype(dtype).name  # np.float32, "f4" and "float32" alike
    except TypeError:
        name = None
    return check_dtype(name, given=dtype)


def _tolerance(tolerance: float | Tolerance | None) -> Tolerance | None:
    if isinstance(tolerance, Tolerance):
        return tolerance
    rtol = TOLERANCE.check(tolerance)
    return None if rtol is None else Tolerance(rtol=float(rtol))


# --- Shapes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShapeSpec:
    """The shapes to draw: a strategy, how many arrays it gives (None: unknown), how to spell it."""

    strategy: Any
    count: int | None
    text: str | None


def parse_shapes(shapes: Any) -> ShapeSpec:
    """Return the :class:`ShapeSpec` for ``shapes``: a spec string, a literal tuple of shapes, or a strategy.

    Spec strings are ``SHAPE_SPECS``' names (``array``, ``broadcast:3``, ...),
    a literal (``"(2, 3), (3,)"``), or the target of a strategy in the user's
    code (``"path/to/file.py:NAME"``, ``"package.module:NAME"``, which is
    imported). Raises ``UsageError`` naming the bad spec.

    .. code-block:: pycon

        >>> parse_shapes("broadcast:3").count
        3
        >>> parse_shapes(((2, 3), (3,))).text
        '(2, 3), (3,)'
    """
    from hypothesis import strategies as st

    if isinstance(shapes, ShapeSpec):
        return shapes
    if isinstance(shapes, st.SearchStrategy):
        return ShapeSpec(shapes, None, None)
    if isinstance(shapes, str):
        named = _named_spec(shapes.strip())
        if named is not None:
            return named
        if ":" in shapes and not shapes.rpartition(":")[2].strip().isdigit():
            return ShapeSpec(_shapes_strategy(shapes.strip()), None, shapes.strip())
        try:
            shapes = ast.literal_eval(shapes)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise UsageError(
                f"shapes={shapes!r} is neither a shape spec nor a literal.{_spec_hint(shapes)} {_SHAPES_HINT}"
            ) from None
    literal = _literal_shapes(shapes)
    text = ", ".join(str(shape) for shape in literal)
    return ShapeSpec(st.just(literal), len(literal), text)


def _spec_hint(text: str) -> str:
    import difflib

    name, colon, count = text.strip().partition(":")
    close = difflib.get_close_matches(name, sorted(SHAPE_SPEC_NAMES), n=1)
    return f" Did you mean {close[0] + colon + count!r}?" if close else ""


def _shapes_strategy(target: str) -> Any:
    """Return the Hypothesis strategy a target names, e.g. ``layers.py:layer_shapes``."""
    from hypothesis.strategies import SearchStrategy

    strategy = load_object(target, role="shapes strategy")
    if not isinstance(strategy, SearchStrategy):
        raise UsageError(
            f"shapes={target!r} is {short_repr(strategy)}, not a Hypothesis strategy; name a strategy "
            f"of tuples of shapes. {_SHAPES_HINT}"
        )
    return strategy


def _literal_shapes(shapes: Any) -> tuple[tuple[int, ...], ...]:
    def is_shape(value: Any) -> bool:
        return isinstance(value, (tuple, list)) and all(
            isinstance(side, (int, np.integer)) and not isinstance(side, bool) and side >= 0 for side in value
        )

    if isinstance(shapes, (tuple, list)) and shapes and all(isinstance(side, (int, np.integer)) for side in shapes):
        shapes = (shapes,)  # a single shape, (2, 3): one array
    elif isinstance(shapes, (tuple, list)) and len(shapes) == 0:
        shapes = ((),)  # (): one scalar
    if not isinstance(shapes, (tuple, list)) or not all(is_shape(shape) for shape in shapes):
        raise UsageError(f"shapes={shapes!r} is not a tuple of shapes. {_SHAPES_HINT}")
    return tuple(tuple(int(side) for side in shape) for shape in shapes)


def _named_spec(text: str) -> ShapeSpec | None:
    """Return the ShapeSpec of a named spec (``broadcast:3``), None when ``text`` names none."""
    from hypothesis import strategies as st

    from gradcheck.strategies import broadcastable_shapes, operand_shapes

    name, _, count_text = text.partition(":")
    if name not in SHAPE_SPEC_NAMES:
        return None
    counted = f"{name}:N" in SHAPE_SPECS
    if counted:
        count_text = count_text or "2"
        if not count_text.isdigit() or int(count_text) < 1:
            raise UsageError(
                f"shapes={text!r}: the count after '{name}:' must be a whole number of arrays >= 1, "
                f"e.g. {name}:2."
            )
    elif count_text:
        raise UsageError(f"shapes={text!r}: {name} takes no count; write {name} ({SHAPE_SPECS[name]}).")
    if name == "broadcast":
        count = int(count_text)
        # As operand_shapes mixes them: small spaces a hundred examples cover
        # densely (sides <= 2; every side 2), then the full one.
        strategy = st.one_of(
            broadcastable_shapes(count, max_side=2),
            broadcastable_shapes(count, min_side=2, max_side=2),
            broadcastable_shapes(count),
        )
    elif name == "same":
        count = int(count_text)
        strategy = operand_shapes("elementwise").map(lambda shapes: shapes * count)
    else:
        rule = {"array": "elementwise", "nonscalar": "nonscalar", "matrix": "matrix", "matmul": "matmul"}[name]
        count = 2 if name == "matmul" else 1
        strategy = operand_shapes(rule)
    return ShapeSpec(strategy, count, f"{name}:{count}" if counted else name)


# --- Domains and names --------------------------------------------------------------------


def _domain(value: Any, argument: str) -> Domain:
    if isinstance(value, Domain):
        return value
    if (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(end, (int, float, np.number)) and not isinstance(end, bool) for end in value)):
        low, high = (float(end) for end in value)
        if np.isfinite(low) and np.isfinite(high) and low < high:
            return Domain(((low, high),))
    raise UsageError(
        f"{argument}={value!r} is not a domain; give (low, high) with low < high, both finite, "
        "or a gradcheck.ops.Domain."
    )


def _domains(domain: Any) -> Callable[[int], tuple[Domain, ...]]:
    """Return ``count -> one Domain per array`` for ``domain``: None, one domain, or one per array."""
    if domain is None:
        return lambda count: (FREE,) * count
    if isinstance(domain, Domain) or (
        isinstance(domain, (tuple, list)) and len(domain) == 2
        and not any(isinstance(end, (tuple, list, Domain)) for end in domain)
    ):
        shared = _domain(domain, "domain")
        return lambda count: (shared,) * count
    if not isinstance(domain, (tuple, list)) or not domain:
        raise UsageError(
            f"domain={domain!r} is not a domain; give (low, high), a gradcheck.ops.Domain, "
            "or a list of them, one per array."
        )
    each = tuple(_domain(item, f"domain[{index}]") for index, item in enumerate(domain))

    def per_array(count: int) -> tuple[Domain, ...]:
        if count != len(each):
            raise UsageError(
                f"domain gives {len(each)} domains but the shapes give {count} arrays; give one "
                "domain per array, or a single one for all of them."
            )
        return each

    return per_array


def _names(fn: Callable[..., Any], name: str, given: Sequence[str] | None) -> Callable[[int], tuple[str, ...]]:
    """Return ``count -> the names of fn's arrays``: ``names``, else fn's positional parameters."""
    if given is not None:
        fixed = tuple(str(item) for item in given)
        if len(set(fixed)) != len(fixed) or not all(item.isidentifier() for item in fixed):
            raise UsageError(f"names={list(given)!r} must be distinct Python identifiers, one per array.")

        def from_given(count: int) -> tuple[str, ...]:
            if count != len(fixed):
                raise UsageError(
                    f"names={list(fixed)!r} names {len(fixed)} arrays but the shapes give {count}; "
                    "give one name per array."
                )
            return fixed

        return from_given
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # a builtin or ufunc: no signature to read
        return lambda count: ("x",) if count == 1 else tuple(f"x{index}" for index in range(count))
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    variadic = any(p.kind is p.VAR_POSITIONAL for p in parameters)
    required = [p.name for p in positional if p.default is p.empty]

    def from_signature(count: int) -> tuple[str, ...]:
        if count < len(required) or (count > len(positional) and not variadic):
            takes = f"{len(required)}" if len(required) == len(positional) else f"{len(required)} to {len(positional)}"
            raise UsageError(
                f"{name}({', '.join(p.name for p in positional)}) takes {takes} array(s), but the shapes "
                f"give {count}; give one shape per array {name} takes."
            )
        names = [p.name for p in positional[:count]]
        names += [f"x{index}" for index in range(len(names), count)]
        return tuple(names)

    return from_signature


# --- Drawing cases ------------------------------------------------------------------------


def _function_cases(
    function: UserFunction,
    shapes: ShapeSpec,
    domains: Callable[[int], tuple[Domain, ...]],
    names: Callable[[int], tuple[str, ...]],
    dtype: str,
    outputs: set[str],
) -> Any:
    """Return the strategy for cases of ``function``; ``outputs`` collects what fn returned (for the note)."""
    from hypothesis import strategies as st

    from gradcheck.arrays import as_array
    from gradcheck.strategies import cotangents, values

    @st.composite
    def cases(draw: Any) -> FunctionCase:
        drawn = draw(shapes.strategy)
        try:
            drawn = _literal_shapes(drawn)
        except UsageError:
            raise UsageError(
                f"the shapes strategy drew {drawn!r}, which is not a tuple of shapes: "
                "it must draw tuples such as ((2, 3), (3,)), one shape per array."
            ) from None
        inputs = tuple(
            draw(values(shape, domain=domain, dtype=dtype))
            for shape, domain in zip(drawn, domains(len(drawn)))
        )
        # fn's output, for the cotangent's shape (and as the reference's
        # forward value): a guarded call, on copies, like any call into user code.
        stage = f"{function.name}()"
        output, failure = guarded_call(function.forward, *[x.copy() for x in inputs],
                                       stage=stage, timeout=function.timeout)
        forward = None
        if failure is None:
            forward = np.asarray(as_array(output))
            if not np.issubdtype(forward.dtype, np.number):
                failure = ("exception", f"{stage} returned {type(output).__name__}, not an array of numbers", None)
                forward = None
        cotangent = draw(cotangents(() if forward is None else forward.shape, dtype=dtype))
        if forward is not None:
            outputs.add("tensorflow" if _is_tensor(output) else "numpy")
        return FunctionCase(
            function, names(len(drawn)), inputs, cotangent, dtype, forward=forward,
            output_is_tensor=_is_tensor(output), draw_failure=failure,
        )

    return cases()


def _is_tensor(value: Any) -> bool:
    return type(value).__module__.startswith("tensorflow")


# --- Calling the function and its gradient as an engine is called ------------------------


class _FunctionEngine:
    """The user's function and gradient, shaped as ``gradcheck.execution.run_engine`` calls an engine."""

    def __init__(self, function: UserFunction, dtype: str) -> None:
        self.function = function
        self.dtype = np.dtype(dtype)

    def variable(self, array: np.ndarray) -> np.ndarray:
        return array  # the arrays themselves: a function that writes into one is caught

    def forward(self, *xs: np.ndarray) -> Any:
        if self.function.uses_tape:
            return Taped(self.function.fn, xs)
        return self.function.fn(*xs)

    def value(self, y: Any) -> Any:
        return y.output if isinstance(y, Taped) else y

    def grad(self, y: Any, xs: list[np.ndarray], cotangent: np.ndarray) -> list[Any]:
        if isinstance(y, Taped):
            from gradcheck._tf import tensorflow

            # IndexedSlices (from a gather) become dense tensors.
            return [tensorflow().convert_to_tensor(g) for g in y.vjp(cotangent)]
        grads = self.function.grad_fn(*xs, cotangent)  # type: ignore[misc]
        return list(grads) if isinstance(grads, (list, tuple)) else [grads]


def _worded(failure: Failure, function: UserFunction) -> Failure:
    """Return ``failure`` with the engine's words (grad(), value(), the engine) replaced by the function's."""
    words = (
        ("grad()", function.gradient_label),
        ("value()", f"{function.name}()'s output"),
        ("the engine", "the function"),
    )
    reworded = {}
    for field in ("message", "detail"):
        text = getattr(failure, field)
        if text:
            for engine_word, function_word in words:
                text = text.replace(engine_word, function_word)
            reworded[field] = text
    return dataclasses.replace(failure, **reworded)


def _evaluator(function: UserFunction, dtype: str) -> Callable[..., Failure | None]:
    from gradcheck.execution import run_engine
    from gradcheck.verdict import failure_for, judge

    engine = _FunctionEngine(function, dtype)

    def evaluate(case: FunctionCase, reference: Any, clock: Any = None, repeat: bool = True) -> Failure | None:
        if function.uses_tape and case.draw_failure is None and not case.output_is_tensor:
            raise UsageError(
                f"without grad_fn the gradient under test is TensorFlow's tape gradient of "
                f"{function.name}() (its tf.custom_gradient), but {function.name}() did not return a "
                f"tf.Tensor on {case.describe()}: give grad_fn (--grad), the hand-written gradient to check."
            )
        outcome = run_engine(engine, case, function.timeout, repeat)
        if clock is not None:
            clock.lap("engine")
        if outcome.failure is None:
            if case.draw_failure is not None:
                # fn works in the engine's dtype but failed on the float64 inputs of the references.
                category, message, detail = case.draw_failure
                return _worded(failure_for(case, category, f"{message} on the float64 inputs", detail=detail), function)
            if not function.checks_forward:
                outcome.forward = reference.forward  # no reference_fn: nothing to check it against
        failure = judge(case, outcome, reference, function.tolerance_for(dtype))
        if clock is not None:
            clock.lap("comparison")
        return None if failure is None else _worded(failure, function)

    return evaluate


def _function_reference(case: FunctionCase, clock: Any) -> Any:
    from gradcheck.oracles import function_reference

    reference = function_reference(case)
    clock.lap("finite differences")
    return reference


# --- The check ----------------------------------------------------------------------------


def check_user_function(
    function: UserFunction,
    *,
    shapes: Any,
    dtype: str = "float64",
    domain: Any = None,
    names: Sequence[str] | None = None,
    max_examples: int = DEFAULT_MAX_EXAMPLES,
    seed: int = DEFAULT_SEED,
) -> Report:
    """Return the report of checking an already prepared ``function`` (see :func:`user_function`)."""
    from gradcheck.assertions import CheckSettings
    from gradcheck.diagnosis import diagnose
    from gradcheck.search import check_result, search

    settings = CheckSettings(max_examples=max_examples, programs=0, seed=seed, timeout=function.timeout)
    dtype = _dtype(dtype)
    spec = parse_shapes(shapes)
    domains = _domains(domain)
    names_for = _names(function.fn, function.name, names)
    if spec.count is not None:  # known now: say what is wrong before searching
        names_for(spec.count)
        domains(spec.count)
    started = time.perf_counter()
    outputs: set[str] = set()
    state = search(
        _function_cases(function, spec, domains, names_for, dtype, outputs),
        _evaluator(function, dtype),
        max_examples=settings.max_examples,
        seed=settings.seed,
        reference=_function_reference,
    )
    tolerance = function.tolerance_for(dtype)
    result = check_result(
        function.name, FUNCTION_KIND, state, started,
        diagnose=lambda case, failure: diagnose(case, failure, tolerance),
        replay=_replay(function, spec, dtype, domain, settings),
    )
    if not result.failures and result.cases and result.oracle_disagreements == result.cases:
        raise UsageError(
            f"no case of {function.name}() could be checked: on all {result.cases} the references "
            f"were unusable, e.g. {result.oracle_note}."
        )
    return Report(
        target=function.fn_target or function.name, seed=settings.seed, dtype=dtype,
        max_examples=settings.max_examples, results=(result,),
        notes=(_comparison_note(function, tensorflow="tensorflow" in outputs),),
        tolerance=tolerance,
    )


def check_function(
    fn: Callable[..., Any] | str,
    grad_fn: Callable[..., Any] | str | None = None,
    *,
    shapes: Any,
    dtype: str = "float64",
    domain: Any = None,
    reference_fn: Callable[..., Any] | str | None = None,
    max_examples: int = DEFAULT_MAX_EXAMPLES,
    seed: int = DEFAULT_SEED,
    tolerance: float | Tolerance | None = None,
    names: Sequence[str] | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> Report:
    """Search for inputs on which ``grad_fn`` is not the gradient of ``fn``; return the report.

    ``fn(*arrays) -> array`` (NumPy or TensorFlow); ``grad_fn(*arrays,
    cotangent)`` returns the gradient of ``sum(fn(*arrays) * cotangent)``
    w.r.t. each array, one per array (a VJP, as an engine's ``grad``). Without
    ``grad_fn``, the gradient under test is TensorFlow's tape gradient of
    ``fn``: how a ``tf.custom_gradient`` is checked. Either may be a target
    string, ``"path/to/file.py:NAME"`` or ``"package.module:NAME"``.

    ``shapes``: a spec (``"array"``, ``"broadcast:2"``, ... see
    ``SHAPE_SPECS``), a literal tuple of shapes (``((2, 3), (3,))``), or a
    Hypothesis strategy of tuples of shapes. ``domain``: ``(low, high)`` or a
    ``gradcheck.ops.Domain``, shared, or a list with one per array (default
    ``(-3, 3)``); keep it away from kinks and poles of ``fn``. ``dtype``: what
    the arrays are handed in (``"float32"`` or ``"float64"``); the references
    are float64 either way. ``reference_fn``: a NumPy float64 version of
    ``fn``, to check forward values too. ``tolerance``: a relative tolerance
    (default: gradcheck's for the dtype). ``names``: the arrays' names in
    reports (default: ``fn``'s parameters). ``timeout``: seconds one call may
    take.

    Returns a :class:`~gradcheck.results.Report` with one result, of kind
    ``"function"``: ``report.ok``, ``report.results[0].failure`` (the
    minimal case); render it with ``gradcheck.reports.render_report``.

    .. code-block:: pycon

        >>> report = check_function(softplus, softplus_vjp, shapes="array", dtype="float32")
        >>> report.ok
        True
    """
    function = user_function(
        fn, grad_fn, reference_fn=reference_fn, tolerance=tolerance, timeout=timeout
    )
    return check_user_function(
        function, shapes=shapes, dtype=dtype, domain=domain, names=names, max_examples=max_examples, seed=seed
    )


def assert_function_gradients(
    fn: Callable[..., Any] | str,
    grad_fn: Callable[..., Any] | str | None = None,
    **options: Any,
) -> CheckResult:
    """Check ``grad_fn`` against ``fn`` as :func:`check_function` does; raise with the minimal case when wrong.

    Takes :func:`check_function`'s arguments. Returns the ``CheckResult``;
    raises ``gradcheck.assertions.GradientAssertionError`` (an
    ``AssertionError``) whose message is the failure panel the text report
    prints, as ``gradcheck.assert_gradients`` does.

    .. code-block:: pycon

        >>> assert_function_gradients(softplus, softplus_vjp, shapes="array").status
        'passed'
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this function's
    from gradcheck.assertions import GradientAssertionError

    report = check_function(fn, grad_fn, **options)
    result = report.results[0]
    if result.status == "failed":
        raise GradientAssertionError(report, [result])
    return result


def _comparison_note(function: UserFunction, *, tensorflow: bool) -> str:
    """Return the report's note on what was compared with what (``tensorflow``: fn returned tensors)."""
    fn = f"{function.name}()"
    if tensorflow and not function.uses_tape and not function.has_custom_gradient:
        truth = f"TensorFlow's gradient of {fn}, cross-checked by finite differences"
    else:
        truth = f"finite differences of {fn} in float64"
    if function.checks_forward:
        forward = f"its forward values against {_name(function.reference_fn)}()"  # type: ignore[arg-type]
    else:
        forward = "forward values not checked (no reference_fn)"
    return f"{function.gradient_label} checked against {truth}; {forward}."


def _replay(function: UserFunction, spec: ShapeSpec, dtype: str, domain: Any, settings: Any) -> str:
    """Return the command (or, failing that, the call) that replays this search."""
    domain_words = _domain_words(domain)
    targets_known = function.fn_target and (function.uses_tape or function.grad_target) and (
        not function.checks_forward or function.reference_target
    )
    if targets_known and spec.text is not None and domain_words is not None:
        words = ["gradcheck", "check-function", function.fn_target]
        if function.grad_target:
            words += ["--grad", function.grad_target]
        if function.reference_target:
            words += ["--reference", function.reference_target]
        words += ["--shapes", spec.text]
        if dtype != "float64":
            words += ["--dtype", dtype]
        words += domain_words
        if function.tolerance is not None:
            words += ["--rtol", repr(function.tolerance.rtol)]
        if settings.timeout != DEFAULT_TIMEOUT and settings.timeout is not None:
            words += ["--timeout", f"{settings.timeout:g}"]
        words += ["--seed", str(settings.seed), "--max-examples", str(settings.max_examples)]
        return shlex.join(words)
    grad = f", {function.grad_name}" if function.grad_name else ""
    return (f"gradcheck.check_function({function.name}{grad}, ..., seed={settings.seed}, "
            f"max_examples={settings.max_examples})")


def _domain_words(domain: Any) -> list[str] | None:
    """Return ``--domain`` options for ``domain``, or None when the command line cannot spell it."""
    if domain is None:
        return []
    try:
        domains = _domains(domain)
        shared = isinstance(domain, Domain) or not isinstance(domain[0], (tuple, list, Domain))
        listed = domains(1) if shared else domains(len(domain))
    except (UsageError, TypeError, IndexError):
        return None
    words = []
    for item in listed:
        if item.lattice is not None or item.distinct or len(item.intervals) != 1:
            return None
        low, high = item.intervals[0]
        words.append(f"--domain={low!r},{high!r}")
    return words


def parse_domain_option(text: str) -> tuple[float, float]:
    """Return ``--domain LOW,HIGH`` as ``(low, high)``; raise ``UsageError`` saying what to write."""
    parts = text.split(",")
    try:
        low, high = (float(part) for part in parts)
    except ValueError:
        low = high = float("nan")
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise UsageError(
            f"--domain={text!r} is not LOW,HIGH with LOW < HIGH, both finite numbers; e.g. "
            "--domain=0.25,4 (write --domain=LOW,HIGH with '=' when LOW is negative: --domain=-1,1)."
        )
    return low, high

