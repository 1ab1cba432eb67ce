"""benchmarks.lighthouse's choice of pages and its table, on a site folder made here (no
browser, no Lighthouse: tests/browser/test_page_audits.py runs them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.lighthouse import DemoSite, print_table

ARTICLE = "/sport/2026/03/02/late-winner/"
NO_IMAGE = "/sport/2026/03/03/match-report/"


def write(root: Path, path: str, html: str) -> None:
    page = root / path.strip("/") / "index.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(html, encoding="utf-8")


@pytest.fixture
def site(tmp_path: Path) -> DemoSite:
    write(tmp_path, "/", f'<a href="{NO_IMAGE}">a</a> <a href="{ARTICLE}">b</a>')
    write(tmp_path, NO_IMAGE, "<article><p>No picture.</p></article>")
    write(tmp_path, ARTICLE, '<figure class="lead-image"><img src="/x.svg" alt=""></figure>')
    return DemoSite(tmp_path, "http://127.0.0.1:1")


def test_default_pages_are_home_the_newest_article_with_an_image_and_its_section(
    site: DemoSite,
) -> None:
    assert site.default_paths() == ["/", ARTICLE, "/sport/"]


def test_an_author_page_is_audited_when_the_site_has_them(site: DemoSite) -> None:
    write(site.root, "/authors/zed-writer/", "<h1>Zed</h1>")
    write(site.root, "/authors/ann-writer/", "<h1>Ann</h1>")
    assert site.default_paths() == ["/", ARTICLE, "/sport/", "/authors/ann-writer/"]


def test_the_table_has_a_row_per_page_and_the_reasons_below(
    capsys: pytest.CaptureFixture[str],
) -> None:
    scores = {"performance": 100, "accessibility": 93, "best-practices": 100, "seo": 100}
    print_table([{"path": "/", **scores, "vnu_errors": 1, "notes": ["x.html:3: Stray tag"]}])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "page | performance | accessibility | best-practices | seo | vnu errors"
    assert lines[2] == "/ | 100 | 93 | 100 | 100 | 1"
    assert lines[3] == "  /: x.html:3: Stray tag"
