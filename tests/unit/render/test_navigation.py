"""The section navigation bar on every page, and the home page's onward links."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from bs4 import BeautifulSoup

from pipeline.config import Settings
from pipeline.db import transaction
from pipeline.services import Services, create_services
from pipeline.site import navigation
from tests.conftest import Newsroom

NAV = [
    ("Home", "/"),
    ("World", "/world/"),
    ("Sport", "/sport/"),
    ("Climate change", "/climate-change/"),
]


@pytest.fixture
def navigated(settings: Settings) -> Iterator[Services]:
    configured = dataclasses.replace(settings, home_size=3, page_size=2)
    built = create_services(configured)
    with transaction(built.sessions) as session:
        navigation.set_sections(session, navigation.parse(" world, sport ,climate-change"))
    yield built
    built.engine.dispose()


@pytest.fixture
def site(navigated: Services) -> Newsroom:
    newsroom = Newsroom(navigated)
    for number in range(6):
        newsroom.publish(
            slug=f"story-{number}",
            title=f"Story {number}",
            # Its own date: a slug's default date is the first a whole test run gave it.
            published_at=f"2025-03-0{number + 1}T09:00:00Z",
            section=("world", "sport")[number % 2],
            tags=["trade"],
            authors=["Ann Writer"],
        )
    return newsroom


def soup(newsroom: Newsroom, key: str) -> BeautifulSoup:
    body = newsroom.read(key)
    assert body is not None, f"{key} is not in the site"
    return BeautifulSoup(body, "html.parser")


def nav_links(page: BeautifulSoup) -> list[tuple[str, str]]:
    return [(a.get_text(), a["href"]) for a in page.select("nav.sections-nav a")]


def test_every_kind_of_page_has_the_stored_sections_bar(site: Newsroom) -> None:
    pages = [
        "index.html",
        site.key("story-0"),
        "world/index.html",
        "world/page/1/index.html",
        "tags/trade/index.html",
        "authors/ann-writer/index.html",
        "authors/ann-writer/page/2/index.html",
        "page/1/index.html",
        "404.html",
    ]
    for key in pages:
        assert nav_links(soup(site, key)) == NAV, key


def test_without_stored_sections_there_is_no_bar(newsroom: Newsroom) -> None:
    newsroom.publish(slug="plain")
    for key in ("index.html", newsroom.key("plain"), "politics/index.html"):
        assert not soup(newsroom, key).select("nav.sections-nav"), key


def test_the_home_page_links_to_older_stories_and_to_each_section(site: Newsroom) -> None:
    home = soup(site, "index.html")
    shown = [a.get_text() for a in home.select(".story-title a")]
    assert shown == ["Story 5", "Story 4", "Story 3"]
    older = home.select_one("a[rel=next]")
    assert older is not None
    # Six stories in pages of two: the 4th newest ("Story 2") is on page 2 (from the oldest).
    assert older["href"] == "/page/2/"
    page = soup(site, "page/2/index.html")
    assert [a.get_text() for a in page.select(".story-title a")] == ["Story 3", "Story 2"]
    assert page.h1 is not None
    assert "Latest news" in page.h1.get_text()
    newer = page.select_one("a[rel=prev]")
    assert newer is not None
    assert newer["href"] == "/page/3/"
    assert soup(site, "page/3/index.html").select_one("a[rel=prev]")["href"] == "/"  # type: ignore[index]
    onward = [(a.get_text(), a["href"]) for a in home.select("nav.onward a")]
    assert onward == NAV[1:]


def test_a_short_home_page_has_no_older_link(navigated: Services) -> None:
    newsroom = Newsroom(navigated)
    newsroom.publish(slug="only")
    assert soup(newsroom, "index.html").select_one("a[rel=next]") is None
