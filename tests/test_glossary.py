"""The words of the reports explained where a student looks: ``--help`` of check and grade, and the README (issue 19)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gradcheck._glossary import GLOSSARY
from gradcheck.cli import main
from gradcheck.reports.display import examples_text
from gradcheck.results import Report
from gradcheck.settings import VALUE_SETS
from gradcheck.tolerances import DEFAULT_TOLERANCES
from tests.report_samples import sample_report

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
TERMS = [term for term, _ in GLOSSARY]


def readme_glossary() -> str:
    start = README.index("\n### Words in the reports\n")
    return README[start:README.index("\n## ", start)]


@pytest.mark.parametrize("command", ["check", "grade"])
def test_help_ends_with_the_glossary_one_term_per_entry(command, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit) as stopped:
        main([command, "--help"])
    assert stopped.value.code == 0
    help_text = capsys.readouterr().out
    glossary = help_text.split("Words in the reports:\n", 1)[1]
    # Each term starts its entry, its meaning beside it, in one column.
    starts = [re.match(r"  (\S.*?)  +\S", line) for line in glossary.splitlines() if not line.startswith("   ")]
    assert [match.group(1) for match in starts if match] == TERMS, glossary
    assert "the gradient of sum(y * cotangent)" in " ".join(glossary.split())
    if command == "grade":  # the epilog grade had keeps its own paragraph, before the glossary
        assert "Score: the sum of the weights" in help_text.split("Words in the reports:")[0]


def test_the_readme_explains_the_same_words():
    entries = re.findall(r"^\* \*\*(.+?)\*\*: ", readme_glossary(), flags=re.MULTILINE)
    assert entries == TERMS


def test_the_numbers_the_glossary_quotes_are_gradchecks():
    meanings = dict(GLOSSARY)
    for dtype, tolerance in DEFAULT_TOLERANCES.items():
        for text in (meanings["tolerance"], readme_glossary()):
            quoted = re.search(rf"(\S+) \({dtype}\)", text)
            assert quoted is not None and float(quoted.group(1)) == tolerance.rtol, (dtype, text)
    for text in (meanings["example"], readme_glossary()):
        assert f"each checked on {VALUE_SETS} value sets" in " ".join(text.split())


def test_a_report_with_a_failure_says_why_its_counts_pass_the_maximum():
    report = sample_report()  # matmul failed after 37 examples; programs after 12
    assert examples_text(report) == (
        f"{report.max_examples} examples per check, more where one failed: shrinking counts too")
    passing = Report(target=report.target, seed=0, max_examples=30, programs=200)
    assert examples_text(passing) == "30 examples per check (200 for programs)"
