"""The planner's decisions: which outputs a publish, update, retitle and unpublish touch."""

from __future__ import annotations

from sqlalchemy import select

from pipeline.content.models import Article
from pipeline.db import transaction
from pipeline.site.outputs import Kind, OutputSpec
from pipeline.site.planner import plan_everything
from tests.conftest import Newsroom
from tests.statements import counted


def written(outcome: object) -> set[str]:
    report = outcome.report  # type: ignore[attr-defined]
    assert report is not None
    return set(report.written)


def deleted(outcome: object) -> set[str]:
    report = outcome.report  # type: ignore[attr-defined]
    assert report is not None
    return set(report.deleted)


def test_first_publish_builds_every_kind_of_output(newsroom: Newsroom) -> None:
    outcome = newsroom.publish(slug="first", section="world", tags=["trade", "europe"])
    key = newsroom.key("first")
    static = {key for key in written(outcome) if key.startswith("static/")}
    assert {"static/style.css", "static/favicon.svg"} <= static
    assert written(outcome) - static == {
        key,
        "index.html",
        "feeds/latest.xml",
        "fragments/latest.html",
        "api/latest.json",
        "world/index.html",
        "world/page/1/index.html",
        "world/feed.xml",
        "tags/trade/index.html",
        "tags/trade/page/1/index.html",
        "tags/europe/index.html",
        "tags/europe/page/1/index.html",
        "authors/ann-writer/index.html",
        "authors/ann-writer/page/1/index.html",
        "page/1/index.html",
        "sitemaps/2024-01.xml",
        "sitemap.xml",
        "robots.txt",
        "404.html",
    }


def test_publish_touches_only_its_own_lists(newsroom: Newsroom) -> None:
    newsroom.publish(
        slug="sport-story",
        title="Striker scores twice",
        body="The striker scored twice in the derby.",
        section="sport",
        tags=["football"],
    )
    outcome = newsroom.publish(
        slug="politics-story",
        title="Parliament passes budget",
        body="Members of parliament passed the budget bill.",
        section="politics",
        tags=["elections"],
    )
    changed = written(outcome)
    assert not any(key.startswith(("sport/", "tags/football/")) for key in changed)
    # The older sport article's page is not rewritten: its rail holds only older articles.
    assert newsroom.key("sport-story") not in changed


def test_a_new_article_rewrites_only_the_newest_pages_of_a_long_list(newsroom: Newsroom) -> None:
    size = newsroom.services.settings.page_size
    for number in range(2 * size + 3):
        newsroom.publish(slug=f"filler-{number}", section="business", tags=["markets"])
    outcome = newsroom.publish(slug="newest", section="business", tags=["markets"])
    pages = {key for key in written(outcome) if "page/" in key}
    # 2*size+4 articles: pages 1 and 2 are full and untouched, page 3 gains the article.
    assert pages == {
        "business/page/3/index.html",
        "tags/markets/page/3/index.html",
        "authors/ann-writer/page/3/index.html",
        "page/3/index.html",
    }


def test_update_rerenders_the_page_and_the_lists_that_show_it(newsroom: Newsroom) -> None:
    newsroom.publish(
        slug="older",
        title="Orchestra tours abroad",
        body="The orchestra begins its autumn tour.",
        section="culture",
        tags=["music"],
    )
    newsroom.publish(slug="changing", title="Before the correction")
    newsroom.publish(slug="later", title="A later story")
    outcome = newsroom.publish(slug="changing", title="After the correction")
    changed = written(outcome)
    # The retitled article's page, the lists that show it, and the later article whose
    # "Latest articles" rail shows its headline.
    assert newsroom.key("changing") in changed
    assert newsroom.key("later") in changed
    assert {"index.html", "politics/index.html", "feeds/latest.xml"} <= changed
    # Nothing shows the unrelated older article's neighbour: its page stays as it was.
    assert newsroom.key("older") not in changed
    for key in newsroom.stored_keys():
        assert "Before the correction" not in (newsroom.read(key) or ""), key
    later_page = newsroom.read(newsroom.key("later")) or ""
    assert "After the correction" in later_page
    assert "Before the correction" not in later_page


def test_unpublish_deletes_the_page_and_empties_lists(newsroom: Newsroom) -> None:
    newsroom.publish(slug="keeper", section="politics", tags=["elections"])
    newsroom.publish(slug="goner", section="science", tags=["space"])
    key = newsroom.key("goner")
    outcome = newsroom.unpublish("goner")
    assert key in deleted(outcome)
    assert {
        "science/index.html",
        "science/page/1/index.html",
        "science/feed.xml",
        "tags/space/index.html",
        "tags/space/page/1/index.html",
    } <= deleted(outcome)
    assert "index.html" in written(outcome)
    for stored in newsroom.stored_keys():
        assert "goner" not in (newsroom.read(stored) or ""), stored
        assert "goner" not in stored


def test_moving_an_article_leaves_a_redirect(newsroom: Newsroom) -> None:
    newsroom.publish(slug="mover", section="politics")
    old_key = newsroom.key("mover")
    outcome = newsroom.publish(slug="mover", section="world")
    new_key = newsroom.key("mover")
    assert new_key != old_key
    assert {new_key, old_key} <= written(outcome)
    redirect = newsroom.read(old_key) or ""
    assert 'http-equiv="refresh"' in redirect
    assert "/" + new_key.removesuffix("index.html") in redirect
    assert "politics/index.html" in deleted(outcome)  # the section emptied
    # Unpublishing it takes the redirect down too: the slug is gone from the site.
    newsroom.unpublish("mover")
    assert newsroom.read(old_key) is None
    assert newsroom.read(new_key) is None


def test_sitemap_months_follow_publishes_moves_and_unpublishes(newsroom: Newsroom) -> None:
    """The sitemap index reads one row per month that events keep: after a publish, a move to
    another month, an update and an unpublish, the rows equal a recount of the archive, and
    the stored sitemap index lists exactly the months with published articles."""
    from xml.etree import ElementTree as ET

    from pipeline.site import lists
    from pipeline.site.models import SitemapMonth

    def month_rows() -> dict[str, tuple[int, object]]:
        with transaction(newsroom.services.sessions) as session:
            rows = session.scalars(select(SitemapMonth).where(SitemapMonth.members > 0))
            return {row.month: (row.members, row.lastmod) for row in rows}

    def listed() -> list[str]:
        index = ET.fromstring((newsroom.read("sitemap.xml") or "").encode())
        return [
            (loc.text or "").rsplit("/", 1)[-1].removesuffix(".xml")
            for loc in index.iter("{http://www.sitemaps.org/schemas/sitemap/0.9}loc")
        ]

    newsroom.publish(slug="stays", published_at="2024-01-10T09:00:00Z")
    newsroom.publish(slug="moves", published_at="2024-01-20T09:00:00Z")
    assert {month: rows[0] for month, rows in month_rows().items()} == {"2024-01": 2}
    newsroom.publish(slug="moves", published_at="2024-03-02T09:00:00Z", title="Moved on")
    assert {month: rows[0] for month, rows in month_rows().items()} == {
        "2024-01": 1,
        "2024-03": 1,
    }
    assert listed() == ["2024-01", "2024-03"]
    newsroom.unpublish("stays")
    assert listed() == ["2024-03"]
    with transaction(newsroom.services.sessions) as session:
        recounted = lists._count_every_month(session)
        lastmod = session.scalars(select(Article.updated_at).where(Article.slug == "moves")).one()
    assert month_rows() == {month: (members, when) for month, (members, when) in recounted.items()}
    assert month_rows()["2024-03"][1] == lastmod


def test_planning_everything_counts_every_list_in_a_fixed_number_of_statements(
    newsroom: Newsroom,
) -> None:
    def plan_counts() -> tuple[set[OutputSpec], list[str]]:
        with (
            transaction(newsroom.services.sessions) as session,
            counted(newsroom.services.engine) as work,
        ):
            specs = plan_everything(session, newsroom.services.settings)
        return specs, work.matching("count(")

    newsroom.publish(slug="few", section="world", tags=["trade", "europe"])
    _, few = plan_counts()
    for number in range(6):
        newsroom.publish(slug=f"more-{number}", section=f"desk-{number}",
                         tags=[f"topic-{number}", f"angle-{number}"])  # fmt: skip
    specs, many = plan_counts()
    # The latest list's length, and sections, tags and authors: one grouped count each.
    assert len(many) == len(few) <= 4
    assert OutputSpec(Kind.TAG_PAGE, "topic-5", 1) in specs
    assert OutputSpec(Kind.SECTION_PAGE, "desk-5", 1) in specs
    assert OutputSpec(Kind.FEED_SECTION, "desk-5") in specs
