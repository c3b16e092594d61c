"""gradcheck: property-based gradient checks for hand-written autodiff engines.

.. code-block:: pycon

    >>> import gradcheck
    >>> report = gradcheck.run_checks("student/engine.py", ops=["matmul"])
    >>> report.ok
    False
"""

import os as _os

# Set before any TensorFlow import, including one done by the user's engine:
# quiet C++ logging, and no oneDNN fused kernels (their summation order varies
# between runs, and the float64 oracle must give the same answer every time).
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

__version__ = "0.1.0"

__all__ = ["__version__", "run_checks", "load_engine", "Report", "CheckResult", "Failure"]


def __getattr__(name: str):
    # The public API is imported lazily so ``gradcheck --help`` stays instant.
    if name == "run_checks":
        from gradcheck.runner import run_checks

        return run_checks
    if name == "load_engine":
        from gradcheck.engine import load_engine

        return load_engine
    if name in ("Report", "CheckResult", "Failure"):
        from gradcheck import results

        return getattr(results, name)
    raise AttributeError(f"module 'gradcheck' has no attribute {name!r}")
