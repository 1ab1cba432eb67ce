"""The Google News sitemap (the last 48 hours, valid against its schema) and robots.txt."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import select

from pipeline.db import transaction
from pipeline.publish.models import ListRefresh, Output
from pipeline.publish.news import refresh_aged_news
from pipeline.publish.reconcile import reconcile
from pipeline.render import renderer as renderer_module
from pipeline.schema import utcnow
from pipeline.site.impact import impact
from pipeline.site.outputs import Kind, OutputSpec, content_type
from tests.conftest import SITE_URL, Newsroom

NEWS = "sitemaps/news.xml"
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
GOOGLE_NEWS = "{http://www.google.com/schemas/sitemap-news/0.9}"


@pytest.fixture
def now(newsroom: Newsroom) -> datetime:
    """The renderer's clock, pinned (a minute past the wall clock: nothing published by the
    test lies in its future)."""
    moment = utcnow().replace(microsecond=0) + timedelta(minutes=1)
    newsroom.services.renderer.clock = lambda: moment
    return moment


def publish_at(newsroom: Newsroom, slug: str, moment: datetime, **fields: object) -> None:
    newsroom.publish(slug=slug, published_at=moment.isoformat(), **fields)


def news_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMAS / "news-sitemap.xsd")))


def listed(newsroom: Newsroom) -> list[str]:
    body = newsroom.services.storage.get(NEWS)
    assert body is not None, "no news sitemap"
    tree = etree.fromstring(body)
    return [loc.text.rsplit("/", 2)[-2] for loc in tree.iter(f"{SITEMAP}loc")]


def test_it_lists_the_last_48_hours_newest_first_with_googles_fields(
    newsroom: Newsroom, now: datetime
) -> None:
    publish_at(newsroom, "fresh", now - timedelta(hours=1), title="Fresh & <new>")
    publish_at(newsroom, "day-old", now - timedelta(hours=47, minutes=59))
    publish_at(newsroom, "too-old", now - timedelta(hours=48, minutes=1))
    assert listed(newsroom) == ["fresh", "day-old"]
    body = newsroom.services.storage.get(NEWS)
    assert body is not None
    tree = etree.fromstring(body)
    news_schema().assertValid(tree)
    first = next(tree.iter(f"{SITEMAP}url"))
    assert first.findtext(f"{SITEMAP}loc") == f"{SITE_URL}/{newsroom.key('fresh')[:-10]}"
    news = first.find(f"{GOOGLE_NEWS}news")
    assert news is not None
    assert news.findtext(f"{GOOGLE_NEWS}publication/{GOOGLE_NEWS}name") == "The Test Gazette"
    assert news.findtext(f"{GOOGLE_NEWS}publication/{GOOGLE_NEWS}language") == "en"
    published = now - timedelta(hours=1)
    assert news.findtext(f"{GOOGLE_NEWS}publication_date") == f"{published:%Y-%m-%dT%H:%M:%SZ}"
    assert news.findtext(f"{GOOGLE_NEWS}title") == "Fresh & <new>"


def test_the_schema_refuses_a_news_entry_without_its_title(
    newsroom: Newsroom, now: datetime
) -> None:
    publish_at(newsroom, "fresh", now - timedelta(hours=1))
    body = newsroom.services.storage.get(NEWS)
    assert body is not None
    tree = etree.fromstring(body)
    for title in tree.iter(f"{GOOGLE_NEWS}title"):
        title.getparent().remove(title)
    assert not news_schema().validate(tree)  # the check can fail


def test_it_lists_at_most_its_limit(
    newsroom: Newsroom, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(renderer_module, "NEWS_LIMIT", 2)
    for minutes in (3, 2, 1):
        publish_at(newsroom, f"m-{minutes}", now - timedelta(minutes=minutes))
    assert listed(newsroom) == ["m-1", "m-2"]


def test_the_sitemap_index_and_robots_txt_point_at_it(newsroom: Newsroom, now: datetime) -> None:
    publish_at(newsroom, "fresh", now - timedelta(hours=1))
    index = newsroom.read("sitemap.xml")
    assert index is not None
    assert f"<loc>{SITE_URL}/sitemaps/news.xml</loc>" in index
    assert newsroom.read("robots.txt") == (
        f"User-agent: *\nAllow: /\nDisallow: /_previews/\n\nSitemap: {SITE_URL}/sitemap.xml\n"
    )
    assert content_type("robots.txt") == "text/plain; charset=utf-8"


def test_with_nothing_recent_there_is_no_news_sitemap_and_the_index_omits_it(
    newsroom: Newsroom, now: datetime
) -> None:
    publish_at(newsroom, "old", now - timedelta(days=3))
    assert newsroom.read(NEWS) is None
    index = newsroom.read("sitemap.xml")
    assert index is not None
    assert "news.xml" not in index
    robots = newsroom.read("robots.txt")
    assert robots is not None
    assert "news.xml" not in robots


def test_a_publish_an_update_and_an_unpublish_rewrite_it(newsroom: Newsroom, now: datetime) -> None:
    publish_at(newsroom, "one", now - timedelta(hours=2), title="First title")
    outcome = newsroom.publish(slug="two", published_at=(now - timedelta(hours=1)).isoformat())
    assert outcome.report is not None
    assert NEWS in outcome.report.written
    assert listed(newsroom) == ["two", "one"]
    publish_at(newsroom, "one", now - timedelta(hours=2), title="Second title")
    assert "Second title" in (newsroom.read(NEWS) or "")
    assert OutputSpec(Kind.SITEMAP_NEWS) in impact(newsroom.services, "two", "unpublish", now)
    newsroom.unpublish("two")
    assert listed(newsroom) == ["one"]
    newsroom.unpublish("one")
    assert newsroom.read(NEWS) is None
    with transaction(newsroom.services.sessions) as session:
        assert session.get(Output, NEWS) is None


def test_an_old_article_published_late_leaves_it_unwritten(
    newsroom: Newsroom, now: datetime
) -> None:
    publish_at(newsroom, "recent", now - timedelta(hours=1))
    outcome = newsroom.publish(slug="archive", published_at="2020-05-01T10:00:00+00:00")
    assert outcome.report is not None
    assert NEWS not in outcome.report.written  # re-rendered, same bytes: not written


def test_the_beat_takes_out_what_aged_and_only_when_something_did(
    newsroom: Newsroom, now: datetime
) -> None:
    publish_at(newsroom, "older", now - timedelta(hours=47))
    publish_at(newsroom, "newer", now - timedelta(hours=2))
    services, dispatcher = newsroom.services, newsroom.dispatcher
    assert not refresh_aged_news(services, dispatcher)  # nothing aged: nothing queued
    later = now + timedelta(hours=2)
    services.renderer.clock = lambda: later
    assert refresh_aged_news(services, dispatcher)  # the eager dispatcher refreshes now
    assert listed(newsroom) == ["newer"]
    assert not refresh_aged_news(services, dispatcher)
    with transaction(services.sessions) as session:
        row = session.scalars(select(ListRefresh).where(ListRefresh.list_key == "sitemaps")).one()
        assert row.specs == []
    services.renderer.clock = lambda: later + timedelta(days=2)
    assert refresh_aged_news(services, dispatcher)
    assert newsroom.read(NEWS) is None
    index = newsroom.read("sitemap.xml")
    assert index is not None
    assert "news.xml" not in index


def test_reconcile_sees_a_news_sitemap_that_should_have_aged(
    newsroom: Newsroom, now: datetime
) -> None:
    publish_at(newsroom, "older", now - timedelta(hours=47))
    publish_at(newsroom, "newer", now - timedelta(hours=2))
    assert reconcile(newsroom.services).clean
    newsroom.services.renderer.clock = lambda: now + timedelta(hours=2)
    report = reconcile(newsroom.services, repair=True)
    assert NEWS in report.stale
    assert listed(newsroom) == ["newer"]
    assert reconcile(newsroom.services).clean
