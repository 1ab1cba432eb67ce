"""The section navigation bar is site data: the demo stores its sections, `pressrun navigation`
changes them and rebuilds every page, and a later command run in a bare environment keeps
the bar (through the real `pressrun` console script, on SQLite)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from pipeline.cli.demo_content import SECTIONS
from pipeline.content.sanitize import display_name
from tests.api.conftest import content
from tests.cli.test_demo import article_pages, run

ARTICLES = 12


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("navigation")
    run(folder, "demo", "--articles", str(ARTICLES))
    return folder


def bar(page: Path) -> list[tuple[str, str]]:
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    return [(a.get_text(), str(a["href"])) for a in soup.select("nav.sections-nav a")]


def expected_bar(slugs: tuple[str, ...]) -> list[tuple[str, str]]:
    return [("Home", "/"), *((display_name(slug), f"/{slug}/") for slug in slugs)]


def html_pages(site: Path) -> list[Path]:
    """Every page a reader sees (redirect stubs are not pages: they carry no bar)."""
    pages = [*site.rglob("index.html"), site / "404.html"]
    return [page for page in pages if "http-equiv" not in page.read_text(encoding="utf-8")]


def test_the_demo_site_has_its_sections_in_the_bar(demo_site: Path) -> None:
    site = demo_site / "site"
    author = next(iter(sorted(site.glob("authors/*/index.html"))))
    pages = [site / "index.html", article_pages(site)[0], site / SECTIONS[0] / "index.html", author]
    for page in pages:
        assert bar(page) == expected_bar(SECTIONS), page
    assert run(demo_site, "navigation").stdout.strip() == ",".join(SECTIONS)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "name at least one section"),
        ("World,sport", "'World': a section slug is lower-case"),
        ("world,,sport", "an empty slug"),
        ("sport,world,sport", "'sport' is listed more than once"),
        ("world,page", "'page' is reserved"),
    ],
)
def test_bad_navigation_is_refused_and_changes_nothing(
    demo_site: Path, value: str, message: str
) -> None:
    before_stored = run(demo_site, "navigation").stdout
    before_home = (demo_site / "site" / "index.html").read_bytes()
    result = run(demo_site, "navigation", value, check=False)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr
    assert run(demo_site, "navigation").stdout == before_stored
    assert (demo_site / "site" / "index.html").read_bytes() == before_home


def test_setting_the_navigation_rebuilds_every_page_with_the_new_bar(demo_site: Path) -> None:
    chosen = ("world", "climate-change", "sport")  # climate-change has no article: no section
    result = run(demo_site, "navigation", ",".join(chosen))
    assert f"-> {','.join(chosen)}" in result.stdout
    assert "live" in result.stdout
    assert "no articles yet in climate-change" in result.stderr
    assert run(demo_site, "navigation").stdout.strip() == ",".join(chosen)
    pages = html_pages(demo_site / "site")
    assert len(pages) > ARTICLES
    for page in pages:
        assert bar(page) == expected_bar(chosen), page
    # A later command in an environment with no PRESSRUN_* but the database keeps the bar.
    again = run(demo_site, "rebuild")
    assert "objects: 0 written" in again.stdout
    assert all(bar(page) == expected_bar(chosen) for page in html_pages(demo_site / "site"))


def test_the_demo_on_a_site_with_pages_puts_the_bar_on_them_too(tmp_path: Path) -> None:
    (tmp_path / "first.json").write_text(json.dumps({"slug": "first-story", **content()}))
    run(tmp_path, "publish", "first.json")
    first = next(path for path in article_pages(tmp_path / "site") if "first-story" in str(path))
    assert bar(first) == []
    run(tmp_path, "demo", "--articles", "3")
    assert bar(first) == expected_bar(SECTIONS)
    assert all(bar(page) == expected_bar(SECTIONS) for page in html_pages(tmp_path / "site"))
