"""The one place TensorFlow is imported: lazily, quietly."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Iterator

__all__ = ["quiet_native_stderr", "tensorflow"]


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    # TensorFlow's C++ start-up notices (CUDA probing, oneDNN) are written to
    # file descriptor 2 before its logging is configured, so no environment
    # variable silences them. Python exceptions are unaffected.
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        sys.stderr.flush()
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def tensorflow() -> Any:
    """Return the ``tensorflow`` module, importing it on first use."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    # Set only here, just before gradcheck imports TensorFlow (and so before a
    # user's engine can): quiet C++ logging, and no oneDNN fused kernels, whose
    # summation order varies between runs while the float64 oracle must give
    # the same answer every time. Importing gradcheck (the pytest plugin does)
    # leaves the environment of the user's own tests alone.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    with _quiet_native_stderr():
        import tensorflow as tf

        tf.constant(0.0)  # the runtime's own start-up messages come on first use
    return tf


#: File descriptor 2 muted for a block: for a process that loads an engine,
#: which may import TensorFlow, but runs no check (the pytest-xdist controller).
quiet_native_stderr = _quiet_native_stderr
