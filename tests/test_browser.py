"""The HTML report in a real browser: headless Chromium parses, lays out and draws it.

The gold files pin the HTML text; these tests check what a reader gets: the
page parses into the intended structure (every failure section with its
tables), and draws into a screenshot that is more than an empty page. They
skip when Chromium is not installed (``.ci/run`` installs it; locally
``apt-get install chromium``).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from gradcheck.reports import render_report
from tests.report_samples import sample_report
from tests.test_reports import plain_console

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium not found on PATH (apt-get install chromium)"
)

# No network, no first-run or background work: the page must render on its own.
# --no-sandbox because CI runs as root; --disable-dev-shm-usage because
# containers give /dev/shm a few megabytes.
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
)
WINDOW = (1200, 1600)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chromium(tmp_path: Path, *arguments: str) -> str:
    """Run headless Chromium with a fresh profile; return its stdout."""
    profile = tmp_path / "chromium-profile"
    done = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *arguments],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, f"chromium exited {done.returncode}:\n{done.stderr[-2000:]}"
    return done.stdout


@pytest.fixture
def page(tmp_path) -> Path:
    """Return the HTML report of the sample run, written the way `gradcheck check` writes it."""
    (path,) = render_report(sample_report(), "html", tmp_path / "reports", console=plain_console())
    return path


class Outline(HTMLParser):
    """Collect, for each element, its tag, its classes and those of its open ancestors."""

    VOID = {"meta", "br", "img", "input", "link", "hr", "col", "area", "base", "wbr", "source"}

    def __init__(self) -> None:
        super().__init__()
        self.open: list[tuple[str, set[str], str | None]] = []
        self.elements: list[tuple[str, set[str], str | None, list[tuple[str, set[str], str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        element = (tag, set((attributes.get("class") or "").split()), attributes.get("id"))
        self.elements.append((*element, list(self.open)))
        if tag not in self.VOID:
            self.open.append(element)

    def handle_endtag(self, tag):
        while self.open:
            if self.open.pop()[0] == tag:
                break

    def inside(self, tag: str, cls: str, ancestor_id: str) -> int:
        """Return how many ``tag.cls`` elements sit inside the element with id ``ancestor_id``."""
        return sum(
            1 for name, classes, _, ancestors in self.elements
            if name == tag and cls in classes and any(a[2] == ancestor_id for a in ancestors)
        )


def test_chromium_renders_every_failure_with_its_tables(page, tmp_path):
    dom = chromium(tmp_path, "--dump-dom", page.as_uri())
    outline = Outline()
    outline.feed(dom)
    failures = [element_id for tag, classes, element_id, _ in outline.elements
                if tag == "article" and "failure" in classes]
    assert failures == ["failure-matmul-1", "failure-matmul-2", "failure-sum-1", "failure-programs-1"]
    # The transpose bug: a (2, 1, 2) is two 1x2 tables, b one; the cotangent two;
    # expected, actual and their difference one each.
    assert outline.inside("table", "grid", "failure-matmul-1") == 2 + 1 + 2 + 3
    assert outline.inside("figure", "difference", "failure-matmul-1") == 1
    assert outline.inside("td", "worst", "failure-matmul-1") == 3
    assert outline.inside("div", "diagnosis", "failure-matmul-1") == 1
    # An exception has inputs but nothing to compare; its text stays preformatted.
    assert outline.inside("figure", "difference", "failure-matmul-2") == 0
    assert outline.inside("pre", "detail", "failure-matmul-2") == 1
    assert "the gradient w.r.t. b differs from the reference" in dom
    assert "actual − expected" in dom


def png_size(data: bytes) -> tuple[int, int]:
    """Return (width, height) from a PNG's IHDR chunk."""
    assert data[:8] == PNG_SIGNATURE, "not a PNG file"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def screenshot(tmp_path: Path, url: str, name: str) -> bytes:
    path = tmp_path / name
    chromium(tmp_path, f"--screenshot={path}", f"--window-size={WINDOW[0]},{WINDOW[1]}", url)
    return path.read_bytes()


def test_chromium_draws_the_report(page, tmp_path):
    drawn = screenshot(tmp_path, page.as_uri(), "report.png")
    assert png_size(drawn) == WINDOW
    # PNG compresses a blank page to almost nothing: a drawn report with
    # coloured tables and text is many times larger than the same window empty.
    (tmp_path / "empty.html").write_text("<!DOCTYPE html><title>empty</title>", encoding="utf-8")
    empty = screenshot(tmp_path, (tmp_path / "empty.html").as_uri(), "empty.png")
    assert len(drawn) > 10 * len(empty), (len(drawn), len(empty))
