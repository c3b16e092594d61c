"""Imported by imports_broken_helper.py; raises on line 5."""


def _setup():
    raise RuntimeError("helper setup failed")


_setup()
