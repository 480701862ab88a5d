"""Every relative link in README.md and docs/*.md points at a file that exists.

Markdown links ``[text](target)`` and images ``![alt](target)`` are checked; web links (``http(s):``,
``mailto:``) and pure in-page anchors (``#section``) are not. A ``#anchor`` after a path is dropped
before the check: the file must exist, the heading is not verified. Links inside fenced code blocks
and inline code are not links and are skipped.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto:, ...


def relative_links(text: str) -> list[str]:
    """The relative link targets of a Markdown text, anchor and query removed, code blocks left out."""
    text = INLINE_CODE.sub("", FENCE.sub("", text))
    targets = []
    for match in LINK.finditer(text):
        target = match.group(1)
        if EXTERNAL.match(target) or target.startswith("#"):
            continue
        target = target.split("#", 1)[0].split("?", 1)[0]
        if target:
            targets.append(target)
    return targets


def broken_links(page: Path) -> list[str]:
    return [t for t in relative_links(page.read_text(encoding="utf-8")) if not (page.parent / t).exists()]


def test_the_pages_exist():
    assert (REPO / "README.md").is_file()
    assert len(PAGES) > 1, "docs/*.md is empty"


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO)) for p in PAGES])
def test_every_relative_link_resolves(page):
    broken = broken_links(page)
    assert not broken, f"{page.relative_to(REPO)} links to missing files: {broken}"


def test_the_checker_finds_a_broken_link_and_ignores_code_and_web_links(tmp_path):
    (tmp_path / "there.md").write_text("x")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](there.md) [ok, anchor](there.md#a-heading) [in-page](#top) [web](https://example.com/x.md)\n"
        "![missing picture](missing.png) [missing](gone/away.md#x)\n"
        "`[not a link](in-code.md)`\n```\n[not a link](in-fence.md)\n```\n"
    )
    assert broken_links(page) == ["missing.png", "gone/away.md"]


def test_the_readme_stays_short():
    """The README is the newcomer's few screens; the reference lives in docs/."""
    size = len((REPO / "README.md").read_text(encoding="utf-8"))
    assert size <= 14_000, f"README.md is {size} characters; move reference material to docs/"
