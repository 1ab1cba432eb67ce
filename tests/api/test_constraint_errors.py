"""A write that breaks a database constraint: a unique violation is a concurrent request that
committed first (409, retry); any other constraint (NOT NULL, a foreign key) is a bug, not a
race, and answers 500 without changing anything. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from pipeline.config import Settings
from pipeline.content import schedule
from pipeline.content.models import Schedule, ScheduleAction, Section
from pipeline.events.models import Event
from pipeline.schema import Base, utcnow
from pipeline.services import Services
from tests.api.conftest import Headers, assert_problem, content, fingerprint
from tests.integration.conftest import database_url  # noqa: F401 (a fixture)

BAD_ROWS: dict[str, Callable[[], Base]] = {
    "unique": lambda: Section(slug="world", name="World again"),
    "not-null": lambda: Event(kind=None, actor="test"),
    "foreign-key": lambda: Schedule(
        article_id=987654,
        action=ScheduleAction.PUBLISH,
        due_at=utcnow() + timedelta(days=1),
        actor="test",
    ),
}


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    if request.param == "sqlite":
        return settings
    return replace(settings, database_url=request.getfixturevalue("database_url"))


@pytest.fixture
def server_errors_answered(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def saving_also(monkeypatch: pytest.MonkeyPatch, bad_row: Callable[[], Base]) -> None:
    """The next save also writes `bad_row`, in the same transaction."""
    real = schedule.save

    def save(session: Session, *args: Any, **options: Any) -> Any:
        saved = real(session, *args, **options)
        session.add(bad_row())
        session.flush()
        return saved

    monkeypatch.setattr(schedule, "save", save)


def test_a_unique_violation_is_a_concurrent_request(
    server_errors_answered: TestClient, editor: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_errors_answered.put("/v1/articles/first", json=content(), headers=editor)
    saving_also(monkeypatch, BAD_ROWS["unique"])
    response = server_errors_answered.put("/v1/articles/second", json=content(), headers=editor)
    assert "a concurrent request" in assert_problem(response, 409)["detail"]


@pytest.mark.parametrize("constraint", ["not-null", "foreign-key"])
def test_other_constraint_failures_are_bugs_and_change_nothing(
    server_errors_answered: TestClient,
    services: Services,
    editor: Headers,
    monkeypatch: pytest.MonkeyPatch,
    constraint: str,
) -> None:
    server_errors_answered.put("/v1/articles/first", json=content(), headers=editor)
    before = fingerprint(services)
    saving_also(monkeypatch, BAD_ROWS[constraint])
    response = server_errors_answered.put("/v1/articles/second", json=content(), headers=editor)
    problem = assert_problem(response, 500)
    assert "concurrent" not in problem["detail"]
    assert fingerprint(services) == before
