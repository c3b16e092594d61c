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
check (``"function"``) in the same reports. The package's modules:

* ``_arguments``: the functions (objects or targets), dtype, tolerance, array names;
* ``_shapes``: shape specs and domains, and their command-line spelling;
* ``_cases``: the strategy that draws cases (``FunctionCase``);
* ``_engine``: the function run as an engine (its calls named as the user's);
* ``_report``: the report's comparison note and replay command.

The computation itself (``UserFunction``, ``FunctionCase``) is
``gradcheck.function_case``: the oracles, the diagnosis and the reproducer
use it too.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

from gradcheck.errors import UsageError
from gradcheck.function._arguments import (
    array_names,
    checked_dtype,
    checked_tolerance,
    function_argument,
    function_name,
)
from gradcheck.function._cases import function_cases
from gradcheck.function._engine import evaluator, reference
from gradcheck.function._report import comparison_note, replay_command
from gradcheck.function._shapes import (
    SHAPE_SPEC_NAMES,
    SHAPE_SPECS,
    ShapeSpec,
    domains_for,
    parse_domain_option,
    parse_shapes,
)
from gradcheck.function_case import FUNCTION_KIND, UserFunction
from gradcheck.loading import load_function, load_object
from gradcheck.results import CheckResult, Report
from gradcheck.settings import DEFAULT_MAX_EXAMPLES, DEFAULT_SEED, DEFAULT_TIMEOUT
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
    fn, fn_target = function_argument(fn, "function", "fn")
    grad_target = grad_name = None
    if grad_fn is not None:
        grad_fn, grad_target = function_argument(grad_fn, "gradient", "grad_fn")
        grad_name = function_name(grad_fn)
    reference_target = None
    if reference_fn is not None:
        reference_fn, reference_target = function_argument(reference_fn, "reference function", "reference_fn")
    return UserFunction(
        fn=fn, grad_fn=grad_fn, name=function_name(fn), tolerance=checked_tolerance(tolerance),
        reference_fn=reference_fn, timeout=timeout, fn_target=fn_target, grad_target=grad_target,
        reference_target=reference_target, grad_name=grad_name,
    )


def check_user_function(
    function: UserFunction,
    *,
    shapes: Any,
    dtype: str = "float64",
    domain: Any = None,
    names: Sequence[str] | None = None,
    max_examples: int = DEFAULT_MAX_EXAMPLES,
    seed: int = DEFAULT_SEED,
    on_example: Callable[[], None] | None = None,
) -> Report:
    """Return the report of checking an already prepared ``function`` (see :func:`user_function`).

    ``on_example()`` is called as each drawn example starts (for progress).
    """
    from gradcheck.assertions import CheckSettings
    from gradcheck.diagnosis import diagnose
    from gradcheck.search import check_result, search

    settings = CheckSettings(max_examples=max_examples, programs=0, seed=seed, timeout=function.timeout)
    dtype = checked_dtype(dtype)
    spec = parse_shapes(shapes)
    domains = domains_for(domain)
    names_for = array_names(function.fn, function.name, names)
    if spec.count is not None:  # known now: say what is wrong before searching
        names_for(spec.count)
        domains(spec.count)
    started = time.perf_counter()
    outputs: set[str] = set()
    state = search(
        function_cases(function, spec, domains, names_for, dtype, outputs),
        evaluator(function, dtype),
        max_examples=settings.max_examples,
        seed=settings.seed,
        reference=reference,
        on_example=on_example,
    )
    tolerance = function.tolerance_for(dtype)
    result = check_result(
        function.name, FUNCTION_KIND, state, started,
        diagnose=lambda case, failure: diagnose(case, failure, tolerance),
        replay=replay_command(function, spec, dtype, domain, settings),
    )
    if not result.failures and result.cases and result.oracle_disagreements == result.cases:
        raise UsageError(
            f"no case of {function.name}() could be checked: on all {result.cases} the references "
            f"were unusable, e.g. {result.oracle_note}."
        )
    return Report(
        target=function.fn_target or function.name, seed=settings.seed, dtype=dtype,
        max_examples=settings.max_examples, results=(result,),
        notes=(comparison_note(function, tensorflow="tensorflow" in outputs),),
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
