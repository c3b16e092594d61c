"""What a function's report says besides its result: what was compared with what, and how to replay it."""

from __future__ import annotations

import shlex
from typing import Any

from gradcheck.function._arguments import function_name
from gradcheck.function._shapes import ShapeSpec, domain_options
from gradcheck.function_case import UserFunction
from gradcheck.settings import DEFAULT_TIMEOUT

__all__ = ["comparison_note", "replay_command"]


def comparison_note(function: UserFunction, *, tensorflow: bool) -> str:
    """Return the report's note on what was compared with what (``tensorflow``: fn returned tensors)."""
    fn = f"{function.name}()"
    if tensorflow and not function.uses_tape and not function.has_custom_gradient:
        truth = f"TensorFlow's gradient of {fn}, cross-checked by finite differences"
    else:
        truth = f"finite differences of {fn} in float64"
    if function.reference_fn is not None:
        forward = f"its forward values against {function_name(function.reference_fn)}()"
    else:
        forward = "forward values not checked (no reference_fn)"
    return f"{function.gradient_label} checked against {truth}; {forward}."


def replay_command(function: UserFunction, spec: ShapeSpec, dtype: str, domain: Any, settings: Any) -> str:
    """Return the command (or, failing that, the call) that replays this search."""
    domain_words = domain_options(domain)
    targets_known = function.fn_target and (function.uses_tape or function.grad_target) and (
        not function.checks_forward or function.reference_target
    )
    if targets_known and function.fn_target and spec.text is not None and domain_words is not None:
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
