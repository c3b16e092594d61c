"""The JSON report (docs/contract.md, section 3): ``Report.to_dict()``, indented by 2, in ``DIR/gradcheck.json``.

The file is strict JSON, which has no NaN or infinity; a ``nonfinite``
failure has them in its arrays. They are written as the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"`` (JavaScript's spellings, which ``float()``
and NumPy read back), so every JSON parser accepts the file and
``Report.from_dict`` restores the same arrays.

``load_report`` reads a stored report back for ``gradcheck report``, with a
one-paragraph ``UsageError`` for anything that is not one.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, TextIO

from gradcheck.errors import UsageError
from gradcheck.results import FORMAT_VERSION, Report

__all__ = ["load_report", "report_from_data", "write_json"]

_NONFINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def write_json(report: Report, stream: TextIO) -> None:
    """Write ``report`` to ``stream`` as docs/contract.md's section 3 JSON document."""
    json.dump(_strict(report.to_dict()), stream, indent=2, allow_nan=False)
    stream.write("\n")


def _strict(value: Any) -> Any:
    """Return ``value`` with NaN and infinities spelled as strings (see the module docstring)."""
    if isinstance(value, float) and not math.isfinite(value):
        return _NONFINITE.get(value, "NaN")
    if isinstance(value, dict):
        return {key: _strict(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_strict(item) for item in value]
    return value


def load_report(path: str | os.PathLike[str]) -> Report:
    """Return the ``Report`` stored in the JSON file at ``path``.

    Raises ``UsageError`` when the file cannot be read, is not JSON, is not a
    gradcheck report, or has a ``format_version`` this gradcheck cannot read.
    """
    path = Path(path)
    what = f"{str(path)!r}"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(
            f"cannot read the report {what}: {error.strerror or error}. "
            "Give the path of a gradcheck.json written by `gradcheck check --format json`."
        ) from None
    except UnicodeDecodeError:
        raise UsageError(f"{what} is not a text file, so it is not a gradcheck JSON report.") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(
            f"{what} is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno}); "
            "it may be truncated or not a gradcheck report. Re-run `gradcheck check --format json`."
        ) from None
    return report_from_data(data, what)


def report_from_data(data: Any, what: str) -> Report:
    """Return the ``Report`` in ``data``, parsed JSON; ``what`` names its source in the ``UsageError``."""
    if not isinstance(data, dict) or "format_version" not in data:
        raise UsageError(
            f"{what} is JSON but not a gradcheck report: it has no \"format_version\" field. "
            "Give the gradcheck.json that `gradcheck check --format json` wrote."
        )
    version = data["format_version"]
    if version != FORMAT_VERSION:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        hint = "upgrade gradcheck to read it" if newer else "re-run `gradcheck check` to write a current one"
        raise UsageError(
            f"{what} has format_version={version!r}, and this gradcheck reads format_version="
            f"{FORMAT_VERSION} only; {hint}."
        )
    try:
        return Report.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        problem = f"missing field {error}" if isinstance(error, KeyError) else str(error)
        raise UsageError(
            f"{what} is not a valid gradcheck report ({problem}); "
            "it may have been edited by hand. Re-run `gradcheck check --format json`."
        ) from None
