"""Reproducers: for each failed check, a standalone pytest file a student can step through.

``write_reproducers`` writes ``DIR/repro_<check>.py`` (``repro_matmul.py``,
``repro_programs.py``) with one test per failure category of the check
(``test_matmul_mismatch``, ``test_matmul_shape``, ...). Each test holds the
minimal failing case as array literals, loads the user's engine by the same
TARGET string ``gradcheck check`` was given, and calls the engine's *own*
functions line by line (``y = engine.matmul(a, b)``, ``engine.grad(y, [a, b],
cotangent)``), so a debugger steps straight into the user's code. It fails on
the buggy engine and passes once the bug is fixed.

A generated file imports NumPy and ``gradcheck.engine.load_engine`` only: no
TensorFlow, no Hypothesis, nothing of gradcheck's checking machinery. Run as
a script (``python repro_matmul.py``), it runs pytest on itself and exits
with pytest's status, so the failure shows either way. What it
asserts was computed here, at generation time: the forward value with the
op's NumPy reference (``gradcheck.ops``), the gradient from the failure the
oracles produced; the tolerance is gradcheck's (``gradcheck.tolerances``),
written out as two numbers and one formula.

The writer prints nothing: ``render_report``, which calls it, says where the
files went.

.. code-block:: pycon

    >>> write_reproducers(report, "reports", engine)
    {'matmul': PosixPath('reports/repro_matmul.py')}

``gradcheck.reports.render_report`` calls it when it is given the engine,
and renders the report with each failure naming its file.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import textwrap
from pathlib import Path
from typing import Any, Protocol, Sequence, Union

import numpy as np

from gradcheck._literals import python_value
from gradcheck.case import Case
from gradcheck.higher import FORWARD, ORDER2, Derived, base_check, mode_of_check
from gradcheck.ops import OPS, REQUIRED
from gradcheck.program import OUTPUT, ProgramCase, Step
from gradcheck.reports import write_atomically
from gradcheck.reports.display import (
    JVP,
    JVP_GRAD_CONSISTENCY,
    MADE_WITH_CREATE_GRAPH,
    SECOND_DERIVATIVE,
    array_text,
    compared,
    comparison_title,
    replay_command,
)
from gradcheck.results import CheckResult, Failure, Report
from gradcheck.function_case import FUNCTION_KIND, UserFunction, function_terms
from gradcheck.tolerances import DEFAULT_TOLERANCES, Tolerance

__all__ = ["EngineFacts", "reproducer_path", "reproducer_source", "write_reproducers"]

#: Generated code is kept to this width where a literal allows.
LINE_WIDTH = 88
_INDENT = "    "

Computation = Union[Case, ProgramCase]


class EngineFacts(Protocol):
    """What the generated code needs to know about the engine beyond the report.

    ``gradcheck.engine.Engine``, ``gradcheck.isolation.IsolatedEngine`` and
    a report's own ``gradcheck.results.EngineRecord`` all qualify.
    """

    @property
    def aliases(self) -> dict[str, str]: ...

    @property
    def grad_takes_cotangent(self) -> bool: ...


# --- the public functions ---------------------------------------------------


def reproducer_path(report_dir: str | os.PathLike[str], check: str) -> Path:
    """Return where the reproducer of ``check`` goes: ``DIR/repro_<check>.py``."""
    return Path(report_dir) / f"repro_{_identifier(check)}.py"


def write_reproducers(
    report: Report, report_dir: str | os.PathLike[str], engine: EngineFacts
) -> dict[str, Path]:
    """Write a reproducer for each failed check of ``report``; return each check's file.

    ``engine`` is the engine the report was made with: the generated code
    calls its ops by the names it defines (``mul`` for ``multiply``) and
    passes a cotangent to ``grad`` only if it takes one. Paths are as
    ``report_dir`` spells them (a relative folder gives paths relative to the
    current folder); ``Report.with_reproducers`` puts them in a report. Files
    are written whole or not at all; nothing is printed.
    """
    checked_from = os.getcwd()
    written: dict[str, Path] = {}
    for result in report.results:
        if result.status != "failed" or not result.failures:
            continue
        if result.kind == FUNCTION_KIND and not _function_importable(engine):
            continue  # a function given as an object, not by a target: nothing to import it by
        path = reproducer_path(report_dir, result.check)
        source = reproducer_source(report, result, engine, path=path, checked_from=checked_from)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, lambda stream: stream.write(source))
        written[result.check] = path
    return written


def reproducer_source(
    report: Report,
    result: CheckResult,
    engine: EngineFacts,
    *,
    path: str | os.PathLike[str],
    checked_from: str,
) -> str:
    """Return the Python source of ``result``'s reproducer (to be saved at ``path``).

    ``checked_from`` is the absolute folder the check ran in: a relative
    TARGET is looked up there when it leads nowhere from where pytest runs.
    For a user's function (``kind == "function"``), ``engine`` is the
    ``gradcheck.function_case.UserFunction`` that was checked.
    """
    dtype = report.dtype or "float64"
    if result.kind == FUNCTION_KIND:
        return _function_source(report, result, engine, Path(path), checked_from)  # type: ignore[arg-type]
    tests = [(_DerivedTestWriter if failure.mode in _DERIVED_MODES else _TestWriter)(result, failure, engine, dtype)
             for failure in result.failures]
    header = [
        _module_docstring(report, result, tests, Path(path)),
        _imports([report.target], checked_from, "from gradcheck.engine import load_engine"),
        _target_block(report.target, checked_from),
        _tolerance_block(dtype, report.tolerance),
    ]
    return _module(header, [_HELPERS, *(test.source() for test in tests)])


def _module(header: Sequence[str], definitions: Sequence[str]) -> str:
    # PEP 8: one blank line between the header's blocks, two around functions.
    return "\n\n".join(part.strip("\n") for part in header) + "\n\n\n" + "\n\n\n".join(
        part.strip("\n") for part in [*definitions, _RUN_AS_SCRIPT]
    ) + "\n"


# Ends every reproducer: ``python repro_x.py`` runs its tests with pytest (extra
# arguments, such as --trace, passed on) and exits with pytest's status, where
# without it the file would define its tests and exit 0 having checked nothing.
_RUN_AS_SCRIPT = '''
if __name__ == "__main__":
    import sys

    import pytest

    sys.exit(pytest.main([__file__, *sys.argv[1:]]))
'''


# --- the module around the tests ---------------------------------------------


def _module_docstring(
    report: Report, result: CheckResult, tests: Sequence["_TestWriter | _FunctionTestWriter"], path: Path,
    calls: str = "your engine's own functions",
) -> str:
    """Return the file's docstring: what failed, how to run it, debug it and replay the search."""
    subject = result.check
    if result.kind == "program":
        mode = mode_of_check(result.check)
        subject = "the composite programs" + (f" ({mode})" if mode else "")
    width = max(len(test.name) for test in tests) + 2
    listing = "\n".join(
        _hanging(test.name.ljust(width), _sentence(test.failure.message), width=LINE_WIDTH) for test in tests
    )
    pytest_command = f"pytest {shlex.quote(str(path))}"
    text = "\n".join([
        f"Reproduce gradcheck's failure{'s' if len(tests) > 1 else ''} of {subject} on {report.target}.",
        "",
        "Each test replays one way it went wrong, on the smallest case gradcheck found:",
        "",
        textwrap.indent(listing, _INDENT),
        "",
        "Run it: it fails until the bug is fixed, then passes.",
        "",
        f"{_INDENT}{pytest_command}",
        "",
        _fill(f"(`python {shlex.quote(str(path))}` does the same: it runs pytest on this file.)"),
        "",
        _fill(
            f"Each test calls {calls} line by line, so a debugger steps "
            f"straight into your code: `pytest --trace {shlex.quote(str(path))}` stops at the "
            "start of each test (`s` steps into a call, `n` runs to the next line)."
        ),
        "",
        _fill(
            "A test checks what gradcheck found wrong on its case (its docstring says what), "
            "with gradcheck's tolerance; passing means these cases are fixed, not every case. "
            "Replay the whole search to be sure:"
        ),
        "",
        f"{_INDENT}{replay_command(report, result)}",
    ])
    return f'"""{_docstring_safe(text)}\n"""'


def _imports(targets: Sequence[str], checked_from: str, loader: str, third_party: Sequence[str] = ()) -> str:
    """Return the import lines: NumPy and the ``loader`` import, plus what finding the targets needs."""
    # os to look for a relative file, sys to look for a module; an absolute path needs neither.
    stdlib = []
    if any(_relative_file(target, checked_from) is not None for target in targets):
        stdlib.append("import os")
    if any(_is_module(target, checked_from) for target in targets):
        stdlib.append("import sys")
    blocks = ["\n".join(stdlib), "\n".join(["import numpy as np", *third_party]), loader]
    return "\n\n".join(block for block in blocks if block)


def _is_module(target: str, checked_from: str) -> bool:
    return _relative_file(target, checked_from) is None and not os.path.isabs(target)


def _target_block(target: str, checked_from: str) -> str:
    """Return the lines that set TARGET: as given to gradcheck, found from anywhere."""
    if _relative_file(target, checked_from) is not None:
        comment = [
            "# The engine, exactly as `gradcheck check` was given it. The path is relative to",
            "# the folder the check ran in, where it is looked for when it leads nowhere from here.",
        ]
    else:
        comment = ["# The engine, exactly as `gradcheck check` was given it."]
    return "\n".join([
        *comment, *_target_assignment("TARGET", target, checked_from), *_module_path([target], checked_from),
    ])


def _target_assignment(variable: str, target: str, checked_from: str) -> list[str]:
    """Return ``VARIABLE = "target"``, looked up from ``checked_from`` too when it is a relative file."""
    lines = [f"{variable} = {_string(target)}"]
    relative_file = _relative_file(target, checked_from)
    if relative_file is not None:
        lines += [
            f"if not os.path.exists({_string(relative_file)}):",
            f"{_INDENT}{variable} = {_string(os.path.join(checked_from, target))}",
        ]
    return lines


def _module_path(targets: Sequence[str], checked_from: str) -> list[str]:
    """Return the lines that let a module target be found from anywhere (none for files)."""
    if not any(_is_module(target, checked_from) for target in targets):
        return []
    return [
        "# A module is looked for from the current folder first, then from the folder",
        "# the check ran in.",
        f"sys.path.append({_string(checked_from)})",
    ]


def _relative_file(target: str, checked_from: str) -> str | None:
    """Return the relative file ``target`` names (``x.py`` of ``x.py:NAME``), if it is one.

    Decided by what exists in ``checked_from`` rather than by parsing the
    target, so it agrees with what the engine loader found there.
    """
    source = target.rpartition(":")[0]
    for candidate in (target, source):
        if candidate and not os.path.isabs(candidate) and os.path.isfile(os.path.join(checked_from, candidate)):
            return candidate
    return None


def _tolerance_block(dtype: str, tolerance: Tolerance | None = None, what: str = "engines") -> str:
    """Return RTOL and FLOOR of the tolerance (default: gradcheck's for ``dtype``), and the formula."""
    tolerance = tolerance or DEFAULT_TOLERANCES[dtype]
    return "\n".join([
        f"# gradcheck's tolerance for {dtype} {what} (gradcheck/tolerances.py): an entry may be",
        "# off by RTOL * sqrt(terms) * (|expected entry| + max |expected| + FLOOR), where",
        "# terms counts the numbers one entry sums (rounding errors add up).",
        f"RTOL = {tolerance.rtol!r}",
        f"FLOOR = {tolerance.floor!r}",
    ])


# The helpers every reproducer carries: plain NumPy, the same comparison gradcheck makes.
_HELPERS = '''
def as_array(x):
    """Return a copy of ``x`` (what value() or grad() returned) as a NumPy array."""
    if callable(getattr(x, "numpy", None)):  # tf.Tensor, torch.Tensor
        x = x.numpy()
    return np.array(x)


def as_arrays(grads):
    """Return what grad() returned as a list of arrays (one bare array is one gradient)."""
    if not isinstance(grads, (list, tuple)):
        grads = [grads]
    return [as_array(g) for g in grads]


def check_close(actual, expected, what, terms=1):
    """Assert that ``actual`` has ``expected``'s shape, and its values within tolerance."""
    assert actual.shape == expected.shape, (
        f"{what} has shape {actual.shape}, expected {expected.shape}"
    )
    actual = actual.astype(np.float64)
    finite = np.isfinite(expected)
    assert np.all(np.isfinite(actual) | ~finite), (
        f"{what} has NaN or inf where the reference is finite:\\n{actual}"
    )
    largest = np.max(np.abs(expected), initial=0.0, where=finite)
    bound = RTOL * np.sqrt(terms) * (np.abs(expected) + largest + FLOOR)
    wrong = finite & ~(np.abs(actual - expected) <= bound)
    assert not np.any(wrong), (
        f"{what} differs from the reference at {np.argwhere(wrong).tolist()}:\\n"
        f"expected {expected}\\nactual   {actual}"
    )
'''


# --- one test per failure -----------------------------------------------------


# What a test says before calling the engine, for the categories whose test
# has nothing to compare that says so by itself.
_CATEGORY_NOTES = {
    "exception": (
        "gradcheck saw this raise: {message}. Running it raises again, and pytest "
        "shows your engine's own traceback."
    ),
    "timeout": (
        "gradcheck stopped this after its time limit: {message}. If it hangs here too, "
        "interrupt it (Ctrl-C): the traceback shows where it was."
    ),
    "crash": (
        "gradcheck's worker process died running this: {message}. It may take pytest "
        "down too; `pytest --trace` lets you step up to the call that does it."
    ),
    "mutation": (
        "gradcheck saw your engine write into an array it was handed: {message}. It "
        "gets copies here, compared with the originals after the calls."
    ),
    "nondeterministic": (
        "gradcheck ran this twice, on fresh variables, and got different answers: "
        "the second run must give what the first gave."
    ),
}


def _position(failures: Sequence[Failure], failure: Failure) -> int:
    """Return where ``failure`` itself (not an equal one) sits in ``failures``."""
    return next(index for index, other in enumerate(failures) if other is failure)


class _FailureTest:
    """What every test written for one failure knows: its name, the inputs' names, the gradient named."""

    def __init__(self, result: CheckResult, failure: Failure, dtype: str) -> None:
        self.failure = failure
        self.dtype = dtype
        # A category may repeat within a check (two distinct bugs): the second is ``..._2``.
        earlier = [other.category for other in result.failures[:_position(result.failures, failure)]]
        repeat = earlier.count(failure.category)
        suffix = f"_{repeat + 1}" if repeat else ""
        self.name = f"test_{_identifier(result.check)}_{_identifier(failure.category)}{suffix}"
        # Python names for the operands: xs[0] of a variadic op is the variable xs_0.
        self.names = [_variable(record.name) for record in failure.inputs]
        # The gradient the failure names, if gradcheck recorded what it should be.
        named = failure.wrt in [record.name for record in failure.inputs] and failure.expected is not None
        self.wrt = _variable(failure.wrt) if named and failure.wrt is not None else None

    def calls(self, handed_copies: bool) -> list[str]:
        """Return the calls of the test, run twice in one loop for a nondeterministic failure."""
        calls = self._calls(handed_copies=handed_copies)
        if self.failure.category != "nondeterministic":
            return calls
        # One engine for both runs: state it keeps between calls is the bug.
        return [
            "answers = []",
            "for _ in range(2):",
            *(_INDENT + line for line in calls),
            f"{_INDENT}answers.append((y_value, grads))",
            "(y_value, grads), (y_again, grads_again) = answers",
        ]

    def docstring(self, checked: Sequence[str]) -> str:
        """Return the test's docstring: what went wrong, the diagnosis, what the test checks."""
        unchecked = ""
        if not self.compares_values() and self.failure.category not in ("forward", "nondeterministic"):
            unchecked = (" Gradient values are not compared: gradcheck recorded no expected gradient "
                         "for this failure.")
        paragraphs = [_sentence(self.failure.message)]
        if self.failure.diagnosis:
            paragraphs.append(f"Diagnosis: {_sentence(self.failure.diagnosis)}")
        paragraphs.append(f"Checks {_series(checked)}.{unchecked}")
        width = LINE_WIDTH - 2 * len(_INDENT)
        return "\n\n".join(_fill(paragraph, width=width) for paragraph in paragraphs)

    def compares_values(self) -> bool:
        """Whether the test compares derivative values (gradcheck recorded what they should be)."""
        return self.wrt is not None

    def wrap(self, body: Sequence[str], checked: Sequence[str]) -> str:
        """Return the test function's source, at module level, around ``body``."""
        docstring = textwrap.indent(_docstring_safe(self.docstring(checked)), _INDENT)
        lines = [f"def {self.name}():", f'{_INDENT}"""{docstring.lstrip()}', f'{_INDENT}"""']
        lines += [_INDENT + line if line else "" for line in body]
        return "\n".join(lines)

    def _calls(self, *, handed_copies: bool) -> list[str]:
        """Return the calls into the user's code, once (each writer knows its own)."""
        raise NotImplementedError


class _TestWriter(_FailureTest):
    """One failure of a check as one test function: its literals, calls and asserts."""

    def __init__(self, result: CheckResult, failure: Failure, engine: EngineFacts, dtype: str) -> None:
        super().__init__(result, failure, dtype)
        self.engine = engine
        self.computation, self.steps = _computation(result, failure, dtype)
        self.expected_y = np.asarray(self.computation.reference(*self.computation.inputs), dtype=np.float64)
        self.cotangent = (
            np.ones_like(self.expected_y) if failure.cotangent is None else np.asarray(failure.cotangent)
        )

    def source(self) -> str:
        """Return the test function's source, at module level."""
        mutation = self.failure.category == "mutation"
        repeated = self.failure.category == "nondeterministic"
        calls = self.calls(handed_copies=mutation)
        asserts, checked = self._asserts(mutation=mutation, repeated=repeated)
        body = [
            *self._literals(),
            "",
            *_comment_lines(self._note()),
            "engine = load_engine(TARGET, quiet_tensorflow=False).obj",
            *calls,
            "",
            *asserts,
        ]
        return self.wrap(body, checked)

    # -- pieces of the test, in order --

    def _case_literals(self) -> list[str]:
        """Return the failing case's inputs and cotangent as literals, as the engine was handed them."""
        lines = ["# The smallest failing case gradcheck found, as your engine was handed it."]
        for record in self.failure.inputs:
            lines.append(_assignment(f"{_variable(record.name)}_array", record.values, record.dtype))
        if self.engine.grad_takes_cotangent:
            lines.append(_assignment("cotangent", self.cotangent, self.dtype))
        return lines

    def _literals(self) -> list[str]:
        """Return the case, what a correct engine gives and what the engine gave."""
        lines = self._case_literals()
        lines.append("# What a correct engine gives: the forward value, from NumPy.")
        lines.append(_assignment("expected_y", self.expected_y, "float64"))
        if self.wrt is not None:
            lines.append("# The gradient, from gradcheck's oracles (TensorFlow checked by finite differences).")
            lines.append(_assignment(f"expected_grad_{self.wrt}", self.failure.expected, "float64"))
        if self.failure.actual is not None:
            lines.append(f"# gradcheck saw your engine return, for the {comparison_title(self.failure)}:")
            lines += _comment_lines(array_text(self.failure.actual, max_line_width=LINE_WIDTH - 12), indent=2)
        return lines

    def _note(self) -> str | None:
        """Return what to know before the calls (grad's signature, the category), if anything."""
        notes = []
        if not self.engine.grad_takes_cotangent:
            notes.append("Your grad() takes no cotangent: it means all ones, which is what gradcheck used.")
        template = _CATEGORY_NOTES.get(self.failure.category)
        if template:
            notes.append(template.format(message=self.failure.message))
        return " ".join(notes) or None

    def _calls(self, *, handed_copies: bool) -> list[str]:
        """Return the engine calls: variables, the op or program, value and grad.

        With ``handed_copies`` the engine gets copies of the literals, which
        the mutation asserts then compare with the literals.
        """
        cotangent = "cotangent_handed" if handed_copies else "cotangent"
        xs = f"[{', '.join(self.names)}]"
        grad_args = f"{OUTPUT}, {xs}, {cotangent}" if self.engine.grad_takes_cotangent else f"{OUTPUT}, {xs}"
        return [*self._forward_calls(handed_copies=handed_copies), f"grads = as_arrays(engine.grad({grad_args}))"]

    def _forward_calls(self, *, handed_copies: bool) -> list[str]:
        """Return the calls up to the forward value: copies to hand over, variables, the op or program, value."""
        lines: list[str] = []
        handed = "handed" if handed_copies else "array"
        if handed_copies:
            lines += [f"{name}_handed = {name}_array.copy()" for name in self.names]
            if self.engine.grad_takes_cotangent:
                lines.append("cotangent_handed = cotangent.copy()")
        lines += [f"{name} = engine.variable({name}_{handed})" for name in self.names]
        lines += [self._step_line(step) for step in self.steps]
        lines.append(f"{OUTPUT}_value = as_array(engine.value({OUTPUT}))")
        return lines

    def _forward_asserts(self, *, mutation: bool) -> tuple[list[str], list[str]]:
        """Return the asserts every test starts with (nothing handed was changed, the forward value), and their words."""
        lines: list[str] = []
        checked: list[str] = []
        if mutation:
            lines += self._handed_asserts()
            checked.append("that no array handed to your engine changes")
        forward_terms = self.computation.terms(self.expected_y.shape)
        lines.append(f'check_close(y_value, expected_y, "the forward value", terms={forward_terms})')
        checked.append("the forward value")
        return lines, checked

    def _handed_asserts(self) -> list[str]:
        """Return the asserts that the copies handed to the engine still equal the literals."""
        lines = [f"assert np.array_equal({name}_handed, {name}_array), "
                 f"\"your engine changed the array handed to variable() for {name}\"" for name in self.names]
        if self.engine.grad_takes_cotangent:
            lines.append("assert np.array_equal(cotangent_handed, cotangent), "
                         "\"your engine changed the cotangent handed to grad()\"")
        return lines

    def _step_line(self, step: Step) -> str:
        """Return ``t0 = engine.matmul(x0, x1)``: one step, called as gradcheck calls it."""
        spec = OPS[step.op]
        # A hand-written or older report may leave out parameters at their defaults.
        defaults = {param.name: param.default for param in spec.params if param.default is not REQUIRED}
        function = self.engine.aliases.get(step.op, spec.engine_function)
        return f"{step.out} = engine.{spec.call_text(list(step.args), {**defaults, **step.params}, function)}"

    def _asserts(self, *, mutation: bool, repeated: bool) -> tuple[list[str], list[str]]:
        """Return the assert lines, and what they check in words (for the docstring)."""
        lines, checked = self._forward_asserts(mutation=mutation)
        forward_terms = self.computation.terms(self.expected_y.shape)
        count = len(self.names)
        lines.append(f'assert len(grads) == {count}, f"grad() returned {{len(grads)}} gradient(s) '
                     f'for {count} input(s)"')
        checked.append("the number of gradients")
        if self.wrt is not None:
            index = self.names.index(self.wrt)
            terms = self.computation.terms(self.expected_y.shape, wrt=index)
            lines.append(f'check_close(grads[{index}], expected_grad_{self.wrt}, '
                         f'"the gradient w.r.t. {self.wrt}", terms={terms})')
            checked.append(f"the gradient w.r.t. {self.wrt} (shape and values)")
        if repeated:
            lines += [
                f'check_close(y_again, y_value, "the forward value, run again", terms={forward_terms})',
                "assert len(grads_again) == len(grads), \"grad() returned another number of gradients\"",
                "for index, (grad, grad_again) in enumerate(zip(grads, grads_again)):",
                f'{_INDENT}check_close(grad_again, grad, f"gradient {{index}}, run again")',
            ]
            checked.append("that a second run gives the same answers")
        return lines, checked


#: The modes of a derived check (gradcheck.higher) that ``_DerivedTestWriter`` writes tests for.
_DERIVED_MODES = (ORDER2, FORWARD)


class _DerivedTestWriter(_TestWriter):
    """One failure of an order-2 or forward-mode check (``gradcheck.higher``) as one test function.

    The calls are gradcheck's own for the mode. Order 2: ``grad(...,
    create_graph=True)``, the first-order values through ``value()``, then for
    each gradient ``g_j`` the VJP ``grad(g_j, xs, v_j)`` along its direction,
    summed over ``j`` (the second derivative along the directions). Forward
    mode: ``jvp(y, xs, tangents)``, and ``grad`` for the agreement of the two.
    The test compares what the failure says differed, with gradcheck's tolerance.
    """

    def __init__(self, result: CheckResult, failure: Failure, engine: EngineFacts, dtype: str) -> None:
        super().__init__(result, failure, engine, dtype)
        self.mode = failure.mode or ORDER2
        self.subject = compared(failure)
        self.prefix = "direction" if self.mode == ORDER2 else "tangent"
        self.derived = Derived(self.computation, self.mode,
                               tuple(np.asarray(record.values, dtype=np.float64) for record in failure.directions))
        if len(failure.directions) != len(self.names):
            raise ValueError(
                f"the {self.mode} failure of {result.check} has {len(failure.directions)} direction(s) for "
                f"{len(self.names)} input(s): a report's derived failure holds one per input (docs/contract.md, section 3)")
        # The array compared by value, and what it is called in the test: ``expected_second_x``, ``expected_jvp``.
        self.expected = None
        if failure.expected is not None and self.subject in (MADE_WITH_CREATE_GRAPH, SECOND_DERIVATIVE) \
                and self.wrt is not None:
            kind = "grad" if self.subject == MADE_WITH_CREATE_GRAPH else "second"
            self.expected = f"expected_{kind}_{self.wrt}"
        elif failure.expected is not None and self.subject == JVP:
            self.expected = "expected_jvp"

    def compares_values(self) -> bool:
        return self.expected is not None or self.subject == JVP_GRAD_CONSISTENCY

    # -- pieces of the test, in order --

    def _literals(self) -> list[str]:
        lines = self._case_literals()
        lines += _comment_lines(
            "The directions v of the second derivative, one per gradient: the test takes the VJP of gradient j "
            "along v_j and sums over j." if self.mode == ORDER2 else
            "The tangents t, one per input: the JVP is the derivative of y along them.")
        for name, record in zip(self.names, self.failure.directions):
            lines.append(_assignment(f"{self.prefix}_{name}", record.values, record.dtype))
        lines.append("# What a correct engine gives: the forward value, from NumPy.")
        lines.append(_assignment("expected_y", self.expected_y, "float64"))
        if self.expected is not None:
            lines += _comment_lines(f"The {comparison_title(self.failure)}, from gradcheck's oracles ("
                                    + ("TensorFlow's nested tapes checked by finite differences of its VJP)."
                                       if self.mode == ORDER2 else
                                       "TensorFlow checked by finite differences of the forward value)."))
            lines.append(_assignment(self.expected, self.failure.expected, "float64"))
        if self.failure.actual is not None:
            lines.append(f"# gradcheck saw your engine return, for the {comparison_title(self.failure)}:")
            lines += _comment_lines(array_text(self.failure.actual, max_line_width=LINE_WIDTH - 12), indent=2)
        return lines

    def calls(self, handed_copies: bool) -> list[str]:
        calls = self._calls(handed_copies=handed_copies)
        if self.failure.category != "nondeterministic":
            return calls
        answer = "[*firsts, *seconds]" if self.mode == ORDER2 else "[jvp]"
        return [
            "answers = []",
            "for _ in range(2):",
            *(_INDENT + line for line in calls),
            f"{_INDENT}answers.append((y_value, {answer}))",
            "(y_value, answer), (y_again, answer_again) = answers",
        ]

    def _calls(self, *, handed_copies: bool) -> list[str]:
        """Return the engine calls: the forward value as at order 1, then the mode's own calls."""
        lines = self._forward_calls(handed_copies=handed_copies)
        cotangent = "cotangent_handed" if handed_copies else "cotangent"
        xs = f"[{', '.join(self.names)}]"
        directions = f"[{', '.join(f'{self.prefix}_{name}' for name in self.names)}]"
        count = len(self.names)
        if self.mode == FORWARD:
            lines.append(f"jvp = as_array(engine.jvp({OUTPUT}, {xs}, {directions}))")
            if self.engine.grad_takes_cotangent:
                lines.append(f"grads = as_arrays(engine.grad({OUTPUT}, {xs}, {cotangent}))")
            return lines
        shapes = f"[{', '.join(f'{name}_array.shape' for name in self.names)}]"
        return lines + [
            f"made = engine.grad({OUTPUT}, {xs}, {cotangent}, create_graph=True)",
            "made = list(made) if isinstance(made, (list, tuple)) else [made]",
            "firsts = [as_array(engine.value(g)) for g in made]",
            f'assert len(firsts) == {count}, f"grad(..., create_graph=True) returned {{len(firsts)}} gradient(s) '
            f'for {count} input(s)"',
            f"assert [first.shape for first in firsts] == {shapes}, (",
            f'{_INDENT}f"the gradients made with create_graph=True have shapes {{[first.shape for first in firsts]}}"',
            ")",
            "# The second derivative along the directions: the VJP of each gradient along its",
            "# direction, summed over the gradients.",
            f"seconds = [np.zeros(shape) for shape in {shapes}]",
            f"for g, direction in zip(made, {directions}):",
            f"{_INDENT}again = as_arrays(engine.grad(g, {xs}, direction))",
            f"{_INDENT}assert [part.shape for part in again] == {shapes}, (",
            f'{_INDENT * 2}f"grad() of a gradient made with create_graph=True returned shapes "',
            f'{_INDENT * 2}f"{{[part.shape for part in again]}}: one array per x, shaped like it (zeros "',
            f'{_INDENT * 2}"for an x the gradient does not depend on)"',
            f"{_INDENT})",
            f"{_INDENT}seconds = [total + part.astype(np.float64) for total, part in zip(seconds, again)]",
        ]

    def _asserts(self, *, mutation: bool, repeated: bool) -> tuple[list[str], list[str]]:
        lines, checked = self._forward_asserts(mutation=mutation)
        forward_terms = self.computation.terms(self.expected_y.shape)
        if self.mode == ORDER2:
            checked.append("the number and shapes of the gradients made with create_graph=True and of their VJPs")
        what = comparison_title(self.failure)
        if self.expected is not None and self.subject == JVP:
            lines.append(f'check_close(jvp, {self.expected}, "the {what}", terms={forward_terms})')
            checked.append(f"the {what} (shape and values)")
        elif self.expected is not None and self.wrt is not None:
            index = self.names.index(self.wrt)
            array = "firsts" if self.subject == MADE_WITH_CREATE_GRAPH else "seconds"
            terms = (self.computation.terms(self.expected_y.shape, wrt=index) if array == "firsts"
                     else self.derived.terms(self.expected_y.shape, wrt=index))
            lines.append(f'check_close({array}[{index}], {self.expected}, "the {what}", terms={terms})')
            checked.append(f"the {what} (shape and values)")
        elif self.subject == JVP_GRAD_CONSISTENCY and self.engine.grad_takes_cotangent:
            lines += self._consistency_asserts(forward_terms)
            checked.append("that <u, J t> from jvp() equals <J^T u, t> from grad()")
        if repeated:
            lines += [
                f'check_close(y_again, y_value, "the forward value, run again", terms={forward_terms})',
                "for index, (first, again) in enumerate(zip(answer, answer_again)):",
                f'{_INDENT}check_close(again, first, f"array {{index}} ({self._answer_words()}), run again")',
            ]
            checked.append("that a second run gives the same answers")
        return lines, checked

    def _answer_words(self) -> str:
        return ("the gradients made with create_graph=True, then the second derivatives" if self.mode == ORDER2
                else "the JVP")

    def _consistency_asserts(self, forward_terms: int) -> list[str]:
        """Return gradcheck's check that ``<u, J t>`` (jvp) and ``<J^T u, t>`` (grad) agree, with its bound."""
        terms = max(forward_terms, 1) * max(1, int(np.size(self.cotangent)))
        tangents = f"[{', '.join(f'{self.prefix}_{name}' for name in self.names)}]"
        return [
            "# <u, J t> two ways: from jvp(), and from grad() (<J^T u, t>); they may differ by",
            "# RTOL * sqrt(terms) * (the sum of |every product| + FLOOR), as gradcheck allows.",
            "along_u = float(np.sum(cotangent * jvp.astype(np.float64)))",
            f"through_grad = float(sum(np.sum(g.astype(np.float64) * t) for g, t in zip(grads, {tangents})))",
            "scale = float(np.sum(np.abs(cotangent * jvp))) + float(",
            f"{_INDENT}sum(np.sum(np.abs(g * t)) for g, t in zip(grads, {tangents}))",
            ")",
            f"bound = RTOL * np.sqrt({terms}) * (scale + FLOOR)",
            "assert abs(along_u - through_grad) <= bound, (",
            f'{_INDENT}f"jvp() and grad() disagree: <u, J t> is {{along_u:.6g}} from jvp() and "',
            f'{_INDENT}f"{{through_grad:.6g}} from grad(), a difference of {{abs(along_u - through_grad):.3g}} "',
            f'{_INDENT}f"beyond {{bound:.3g}}"',
            ")",
        ]


def _computation(result: CheckResult, failure: Failure, dtype: str) -> tuple[Computation, tuple[Step, ...]]:
    """Return the failure's case as a computation (for the reference and tolerances) and its steps."""
    names = tuple(record.name for record in failure.inputs)
    inputs = tuple(np.asarray(record.values, dtype=np.float64) for record in failure.inputs)
    cotangent = np.ones(()) if failure.cotangent is None else np.asarray(failure.cotangent)
    if result.kind == "program":
        return ProgramCase(names, inputs, failure.steps, cotangent, dtype), failure.steps
    # A report loaded from JSON has lists where the run had tuples (axis, shape).
    params = {name: python_value(value) for name, value in failure.params.items()}
    op = base_check(result.check)  # a derived check (``tanh (order 2)``) calls the op itself
    steps = (Step(OUTPUT, op, tuple(map(_variable, names)), params),)
    return Case(op, names, inputs, params, cotangent, dtype), steps


# --- a user's function (``gradcheck check-function``) ---------------------------


def _function_importable(function: Any) -> bool:
    """Whether a generated file can import the function and the gradient under test by target."""
    return bool(getattr(function, "fn_target", None)) and (function.uses_tape or bool(function.grad_target))


def _function_source(
    report: Report, result: CheckResult, function: UserFunction, path: Path, checked_from: str
) -> str:
    """Return the reproducer of a user's function: the function and its gradient, called on the case."""
    dtype = report.dtype or "float64"
    if function.fn_target is None:
        raise ValueError(f"{function.name}() was given as an object, not a target: no file can import it")
    targets = [("FN", function.fn_target)]
    if function.grad_target:
        targets.append(("GRAD_FN", function.grad_target))
    tests = [_FunctionTestWriter(result, failure, function, dtype) for failure in result.failures]
    target_lines = [
        "# The function and its gradient, exactly as gradcheck was given them. A relative path",
        "# is looked for in the folder the check ran in when it leads nowhere from here.",
    ]
    for variable, target in targets:
        target_lines += _target_assignment(variable, target, checked_from)
    target_lines += _module_path([target for _, target in targets], checked_from)
    header = [
        _module_docstring(report, result, tests, path, calls="your function and its gradient"),
        _imports(
            [target for _, target in targets], checked_from, "from gradcheck.function import load_function",
            third_party=["import tensorflow as tf"] if function.uses_tape else (),
        ),
        "\n".join(target_lines),
        _tolerance_block(dtype, report.tolerance or function.tolerance_for(dtype), what="functions"),
    ]
    return _module(header, [_HELPERS, *(test.source() for test in tests)])


class _FunctionTestWriter(_FailureTest):
    """One failure of a user's function as one test function."""

    def __init__(self, result: CheckResult, failure: Failure, function: UserFunction, dtype: str) -> None:
        super().__init__(result, failure, dtype)
        self.function = function
        self.shapes = [tuple(record.shape) for record in failure.inputs]
        self.cotangent = np.ones(()) if failure.cotangent is None else np.asarray(failure.cotangent)
        self.forward = failure.category == "forward" and failure.expected is not None

    def source(self) -> str:
        """Return the test function's source, at module level."""
        calls = self.calls(handed_copies=self.failure.category == "mutation")
        asserts, checked = self._asserts()
        grad_line = [] if self.function.uses_tape else ["grad_fn = load_function(GRAD_FN, quiet_tensorflow=False)"]
        body = [
            "fn = load_function(FN, quiet_tensorflow=False)",
            *grad_line,
            *self._literals(),
            "",
            *_comment_lines(self._note()),
            *calls,
            "",
            *asserts,
        ]
        return self.wrap(body, checked)

    def _literals(self) -> list[str]:
        lines = ["# The smallest failing case gradcheck found, as your function was handed it."]
        for record in self.failure.inputs:
            lines.append(_assignment(f"{_variable(record.name)}_array", record.values, record.dtype))
        lines.append(_assignment("cotangent", self.cotangent, self.dtype))
        if self.forward:
            lines.append("# The forward value, from your reference function.")
            lines.append(_assignment("expected_y", self.failure.expected, "float64"))
        if self.wrt is not None:
            lines += _comment_lines(f"The gradient, from gradcheck's references (finite differences of "
                                    f"{self.function.name} in float64, or TensorFlow's gradient of it).")
            lines.append(_assignment(f"expected_grad_{self.wrt}", self.failure.expected, "float64"))
        if self.failure.actual is not None:
            lines.append(f"# gradcheck saw your code return, for the {comparison_title(self.failure)}:")
            lines += _comment_lines(array_text(self.failure.actual, max_line_width=LINE_WIDTH - 12), indent=2)
        return lines

    def _note(self) -> str | None:
        template = _CATEGORY_NOTES.get(self.failure.category)
        if template is None:
            return None
        return template.format(message=self.failure.message).replace("your engine", "your code")

    def _calls(self, *, handed_copies: bool) -> list[str]:
        """Return the calls: the function, then the gradient under test (theirs, or the tape's)."""
        lines: list[str] = []
        handed = [f"{name}_handed" if handed_copies else f"{name}_array" for name in self.names]
        cotangent = "cotangent_handed" if handed_copies else "cotangent"
        if handed_copies:
            lines += [f"{name}_handed = {name}_array.copy()" for name in self.names]
            lines.append("cotangent_handed = cotangent.copy()")
        arguments = ", ".join(handed)
        if self.function.uses_tape:
            lines += [
                f"xs = [tf.constant(x) for x in ({arguments}{',' if len(handed) == 1 else ''})]",
                "with tf.GradientTape() as tape:",
                f"{_INDENT}tape.watch(xs)",
                f"{_INDENT}y = fn(*xs)",
                "y_value = as_array(y)",
                f"grads = as_arrays(tape.gradient(y, xs, output_gradients=tf.constant({cotangent}, dtype=y.dtype),",
                f"{' ' * len('grads = as_arrays(tape.gradient(')}unconnected_gradients=tf.UnconnectedGradients.ZERO))",
            ]
        else:
            lines += [
                f"y_value = as_array(fn({arguments}))",
                f"grads = as_arrays(grad_fn({arguments}, {cotangent}))",
            ]
        return lines

    def _asserts(self) -> tuple[list[str], list[str]]:
        lines: list[str] = []
        checked: list[str] = []
        category = self.failure.category
        if category == "mutation":
            for name in self.names:
                lines.append(f"assert np.array_equal({name}_handed, {name}_array), "
                             f"\"your code changed the array handed to it for {name}\"")
            lines.append("assert np.array_equal(cotangent_handed, cotangent), "
                         "\"your gradient changed the cotangent handed to it\"")
            checked.append("that no array handed to your code changes")
        output_shape = tuple(np.shape(self.cotangent))
        if self.forward:
            terms = function_terms(self.shapes, output_shape)
            lines.append(f'check_close(y_value, expected_y, "the forward value", terms={terms})')
            checked.append("the forward value")
        count = len(self.names)
        lines.append(f'assert len(grads) == {count}, f"the gradient returned {{len(grads)}} array(s) '
                     f'for {count} input(s)"')
        checked.append("the number of gradients")
        if self.wrt is not None:
            index = self.names.index(self.wrt)
            terms = function_terms(self.shapes, output_shape, wrt=index)
            lines.append(f'check_close(grads[{index}], expected_grad_{self.wrt}, '
                         f'"the gradient w.r.t. {self.wrt}", terms={terms})')
            checked.append(f"the gradient w.r.t. {self.wrt} (shape and values)")
        if category == "nondeterministic":
            lines += [
                'check_close(y_again, y_value, "the forward value, run again")',
                "assert len(grads_again) == len(grads), \"the gradient returned another number of arrays\"",
                "for index, (grad, grad_again) in enumerate(zip(grads, grads_again)):",
                f'{_INDENT}check_close(grad_again, grad, f"gradient {{index}}, run again")',
            ]
            checked.append("that a second run gives the same answers")
        return lines, checked


# --- literals and text ----------------------------------------------------------


def _assignment(name: str, values: Any, dtype: str) -> str:
    """Return ``name = np.array([...], dtype=np.float64)`` for a line of a test body."""
    return f"{name} = {_array_literal(values, dtype, indent=len(_INDENT), start=len(_INDENT) + len(name) + 3)}"


def _array_literal(values: Any, dtype: str, indent: int, start: int) -> str:
    """Return ``np.array([...], dtype=np.float64)`` with exact values.

    The literal begins at column ``start`` of a line indented by ``indent``;
    continuation lines (absolute columns) hang off that indentation.
    """
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return f"np.zeros({tuple(array.shape)!r}, dtype=np.{dtype})"
    opening, closing = "np.array(", f", dtype=np.{dtype})"
    nested = _nested_literal(array.tolist(), indent, start + len(opening), len(closing))
    return f"{opening}{nested}{closing}"


def _nested_literal(values: Any, indent: int, start: int, tail: int) -> str:
    """Return a nested list literal, on one line if it fits, else one element per line.

    It begins at column ``start`` of a line indented by ``indent`` and is
    followed by ``tail`` more characters; elements on lines of their own are
    indented one level deeper than ``indent``, the closing bracket at ``indent``.
    """
    if not isinstance(values, list):
        return _float_literal(values)
    one_line = "[" + ", ".join(_nested_literal(item, indent, 0, 0) for item in values) + "]"
    if "\n" not in one_line and start + len(one_line) + tail <= LINE_WIDTH:
        return one_line
    inner = indent + len(_INDENT)
    if not isinstance(values[0], list):
        # A row of numbers fills its lines, as NumPy prints one.
        numbers = textwrap.wrap(", ".join(map(_float_literal, values)) + ",", width=LINE_WIDTH - inner)
        lines = "".join(f"{' ' * inner}{line}\n" for line in numbers)
    else:
        lines = "".join(f"{' ' * inner}{_nested_literal(item, inner, inner, 1)},\n" for item in values)
    return f"[\n{lines}{' ' * indent}]"


def _float_literal(value: float) -> str:
    # repr round-trips a float exactly; NaN and inf have no literal of their own.
    if np.isnan(value):
        return "np.nan"
    if np.isinf(value):
        return "np.inf" if value > 0 else "-np.inf"
    return repr(float(value))


def _string(text: str) -> str:
    """Return a double-quoted Python literal for ``text`` (JSON's escapes are Python's too)."""
    return json.dumps(text)


def _identifier(name: str) -> str:
    return re.sub(r"\W", "_", name)


def _variable(name: str) -> str:
    """Return the Python variable for an operand named ``name``: ``xs[0]`` is ``xs_0``."""
    return _identifier(re.sub(r"\[(\d+)\]", r"_\1", name))


def _sentence(text: str) -> str:
    """Return ``text`` as a sentence: a capital (unless it starts with code, ``grad()``) and a stop."""
    text = text.strip()
    first_word = text.split(" ", 1)[0]
    if first_word.isalpha():
        text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _series(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _fill(text: str, width: int = LINE_WIDTH) -> str:
    return textwrap.fill(text, width=width, break_on_hyphens=False, break_long_words=False)


def _hanging(head: str, text: str, width: int) -> str:
    """Return ``head`` then ``text`` wrapped, continuation lines indented under the text."""
    return textwrap.fill(text, width=width - len(_INDENT), initial_indent=head,
                         subsequent_indent=" " * len(head), break_on_hyphens=False, break_long_words=False)


def _comment_lines(text: str | None, indent: int = 0) -> list[str]:
    """Return ``text`` as ``#`` comment lines, wrapped (or kept as is with ``indent``)."""
    if not text:
        return []
    if indent:
        return [f"#{' ' * (indent + 1)}{line}" for line in text.splitlines()]
    return [f"# {line}" for line in textwrap.wrap(text, width=LINE_WIDTH - 6, break_on_hyphens=False)]


def _docstring_safe(text: str) -> str:
    # Messages and paths may hold backslashes (Windows) or quotes.
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


