"""The JUnit XML report, ``DIR/gradcheck.xml``, for CI systems' test views.

The shape pytest's ``--junitxml`` writes, so any CI test view that reads pytest's reads this::

    <testsuites name="gradcheck" tests="5" failures="3" errors="0" skipped="1" time="2.08">
      <testsuite name="gradcheck" ...>
        <properties> seed, target, dtype, engine, max_examples, programs </properties>
        <testcase classname="gradcheck.op" name="matmul" time="0.410">
          <failure type="mismatch" message="mismatch: the gradient w.r.t. b differs ...">
            the failure's panel of the terminal report, plain text
          </failure>
        </testcase>
        <testcase classname="gradcheck.op" name="negative" time="0.000">
          <skipped message="the engine defines no 'negative' (nor 'neg')"/>
        </testcase>
        <system-out> the run's notes </system-out>
      </testsuite>
    </testsuites>

One testcase per check. A check that failed in several ways gets one
``<failure>`` (several confuse most readers), typed by its headline category,
whose body holds every failure's panel. The panels are the terminal report's
own, printed without colour at a fixed width, so a CI log reads like the
terminal. ElementTree does the escaping; characters XML 1.0 cannot carry
(terminal escape codes in an exception message) are spelled out first.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import TextIO

from gradcheck.reports.display import check_notes, partial_text, support_text
from gradcheck.reports.text import render_check_text
from gradcheck.results import CheckResult, Report

__all__ = ["PANEL_WIDTH", "junit_tree", "write_junit"]

#: Columns of the plain-text failure panels in ``<failure>`` bodies.
PANEL_WIDTH = 100

# Everything XML 1.0 allows in text (https://www.w3.org/TR/xml/#charsets).
_NOT_XML = re.compile(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def write_junit(report: Report, stream: TextIO) -> None:
    """Write ``report`` to ``stream`` as a JUnit XML document."""
    root = junit_tree(report)
    ET.indent(root)
    stream.write('<?xml version="1.0" encoding="utf-8"?>\n')
    stream.write(ET.tostring(root, encoding="unicode"))
    stream.write("\n")


def junit_tree(report: Report) -> ET.Element:
    """Return the ``<testsuites>`` element of ``report``."""
    counts = {
        "tests": str(len(report.results) + len(report.not_run)),
        "failures": str(report.summary["failed"]),
        "errors": "0",  # an engine's exception is a failed check, not a harness error
        "skipped": str(report.summary["unsupported"] + len(report.not_run)),
        "time": _seconds(sum(result.seconds for result in report.results)),
    }
    root = ET.Element("testsuites", {"name": "gradcheck", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": "gradcheck", **counts})
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("seed", report.seed), ("target", report.target), ("dtype", report.dtype),
        ("engine", report.engine_name), ("max_examples", report.max_examples),
        ("programs", report.programs),
        # A stopped run: the properties come first in the suite, so a reader sees it is partial at once.
        ("partial", "true" if report.partial else None), ("interrupted_by", report.interrupted_by),
    ):
        if value is not None:
            ET.SubElement(properties, "property", {"name": name, "value": _xml_text(str(value))})
    for result in report.results:
        suite.append(_testcase(report, result))
    partial = partial_text(report)
    for check in report.not_run:  # skipped, so CI test views list what the stopped run did not check
        case = ET.SubElement(suite, "testcase", {"classname": "gradcheck.not_run", "name": check, "time": "0.000"})
        ET.SubElement(case, "skipped", {"message": _xml_text(f"not run: the run was stopped by {report.interrupted_by}")})
    notes = [("partial", partial)] if partial else []
    notes += check_notes(report)
    if notes:
        ET.SubElement(suite, "system-out").text = _xml_text(
            "\n".join(f"{subject}: {text}" for subject, text in notes))
    return root


def _testcase(report: Report, result: CheckResult) -> ET.Element:
    case = ET.Element("testcase", {
        "classname": f"gradcheck.{result.kind}",
        "name": _xml_text(result.check),
        "time": _seconds(result.seconds),
    })
    support = support_text(result)
    if support:
        # Declared partial support, on the test case itself: CI shows it beside the result.
        properties = ET.SubElement(case, "properties")
        ET.SubElement(properties, "property", {"name": "supported_params", "value": _xml_text(support)})
    if result.status == "unsupported":
        ET.SubElement(case, "skipped", {"message": _xml_text(result.reason or "unsupported by the engine")})
    elif result.status == "failed":
        failure = ET.SubElement(case, "failure", _failure_attributes(result))
        # The panels the terminal prints, not a second layout of the same facts;
        # after a newline, so the first panel's top border lines up with the rest.
        failure.text = _xml_text("\n" + render_check_text(report, result, PANEL_WIDTH))
    return case


def _failure_attributes(result: CheckResult) -> dict[str, str]:
    """Return ``message`` ("category: message") and ``type`` (the category) of the headline failure."""
    headline = result.failure
    if headline is None:  # failed without a recorded case: still a failure for CI
        return {"message": _xml_text(result.reason or "failed"), "type": "failed"}
    message = f"{headline.category}: {headline.message}"
    others = [failure.category for failure in result.failures[1:]]
    if others:
        message += f" (also failed: {', '.join(others)})"
    return {"message": _xml_text(message), "type": headline.category}


def _seconds(seconds: float) -> str:
    return f"{seconds:.3f}"


def _xml_text(text: str) -> str:
    """Return ``text`` with the characters XML cannot hold written as ``\\x1b``-style escapes."""
    return _NOT_XML.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)
