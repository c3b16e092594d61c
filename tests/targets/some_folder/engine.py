"""A folder holding engine.py: giving the folder suggests this file."""

from types import SimpleNamespace  # noqa: F401
