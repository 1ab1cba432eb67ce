"""A schedule that fails: its tries are counted on its row, each next try waits twice as long,
and after a limit it gives up (marked failed, shown in the article's view) instead of being
tried every couple of seconds for ever; failing rows never keep due ones from running. On
SQLite and PostgreSQL (where several processes share the due rows, SKIP LOCKED)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.config import Settings
from pipeline.content import schedule
from pipeline.content.models import Schedule
from pipeline.content.schedule import run_due
from pipeline.db import transaction
from pipeline.schema import utcnow
from pipeline.services import Services
from tests.api.conftest import Headers, content
from tests.api.test_schedule import iso, scheduler
from tests.integration.conftest import database_url  # noqa: F401 (a fixture)


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    if request.param == "sqlite":
        return settings
    return replace(settings, database_url=request.getfixturevalue("database_url"))


def embargo(client: TestClient, headers: Headers, slug: str, due: datetime) -> None:
    saved = client.put(f"/v1/articles/{slug}", headers=headers, json=content())
    assert saved.status_code == 201, saved.text
    scheduled = client.post(
        f"/v1/articles/{slug}/publish", headers=headers, json={"publish_at": iso(due)}
    )
    assert scheduled.status_code == 202, scheduled.text


def poison(monkeypatch: pytest.MonkeyPatch, *slugs: str) -> None:
    """Publishing these articles fails, every time."""
    real = schedule.publish_now

    def publish_now(session: Session, slug: str, **options: Any) -> Any:
        if slug in slugs:
            raise RuntimeError(f"{slug} cannot be published")
        return real(session, slug, **options)

    monkeypatch.setattr(schedule, "publish_now", publish_now)


def row_of(services: Services) -> Schedule:
    with transaction(services.sessions) as session:
        return session.scalars(select(Schedule)).one()


def test_a_failing_schedule_backs_off_then_gives_up_and_says_so(
    client: TestClient, editor: Headers, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    due = utcnow() + timedelta(hours=1)
    embargo(client, editor, "harbour", due)
    poison(monkeypatch, "harbour")
    now, waits = due, []
    for attempt in range(1, schedule.MAX_ATTEMPTS + 1):
        early = run_due(scheduler(services), now=now - timedelta(seconds=1))
        assert early.outcomes == []
        assert row_of(services).attempts == attempt - 1  # not tried before its time
        run_due(scheduler(services), now=now)
        row = row_of(services)
        assert row.attempts == attempt
        assert row.last_error == "RuntimeError: harbour cannot be published"
        if attempt < schedule.MAX_ATTEMPTS:
            assert row.failed_at is None
            waits.append(row.next_attempt_at - now)
            now = row.next_attempt_at
    doubling = [schedule.BACKOFF_FIRST * 2**number for number in range(len(waits))]
    assert waits == [min(wait, schedule.BACKOFF_CAP) for wait in doubling]
    assert waits[-1] == schedule.BACKOFF_CAP
    assert row_of(services).failed_at == now
    run_due(scheduler(services), now=now + timedelta(days=1))
    assert row_of(services).attempts == schedule.MAX_ATTEMPTS  # given up: never tried again
    shown = client.get("/v1/articles/harbour", headers=editor).json()["schedules"]
    assert shown == [
        {
            "action": "publish",
            "due_at": iso(due),
            "attempts": schedule.MAX_ATTEMPTS,
            "error": "RuntimeError: harbour cannot be published",
            "failed_at": iso(now),
        }
    ]


def test_rescheduling_a_failed_schedule_starts_its_tries_afresh(
    client: TestClient, editor: Headers, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    due = utcnow() + timedelta(hours=1)
    embargo(client, editor, "harbour", due)
    with transaction(services.sessions) as session:
        row = session.scalars(select(Schedule)).one()
        row.attempts, row.failed_at, row.last_error = schedule.MAX_ATTEMPTS, due, "boom"
    again = due + timedelta(hours=1)
    moved = client.post(
        "/v1/articles/harbour/publish", headers=editor, json={"publish_at": iso(again)}
    )
    assert moved.status_code == 202, moved.text
    row = row_of(services)
    assert (row.attempts, row.failed_at, row.last_error) == (0, None, None)
    assert row.next_attempt_at == again
    report = run_due(scheduler(services), now=again)
    assert [outcome.status for outcome in report.outcomes] == ["live"]


def test_failing_schedules_never_keep_due_ones_waiting(
    client: TestClient, editor: Headers, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schedule, "DUE_BATCH", 2)
    due = utcnow() + timedelta(hours=1)
    embargo(client, editor, "bad-one", due - timedelta(minutes=2))
    embargo(client, editor, "bad-two", due - timedelta(minutes=1))
    embargo(client, editor, "harbour", due)
    poison(monkeypatch, "bad-one", "bad-two")
    outcomes = []
    for _ in range(2):  # the first run takes the two oldest; they wait, the next takes it
        outcomes += run_due(scheduler(services), now=due).outcomes
    assert [outcome.status for outcome in outcomes] == ["live"]
    assert client.get("/v1/articles/harbour", headers=editor).json()["status"] == "published"
