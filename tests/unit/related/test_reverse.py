"""The reverse update (pipeline/related/reverse.py): the rails a change enters or leaves."""

from __future__ import annotations

from sqlalchemy import select

from pipeline.content.models import Article
from pipeline.db import transaction
from pipeline.events.models import Event
from tests.conftest import Newsroom
from tests.unit.related.topics import TOPICS, publish_topic, rail, rail_on_page


def test_a_new_article_enters_an_old_articles_rail(newsroom: Newsroom) -> None:
    publish_topic(newsroom, "volcano-old", "volcano")
    publish_topic(newsroom, "football-old", "football")
    assert "volcano-new" not in rail_on_page(newsroom, "volcano-old")
    old_key = newsroom.key("volcano-old")
    outcome = newsroom.publish(
        slug="volcano-new",
        title="Volcano lava reaches village",
        body="Lava from the volcano crater reached the village as geologists watched.",
        section="world",
        tags=[],
    )
    assert outcome.report is not None
    assert old_key in outcome.report.written  # reverse update: the old page got a new rail
    assert rail_on_page(newsroom, "volcano-old")[0] == "volcano-new"


def test_the_new_page_goes_live_before_the_rails_it_enters(newsroom: Newsroom) -> None:
    publish_topic(newsroom, "volcano-first", "volcano")
    outcome = publish_topic(newsroom, "volcano-next", "volcano", extra="ash closes roads")
    assert outcome.report is not None
    written = outcome.report.written
    assert written[0] == newsroom.key("volcano-next")
    assert written.index(newsroom.key("volcano-first")) > 0
    with transaction(newsroom.services.sessions) as session:
        event = session.get(Event, outcome.event_id)
        assert event is not None
        assert event.started_at is not None
        assert event.page_live_at is not None
        assert event.rendered_at is not None
        assert event.started_at <= event.page_live_at <= event.rendered_at


def test_an_unpublished_article_leaves_every_rail(newsroom: Newsroom) -> None:
    for number in range(4):
        publish_topic(newsroom, f"chips-{number}", "chips", extra=f"model {number}")
    holders = [f"chips-{n}" for n in range(4) if "chips-2" in rail_on_page(newsroom, f"chips-{n}")]
    assert len(holders) == 3
    newsroom.unpublish("chips-2")
    for number in (0, 1, 3):
        assert "chips-2" not in rail_on_page(newsroom, f"chips-{number}")
        assert "chips-2" not in rail(newsroom, f"chips-{number}")


def test_a_retitle_shows_in_every_rail(newsroom: Newsroom) -> None:
    for number in range(4):
        publish_topic(newsroom, f"football-{number}", "football", extra=f"match {number}")
    _title, body = TOPICS["football"]
    newsroom.publish(
        slug="football-1",
        title="Cup final striker named player of the season",
        body=f"{body} match 1",
        section="world",
        tags=[],
    )
    for number in (0, 2, 3):
        page = newsroom.read(newsroom.key(f"football-{number}")) or ""
        if "football-1" in rail_on_page(newsroom, f"football-{number}"):
            assert "Cup final striker named player of the season" in page
        assert "Striker scores in cup final match 1" not in page


def test_an_entered_rail_scores_the_newcomer_as_a_full_query_does(newsroom: Newsroom) -> None:
    """Reverse updates merge the new article into older rails instead of recomputing them:
    right after each publish, every rail showing the newcomer must give it the score that
    rail's own full query gives it now."""
    related = newsroom.services.related
    topics = list(TOPICS)
    entered = 0
    for number in range(9):
        publish_topic(newsroom, f"story-{number}", topics[number % 3], extra=f"day {number}")
        with transaction(newsroom.services.sessions) as session:
            newcomer = session.scalars(
                select(Article.id).where(Article.slug == f"story-{number}")
            ).one()
            for holder in related.holders(session, newcomer):
                stored = {e.neighbour_id: e.score for e in related.rail(session, holder)}
                full = {
                    n.article_id: n.score
                    for n in related.neighbours(session, holder, related.tuning.candidates)
                }
                assert abs(stored[newcomer] - full[newcomer]) < 1e-9 * full[newcomer]
                entered += 1
    assert entered >= 6  # each story entered the rails of its topic's earlier stories
