"""Errors a user can hit. Each message is one paragraph: what was wrong, with
the value, and what to do. The command line prints the message and exits 2."""

from __future__ import annotations

__all__ = ["GradcheckError", "UsageError", "TargetError", "MissingFrameworkError"]


class GradcheckError(Exception):
    """Base class for errors gradcheck reports to the user."""

    exit_code = 2


class UsageError(GradcheckError):
    """The arguments are wrong (bad option value, unknown op, unreadable file)."""


class TargetError(UsageError):
    """The engine target could not be loaded or does not meet the contract."""


class MissingFrameworkError(TargetError, ModuleNotFoundError):
    """An adapter (``gradcheck.adapters``) needs a framework that is not installed.

    Also a ``ModuleNotFoundError``: importing the adapter module is what fails,
    so ``pytest.importorskip("gradcheck.adapters.jax")`` skips as it should.
    """
