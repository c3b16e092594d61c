"""gradcheck: property-based gradient checks for hand-written autodiff engines.

.. code-block:: pycon

    >>> import gradcheck
    >>> report = gradcheck.run_checks("student/engine.py", ops=["matmul"])
    >>> report.ok
    False
"""

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "run_checks",
    "assert_gradients",
    "check_function",
    "assert_function_gradients",
    "load_engine",
    "Report",
    "CheckResult",
    "Failure",
]


def __getattr__(name: str):
    # The public API is imported lazily so ``gradcheck --help`` stays instant.
    if name == "run_checks":
        from gradcheck.runner import run_checks

        return run_checks
    if name == "assert_gradients":
        from gradcheck.assertions import assert_gradients

        return assert_gradients
    if name in ("check_function", "assert_function_gradients"):
        from gradcheck import function

        return getattr(function, name)
    if name == "load_engine":
        from gradcheck.engine import load_engine

        return load_engine
    if name in ("Report", "CheckResult", "Failure"):
        from gradcheck import results

        return getattr(results, name)
    raise AttributeError(f"module 'gradcheck' has no attribute {name!r}")
