"""The contract is shipped, and what users read cites it where they can find it (issue 19).

``docs/contract.md`` is the contract a user has: it is in the repository and
linked from the README. Messages, docstrings and docs cite its sections as
"docs/contract.md, section N", and every section they cite exists there; no
text a user sees points to the project's private notes ("CONTRACT 1", a
"CONTRACT.md" of "the shared folder").
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONTRACT = REPO / "docs" / "contract.md"

# Everything a user reads: the package (messages, docstrings, report templates), the README and the docs.
USER_TEXT = sorted(
    path for path in [
        *(REPO / "gradcheck").rglob("*"), REPO / "README.md", *(REPO / "docs").rglob("*.md"),
    ]
    if path.is_file() and path.suffix in (".py", ".md", ".html", ".j2", ".txt", ".css")
)

# Citations of the private notes: "CONTRACT 1", "CONTRACT.md", "the project's shared folder".
PRIVATE = re.compile(r"CONTRACT \d|CONTRACT\.md|(?i:shared folder)")
# "docs/contract.md, section 1", "[docs/contract.md](docs/contract.md), sections 1 and 1b",
# "docs/contract.md's section 3", "[contract.md](contract.md), section 1" (from docs/).
CITATION = re.compile(
    r"contract\.md\)?(?:'s)?,?\s+sections?\s+(?P<first>\d+[a-z]?)(?:\s+and\s+(?P<second>\d+[a-z]?))?"
)
# Inside the contract itself: "(section 4)", "section 1b".
INTERNAL = re.compile(r"\bsections?\s+(?P<first>\d+[a-z]?)\b(?:\s+and\s+(?P<second>\d+[a-z]?)\b)?")
HEADING = re.compile(r"^#{2,3} (\d+[a-z]?)\. ", re.MULTILINE)


def _sections() -> set[str]:
    return set(HEADING.findall(CONTRACT.read_text(encoding="utf-8")))


def _cited(pattern: re.Pattern[str], text: str) -> list[tuple[int, str]]:
    """Return each cited section with its line number."""
    cited = []
    for match in pattern.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        cited += [(line, section) for section in match.group("first", "second") if section]
    return cited


def _relative(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def test_the_contract_is_shipped_with_its_numbered_sections():
    assert CONTRACT.is_file()
    assert {"1", "1b", "1c", "2", "3", "4"} <= _sections()


def test_the_readme_links_the_contract():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "](docs/contract.md)" in readme


def test_user_text_cites_no_private_note():
    found = []
    for path in USER_TEXT:
        text = path.read_text(encoding="utf-8")
        found += [f"{_relative(path)}:{text.count(chr(10), 0, match.start()) + 1}: {match.group()!r}"
                  for match in PRIVATE.finditer(text)]
    assert not found, (
        f"text users read cites the project's private notes: {found}; cite the shipped contract "
        "as \"docs/contract.md, section N\" instead."
    )


def test_the_patterns_read_every_spelling():
    text = ("(docs/contract.md, section 1) [docs/contract.md](docs/contract.md), sections 1 and 1b "
            "docs/contract.md's section 3 [contract.md](contract.md), section 2")
    assert [section for _, section in _cited(CITATION, text)] == ["1", "1", "1b", "3", "2"]
    private = "see CONTRACT 1, the CONTRACT.md of the project's Shared Folder; docs/contract.md is fine"
    assert [match.group() for match in PRIVATE.finditer(private)] == ["CONTRACT 1", "CONTRACT.md", "Shared Folder"]


def test_every_cited_section_exists():
    sections = _sections()
    missing = []
    for path in USER_TEXT:
        text = path.read_text(encoding="utf-8")
        cited = _cited(INTERNAL if path == CONTRACT else CITATION, text)
        missing += [f"{_relative(path)}:{line}: section {section}" for line, section in cited
                    if section not in sections]
    assert not missing, f"citations of sections docs/contract.md does not have: {missing}"
