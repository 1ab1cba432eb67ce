"""Stored rails (pipeline/related/rails.py): their reasons, and refreshes in batches."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pipeline.content.models import Article
from pipeline.db import transaction
from pipeline.related.models import RelatedRail
from pipeline.related.store import IndexStore
from tests.conftest import Newsroom
from tests.unit.related.topics import TOPICS, article_id, publish_topic


def test_explanations_name_the_shared_terms(newsroom: Newsroom) -> None:
    publish_topic(newsroom, "volcano-a", "volcano")
    publish_topic(newsroom, "volcano-b", "volcano", extra="again")
    first = article_id(newsroom, "volcano-a")
    with transaction(newsroom.services.sessions) as session:
        entries = newsroom.services.related.rail(session, first)
    assert len(entries) == 1
    assert entries[0].score > 0
    assert set(entries[0].terms) & {"volcano", "lava", "village", "crater"}


def test_rails_refreshed_together_are_the_rails_refreshed_one_by_one(
    newsroom: Newsroom,
) -> None:
    """A rebuild recomputes rails in batches (one lock, one read and one write for all of
    them): each must come out as its own refresh computes it, reasons included."""
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
    from tests.conftest import article_data

    related = newsroom.services.related
    for number in range(3):
        publish_topic(newsroom, f"volcano-{number}", "volcano", extra=f"day {number}")
    publish_topic(newsroom, "football-0", "football")
    lock = IndexStore.lock_documents
    sneaked: list[int] = []

    def publish_first(store: IndexStore, session: Session, article_ids: list[int]) -> None:
        if not sneaked:  # once: the publish below takes locks of its own
            title, body = TOPICS["volcano"]
            data, _ = parse_article(
                article_data(slug="volcano-late", title=title, body=body, tags=[])
            )
            change = articles.publish(session, data, actor="test")
            sneaked.append(change.article_id)
            late = session.get(Article, change.article_id)
            assert late is not None
            related.spread_change(session, late.id, related.apply_own(session, late))
        lock(store, session, article_ids)

    monkeypatch.setattr(IndexStore, "lock_documents", publish_first)
    volcano = article_id(newsroom, "volcano-0")
    with transaction(newsroom.services.sessions) as session:
        related.refresh_rails(session, [volcano])
        rail = [entry.neighbour_id for entry in related.rail(session, volcano)]
    assert sneaked
    assert sneaked[0] in rail, rail
