"""Author pages: one paged list per byline name, kept by the dependency table like a tag's."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select

from pipeline.config import Settings
from pipeline.content.models import ArticleAuthor
from pipeline.db import transaction
from pipeline.publish.models import Output
from pipeline.publish.reconcile import reconcile
from pipeline.schema import utcnow
from pipeline.services import Services, create_services
from pipeline.site.impact import impact
from pipeline.site.outputs import Kind, OutputSpec
from tests.conftest import Newsroom

ANN = "authors/ann-writer/index.html"


@pytest.fixture
def small_pages(settings: Settings) -> Iterator[Services]:
    built = create_services(dataclasses.replace(settings, page_size=2))
    yield built
    built.engine.dispose()


@pytest.fixture
def desk(small_pages: Services) -> Newsroom:
    return Newsroom(small_pages)


def written(outcome: object) -> set[str]:
    report = outcome.report  # type: ignore[attr-defined]
    assert report is not None
    return set(report.written)


def page(newsroom: Newsroom, key: str) -> BeautifulSoup:
    body = newsroom.read(key)
    assert body is not None, f"{key} is not in the site"
    return BeautifulSoup(body, "html.parser")


def titles(soup: BeautifulSoup) -> list[str]:
    return [link.get_text() for link in soup.select(".story-title a")]


def test_an_author_page_lists_their_articles_in_pages(desk: Newsroom) -> None:
    for number in range(5):
        desk.publish(slug=f"ann-{number}", title=f"Ann's story {number}", authors=["Ann Writer"])
    desk.publish(slug="bob-0", title="Bob's story", authors=["Bob Other"])
    front = page(desk, ANN)
    assert front.h1 is not None
    assert front.h1.get_text(strip=True) == "Ann Writer"
    assert titles(front) == ["Ann's story 4", "Ann's story 3"]
    # Pages are blocks counted from the oldest: 5 articles in pages of 2 are pages 1 to 3.
    assert titles(page(desk, "authors/ann-writer/page/1/index.html")) == [
        "Ann's story 1",
        "Ann's story 0",
    ]
    assert titles(page(desk, "authors/ann-writer/page/3/index.html")) == ["Ann's story 4"]
    assert desk.read("authors/ann-writer/page/4/index.html") is None
    older = front.select_one("a[rel=next]")
    assert older is not None
    assert older["href"] == "/authors/ann-writer/page/2/"
    canonical = front.select_one("link[rel=canonical]")
    assert canonical is not None
    assert canonical["href"].endswith("/authors/ann-writer/")
    assert titles(page(desk, "authors/bob-other/index.html")) == ["Bob's story"]


def test_bylines_link_to_their_authors_pages(newsroom: Newsroom) -> None:
    newsroom.publish(slug="joint", title="A joint story", authors=["Zoë Brontë", "Ann Writer"])
    article = page(newsroom, newsroom.key("joint"))
    byline = [(a.get_text(), a["href"]) for a in article.select(".byline a[rel=author]")]
    assert byline == [
        ("Zoë Brontë", "/authors/zoe-bronte/"),
        ("Ann Writer", "/authors/ann-writer/"),
    ]
    for key in ("index.html", "politics/index.html", "tags/elections/index.html", ANN):
        teaser = page(newsroom, key).select(".story-byline a[rel=author]")
        assert [a["href"] for a in teaser] == ["/authors/zoe-bronte/", "/authors/ann-writer/"]
    assert page(newsroom, "authors/zoe-bronte/index.html").h1 is not None


def test_an_article_without_a_byline_has_no_author_link(newsroom: Newsroom) -> None:
    newsroom.publish(slug="unsigned", authors=[])
    assert not page(newsroom, newsroom.key("unsigned")).select(".byline")
    assert not page(newsroom, "index.html").select(".story-byline")
    assert not any(key.startswith("authors/") for key in newsroom.stored_keys())


def test_a_publish_rewrites_its_authors_pages_and_no_other(newsroom: Newsroom) -> None:
    newsroom.publish(slug="by-bob", authors=["Bob Other"])
    outcome = newsroom.publish(slug="by-ann", authors=["Ann Writer"])
    changed = written(outcome)
    assert {ANN, "authors/ann-writer/page/1/index.html"} <= changed
    assert not any(key.startswith("authors/bob-other/") for key in changed)
    planned = impact(newsroom.services, "by-ann", "unpublish", utcnow())
    assert OutputSpec(Kind.AUTHOR, "ann-writer") in planned
    assert not any(spec.subject == "bob-other" for spec in planned)


def test_an_author_with_no_live_article_left_loses_their_pages(newsroom: Newsroom) -> None:
    newsroom.publish(slug="only-one", authors=["Bob Other"])
    newsroom.publish(slug="keeps-ann", authors=["Ann Writer"])
    assert newsroom.read("authors/bob-other/index.html") is not None
    outcome = newsroom.unpublish("only-one")
    report = outcome.report
    assert report is not None
    gone = {"authors/bob-other/index.html", "authors/bob-other/page/1/index.html"}
    assert gone <= set(report.deleted)
    assert not gone & newsroom.stored_keys()
    with transaction(newsroom.services.sessions) as session:
        assert session.scalars(select(Output.key).where(Output.key.in_(gone))).all() == []
    assert newsroom.read(ANN) is not None


def test_a_byline_change_moves_the_article_between_authors(newsroom: Newsroom) -> None:
    newsroom.publish(slug="story", title="A changing byline", authors=["Ann Writer"])
    newsroom.publish(slug="other", title="Ann stays", authors=["Ann Writer"])
    outcome = newsroom.publish(slug="story", title="A changing byline", authors=["Cy Third"])
    assert ANN in written(outcome)
    assert titles(page(newsroom, ANN)) == ["Ann stays"]
    assert titles(page(newsroom, "authors/cy-third/index.html")) == ["A changing byline"]
    with transaction(newsroom.services.sessions) as session:
        slugs = session.scalars(select(ArticleAuthor.author_slug)).all()
    assert sorted(slugs) == ["ann-writer", "cy-third"]


def test_reconcile_finds_and_repairs_author_pages(newsroom: Newsroom) -> None:
    newsroom.publish(slug="one", authors=["Ann Writer"])
    assert reconcile(newsroom.services).clean
    newsroom.services.storage.delete([ANN])
    report = reconcile(newsroom.services, repair=True)
    assert report.missing == [ANN]
    assert newsroom.read(ANN) is not None
    assert reconcile(newsroom.services).clean


def test_a_full_rebuild_gives_the_author_pages_the_events_gave(
    desk: Newsroom, tmp_path: Path
) -> None:
    for number in range(3):
        desk.publish(slug=f"s-{number}", authors=["Ann Writer", f"Guest {number}"])
    before = {key: desk.read(key) for key in desk.stored_keys() if key.startswith("authors/")}
    assert len(before) == 3 * 2 + 3  # each guest: front and one page; Ann: front, two pages
    desk.services.storage.delete(list(before))
    desk.rebuild(force=True)
    assert {key: desk.read(key) for key in before} == before
