"""Pruning events keeps what ops and provenance still need (on SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from pipeline.config import Settings
from pipeline.db import transaction
from pipeline.events.models import Event, EventStatus
from pipeline.events.retention import prune_events
from pipeline.schema import utcnow
from tests.conftest import Newsroom
from tests.integration.conftest import database_url  # noqa: F401 (a fixture)
from tests.statements import counted


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    if request.param == "sqlite":
        return settings
    return replace(settings, database_url=request.getfixturevalue("database_url"))


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


def test_prune_deletes_in_batches_each_its_own_transaction(newsroom: Newsroom) -> None:
    newsroom.publish(slug="often")
    old = utcnow() - timedelta(days=90)
    with transaction(newsroom.services.sessions) as session:
        article_id = session.scalars(select(Event.article_id)).one()
        session.add_all(
            Event(
                kind="update",
                actor="t",
                article_id=article_id,
                article_version=1,
                status=EventStatus.LIVE,
                accepted_at=old,
            )
            for _ in range(12)
        )
    newsroom.publish(slug="often", title="The newest take")  # the article's newest event
    with counted(newsroom.services.engine) as work:
        removed = prune_events(newsroom.services, older_than_days=30, batch=5)
    assert removed == 12
    deletes = [
        len([sql for sql in statements if sql.startswith("DELETE")])
        for statements in work.per_commit
    ]
    assert deletes.count(1) == 3  # 5 + 5 + 2
    assert set(deletes) <= {0, 1}  # one batch a transaction
    with transaction(newsroom.services.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 2
