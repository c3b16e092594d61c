"""The words of gradcheck's reports, explained where a student looks: ``--help`` and the README.

``GLOSSARY`` is the table, one ``(term, meaning)`` row per word; the README's
"Words in the reports" section explains the same terms (a test keeps the two
in step). ``EPILOG`` is the table as the epilog of ``gradcheck check
--help`` and ``gradcheck grade --help``, laid out by ``HelpFormatter``: argparse's
own joins an epilog into one paragraph, this one keeps each term on its own
lines, its meaning wrapped under itself. Only the standard library and
``gradcheck.settings`` are imported: the command line's help stays fast.

.. code-block:: pycon

    >>> GLOSSARY[0][0]
    'cotangent'
"""

from __future__ import annotations

import argparse
import textwrap

from gradcheck.settings import VALUE_SETS

__all__ = ["EPILOG", "GLOSSARY", "HelpFormatter"]

GLOSSARY: tuple[tuple[str, str], ...] = (
    ("cotangent",
     "the array handed to grad(y, xs, cotangent), one weight per entry of y: grad returns the "
     "gradient of sum(y * cotangent), a vector-Jacobian product (VJP). A backward pass starts "
     "from it; all ones gives the gradient of sum(y)."),
    ("example",
     "one draw of an op's shapes and parameters, e.g. matmul of (2, 2, 2) and (2,). --max-examples "
     f"N draws N per op (--programs N programs), each checked on {VALUE_SETS} value sets. A failed "
     "check shows more examples than that: shrinking and the search for its other failures draw "
     "examples too, and the examples column counts them all."),
    ("value set",
     "one choice of the operands' values and of the cotangent for an example: constants, small "
     "integers, halves, uniform values, a domain's edges. The JSON report's \"cases\" counts them."),
    ("tolerance",
     # The numbers are gradcheck.tolerances.DEFAULT_TOLERANCES' (which imports NumPy; --help must not).
     "how far an entry of your gradient may be from the reference and still pass: 1e-3 (float32) "
     "or 1e-7 (float64) relative to the array's largest entry, more for an entry that sums many terms. "
     "A failure's \"worst entry\" line gives it (docs/tolerances.md)."),
    ("minimal case",
     "the smallest input that still fails, found by shrinking a failing example: fewest and "
     "smallest axes, simplest values. The failure panel and the reproducer (repro_OP.py) show it."),
    ("oracle disagreement",
     "gradcheck's two references, TensorFlow's gradient and finite differences, disagreed on a "
     "case: it is not counted against your engine, and the report says how many there were."),
    ("unsupported",
     "an op your engine does not define (or a form of it that it does not take): not checked, "
     "and not a failure."),
    ("programs",
     "small composite computations over the ops your engine has, reusing values, to check the "
     "backward pass itself (accumulating, traversal order) beyond each op's own rule."),
)

_TITLE = "Words in the reports:"
# Marks a glossary entry among an epilog's paragraphs, for HelpFormatter.
_ENTRY = "  "
EPILOG = "\n\n".join([_TITLE, *(f"{_ENTRY}{term}: {meaning}" for term, meaning in GLOSSARY)])


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help layout, with a description's or epilog's paragraphs filled one by one.

    A paragraph written ``"  term: meaning"`` (``EPILOG``'s) is a glossary
    entry: the term in a column as wide as the longest, the meaning wrapped
    beside it.
    """

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = text.split("\n\n")
        terms = [paragraph.strip().partition(": ")[0] for paragraph in paragraphs
                 if paragraph.startswith(_ENTRY)]
        column = max(map(len, terms), default=0) + 2
        filled = []
        for paragraph in paragraphs:
            if paragraph.startswith(_ENTRY):
                term, _, meaning = paragraph.strip().partition(": ")
                filled.append(textwrap.fill(
                    " ".join(meaning.split()), width, initial_indent=indent + _ENTRY + term.ljust(column),
                    subsequent_indent=indent + _ENTRY + " " * column, break_on_hyphens=False,
                ))
            else:
                filled.append(super()._fill_text(paragraph, width, indent))
        # Entries follow one another without a blank line; other paragraphs keep theirs.
        return "".join(
            ("\n" if paragraphs[number].startswith(_ENTRY) else "\n\n") + text if number else text
            for number, text in enumerate(filled)
        )
