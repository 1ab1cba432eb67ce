""" "More like this": content-based scoring and reverse updates on a small corpus."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pipeline.content.models import Article
from pipeline.db import transaction
from pipeline.events.models import Event
from pipeline.events.processing import Outcome
from tests.conftest import Newsroom

TOPICS = {
    "volcano": ("Volcano erupts near village", "Lava and ash from the volcano forced the village "
                "to evacuate. Geologists watched the crater and the lava flow."),
    "football": ("Striker scores in cup final", "The striker scored twice as the club won the cup "
                 "final. The goalkeeper saved a penalty before the striker's goal."),
    "chips": ("Chipmaker unveils faster processor", "The chipmaker said its processor uses "
              "smaller transistors. Semiconductor factories will build the processor."),
}  # fmt: skip


def publish_topic(newsroom: Newsroom, slug: str, topic: str, extra: str = "") -> Outcome:
    title, body = TOPICS[topic]
    return newsroom.publish(
        slug=slug,
        title=f"{title} {extra}".strip(),
        body=f"{body} {extra}",
        tags=[],
        section="world",
    )


def rail(newsroom: Newsroom, slug: str) -> list[str]:
    with transaction(newsroom.services.sessions) as session:
        article = session.scalars(select(Article).where(Article.slug == slug)).one()
        return [
            related.slug
            for related in newsroom.services.renderer.related_articles(session, article.id)
        ]


def rail_on_page(newsroom: Newsroom, slug: str) -> list[str]:
    from bs4 import BeautifulSoup

    page = BeautifulSoup(newsroom.read(newsroom.key(slug)) or "", "html5lib")
    return [a["href"].rstrip("/").split("/")[-1] for a in page.select("#related-rail li a")]


def test_related_articles_share_content_not_just_section(newsroom: Newsroom) -> None:
    for number in range(3):
        for topic in TOPICS:
            publish_topic(newsroom, f"{topic}-{number}", topic, extra=f"update {number}")
    for topic in TOPICS:
        neighbours = rail(newsroom, f"{topic}-0")
        assert set(neighbours[:2]) == {f"{topic}-1", f"{topic}-2"}, neighbours
        assert rail_on_page(newsroom, f"{topic}-0") == neighbours


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


def test_explanations_name_the_shared_terms(newsroom: Newsroom) -> None:
    publish_topic(newsroom, "volcano-a", "volcano")
    publish_topic(newsroom, "volcano-b", "volcano", extra="again")
    with transaction(newsroom.services.sessions) as session:
        article = session.scalars(select(Article).where(Article.slug == "volcano-a")).one()
        entries = newsroom.services.related.rail(session, article.id)
    assert len(entries) == 1
    assert entries[0].score > 0
    assert set(entries[0].terms) & {"volcano", "lava", "village", "crater"}


def test_tags_make_articles_related(newsroom: Newsroom) -> None:
    newsroom.publish(slug="tag-a", title="Alpha", body="Unrelated words here.", tags=["mars"])
    newsroom.publish(slug="tag-b", title="Beta", body="Completely different text.", tags=["mars"])
    newsroom.publish(slug="tag-c", title="Gamma", body="Nothing in common at all.", tags=["opera"])
    assert rail(newsroom, "tag-a")[0] == "tag-b"


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
                    for n in related.neighbours(session, holder, related.candidates)
                }
                assert abs(stored[newcomer] - full[newcomer]) < 1e-9 * full[newcomer]
                entered += 1
    assert entered >= 6  # each story entered the rails of its topic's earlier stories


def test_the_index_keeps_its_document_count_and_term_counts_exact(newsroom: Newsroom) -> None:
    """Document frequencies (and the number of documents, the empty term's count) are kept by
    increments on publish, update and unpublish: they must equal a count of the index."""
    from collections import Counter

    from pipeline.related.index import ALL_DOCUMENTS
    from pipeline.related.models import RelatedDocument, TermFrequency

    for number, topic in enumerate(["volcano", "football", "chips", "volcano"]):
        publish_topic(newsroom, f"counted-{number}", topic)
    publish_topic(newsroom, "counted-1", "chips", extra="retitled")  # an update re-indexes
    newsroom.unpublish("counted-2")
    with transaction(newsroom.services.sessions) as session:
        documents = session.scalars(select(RelatedDocument)).all()
        expected = Counter(term for document in documents for term in document.vocabulary)
        expected[ALL_DOCUMENTS] = len(documents)
        stored = dict(session.execute(select(TermFrequency.term, TermFrequency.documents)).all())
    assert len(documents) == 3
    assert {term: count for term, count in stored.items() if count} == dict(expected)


def test_rails_refreshed_together_are_the_rails_refreshed_one_by_one(
    newsroom: Newsroom,
) -> None:
    """A rebuild recomputes rails in batches (one lock, one read and one write for all of
    them): each must come out as its own refresh computes it, reasons included."""
    from pipeline.related.models import RelatedRail

    related = newsroom.services.related
    for number in range(9):
        publish_topic(newsroom, f"batch-{number}", list(TOPICS)[number % 3], extra=f"day {number}")
    with transaction(newsroom.services.sessions) as session:
        ids = sorted(session.scalars(select(Article.id)))
        session.execute(delete(RelatedRail))
        assert all(related.refresh_rails(session, [article_id]) for article_id in ids)
        one_by_one = {article_id: related.rail(session, article_id) for article_id in ids}
        session.execute(delete(RelatedRail))
        # An empty rail differs from every computed one: each comes back as changed.
        assert related.refresh_rails(session, list(reversed(ids))) == set(ids)
        together = {article_id: related.rail(session, article_id) for article_id in ids}
        assert related.refresh_rails(session, ids) == set()  # nothing moved since
    assert all(one_by_one.values())
    assert together == one_by_one


def test_a_rail_entered_while_its_batch_was_computed_keeps_the_newcomer(
    newsroom: Newsroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rails refreshed together are computed before they are locked. A publish that enters
    one of them in between (here, run just before the batch takes its locks) must not have
    its entry overwritten by the batch's older result."""
    from pipeline.content import articles
    from pipeline.content.inputs import parse_article
    from pipeline.related.index import RelatedIndex
    from tests.conftest import article_data

    related = newsroom.services.related
    for number in range(3):
        publish_topic(newsroom, f"volcano-{number}", "volcano", extra=f"day {number}")
    publish_topic(newsroom, "football-0", "football")
    lock = RelatedIndex._lock_documents
    sneaked: list[int] = []

    def publish_first(index: RelatedIndex, session: Session, article_ids: list[int]) -> None:
        if not sneaked:  # once: the publish below takes locks of its own
            title, body = TOPICS["volcano"]
            data, _ = parse_article(
                article_data(slug="volcano-late", title=title, body=body, tags=[])
            )
            change = articles.publish(session, data, actor="test")
            sneaked.append(change.article_id)
            late = session.get(Article, change.article_id)
            assert late is not None
            index.spread_change(session, late.id, index.apply_own(session, late))
        lock(index, session, article_ids)

    monkeypatch.setattr(RelatedIndex, "_lock_documents", publish_first)
    with transaction(newsroom.services.sessions) as session:
        volcano = session.scalars(select(Article.id).where(Article.slug == "volcano-0")).one()
        related.refresh_rails(session, [volcano])
        rail = [entry.neighbour_id for entry in related.rail(session, volcano)]
    assert sneaked
    assert sneaked[0] in rail, rail
