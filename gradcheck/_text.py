"""Text a submission chose, made safe to show: one function for the worker's answers, reports and the gradebook."""

from __future__ import annotations

import re

__all__ = ["printable"]

# An escape sequence (CSI ``ESC [ ... final``, OSC/DCS/APC/PM ``... BEL or ESC \\``, or
# ESC and one character) is removed whole, so no stray "[31m" is left behind;
# any other C0 or C1 control character, DEL, and the bidirectional overrides
# (which reorder what a report shows) alone.
_ESCAPE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]P_^X]|[\x9d\x90\x9f\x9e\x98])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -~]?"
)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile(r"[\n\t]")


def printable(text: str, *, multiline: bool = True) -> str:
    """Return ``text`` without terminal escape sequences and control characters.

    Every string a student's code can choose (a path, an exception message,
    what an engine printed or sent back) goes through this before it reaches
    a terminal, a report or the gradebook. Newline and tab are kept when
    ``multiline``; otherwise each becomes a space.

    .. code-block:: pycon

        >>> printable("\\x1b[2Jok\\x07\\nnext", multiline=False)
        'ok next'
    """
    text = _CONTROL.sub("", _ESCAPE.sub("", text))
    return text if multiline else _LINE_BREAKS.sub(" ", text)
