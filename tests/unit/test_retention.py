"""Pruning events keeps what ops and provenance still need."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from pipeline.db import transaction
from pipeline.models import Event, EventStatus, utcnow
from pipeline.retention import prune_events
from tests.conftest import Newsroom


def test_prune_removes_old_finished_events_only(newsroom: Newsroom) -> None:
    for version in range(3):
        newsroom.publish(slug="often", title=f"Headline take {version}")
    newsroom.publish(slug="other")
    with transaction(newsroom.services.sessions) as session:
        session.execute(update(Event).values(accepted_at=utcnow() - timedelta(days=90)))
        failed = Event(
            kind="publish",
            actor="t",
            article_version=1,
            status=EventStatus.FAILED,
            accepted_at=utcnow() - timedelta(days=90),
            error="boom",
        )
        session.add(failed)
    removed = prune_events(newsroom.services, older_than_days=30)
    with transaction(newsroom.services.sessions) as session:
        left = session.execute(select(Event.id, Event.status, Event.article_id)).all()
    assert removed >= 1
    statuses = [row.status for row in left]
    assert EventStatus.FAILED in statuses  # failures stay for ops
    assert {row.article_id for row in left} >= {1, 2}  # each article keeps its newest event
    # Only the second take of "often" went: the first still holds the site's furniture
    # (provenance of live outputs), the third is the article's newest.
    assert removed == 1
    assert sorted(row.id for row in left) == [1, 3, 4, 5]
