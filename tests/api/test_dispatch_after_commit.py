"""Every door to the write path (the CLI, the API, the webhook, the scheduler, the dashboard's
retry) dispatches each event it wrote exactly once, after its transaction has committed and
closed, never from inside the commit; a transaction that rolls back dispatches nothing."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from pipeline.api import writes
from pipeline.api.models import Scope
from pipeline.api.routes import webhook
from pipeline.cli import main as cli
from pipeline.content import schedule
from pipeline.content.schedule import run_due
from pipeline.db import transaction
from pipeline.events.models import Event, EventStatus
from pipeline.schema import utcnow
from pipeline.services import Services
from tests.api.conftest import Headers, content, mint
from tests.api.test_schedule import iso, scheduler
from tests.api.test_webhook import article, push
from tests.conftest import article_data
from tests.ops.conftest import csrf_of
from workers.app import CeleryDispatcher


@dataclass(frozen=True)
class Sent:
    event_id: int
    committed: bool  # the event row was visible to another connection when it was sent
    in_commit: bool  # it was sent from inside a session's commit (a hook)


@pytest.fixture
def sent(services: Services, monkeypatch: pytest.MonkeyPatch) -> list[Sent]:
    """Every event handed to the broker (or run in-process), as it was handed."""
    record: list[Sent] = []
    original = CeleryDispatcher.dispatch

    def dispatch(self: CeleryDispatcher, event_id: int) -> None:
        record.append(Sent(event_id, committed(services, event_id), inside_commit()))
        original(self, event_id)

    monkeypatch.setattr(CeleryDispatcher, "dispatch", dispatch)
    return record


def committed(services: Services, event_id: int) -> bool:
    with services.engine.connect() as connection:
        return connection.scalar(select(Event.id).where(Event.id == event_id)) is not None


def inside_commit() -> bool:
    frame = inspect.currentframe()
    while frame is not None:
        code = frame.f_code
        if code.co_name == "commit" and "sqlalchemy" in code.co_filename:
            return True
        frame = frame.f_back
    return False


def events(services: Services) -> list[int]:
    with transaction(services.sessions) as session:
        return list(session.scalars(select(Event.id).order_by(Event.id)))


def once_after_commit(sent: list[Sent], services: Services) -> int:
    """The one event written, sent once, committed, from outside any commit; its id."""
    written = events(services)
    assert len(written) == 1
    assert sent == [Sent(written[0], committed=True, in_commit=False)]
    return written[0]


def live(services: Services, event_id: int) -> bool:
    with transaction(services.sessions) as session:
        return session.scalar(select(Event.status).where(Event.id == event_id)) == "live"


@pytest.fixture
def failing_client(app: FastAPI) -> Iterator[TestClient]:
    """Answers a bug with a 500, as a server does, instead of raising it in the test."""
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def poison(monkeypatch: pytest.MonkeyPatch, target: Any, name: str) -> None:
    """`target.name` raises: called after the change flushed its event, before the commit."""

    def refuse(*_: Any, **__: Any) -> Any:
        raise RuntimeError("the transaction fails after its event was written")

    monkeypatch.setattr(target, name, refuse)


# -- the command line ------------------------------------------------------------------------


def pressrun(services: Services, tmp_path: Path, *args: str) -> Any:
    (tmp_path / "story.json").write_text(json.dumps(article_data(slug="harbour")))
    env = {"PRESSRUN_DATABASE_URL": services.settings.database_url,
           "PRESSRUN_STORAGE_URL": services.settings.storage_url}  # fmt: skip
    return CliRunner().invoke(cli.main, list(args), env=env)


def test_the_cli_dispatches_once_after_commit(
    services: Services, sent: list[Sent], tmp_path: Path
) -> None:
    result = pressrun(services, tmp_path, "publish", str(tmp_path / "story.json"))
    assert result.exit_code == 0, result.output
    event_id = once_after_commit(sent, services)
    assert f"event {event_id}: live" in result.output
    assert live(services, event_id)


def test_the_cli_dispatches_nothing_when_its_transaction_rolls_back(
    services: Services, sent: list[Sent], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    poison(monkeypatch, cli, "key_of")
    result = pressrun(services, tmp_path, "publish", str(tmp_path / "story.json"))
    assert isinstance(result.exception, RuntimeError)
    assert (sent, events(services)) == ([], [])


def test_a_retry_from_the_cli_dispatches_once_after_commit(
    services: Services, sent: list[Sent], tmp_path: Path
) -> None:
    assert pressrun(services, tmp_path, "publish", str(tmp_path / "story.json")).exit_code == 0
    [event_id] = events(services)
    failed(services, event_id)
    sent.clear()
    result = pressrun(services, tmp_path, "events", "retry", str(event_id))
    assert result.exit_code == 0, result.output
    assert once_after_commit(sent, services) == event_id
    assert live(services, event_id)


# -- the API and the webhook -----------------------------------------------------------------


def test_the_api_dispatches_once_after_commit(
    client: TestClient, editor: Headers, services: Services, sent: list[Sent]
) -> None:
    response = client.put("/v1/articles/harbour?publish=true", headers=editor, json=content())
    assert response.status_code == 202, response.text
    assert once_after_commit(sent, services) == response.json()["event"]["id"]


def test_the_api_dispatches_nothing_when_its_transaction_rolls_back(
    failing_client: TestClient, editor: Headers, services: Services, sent: list[Sent],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    poison(monkeypatch, writes.idempotency, "remember")
    response = failing_client.put(
        "/v1/articles/harbour?publish=true",
        headers={**editor, "Idempotency-Key": "one"},
        json=content(),
    )
    assert response.status_code == 500
    assert (sent, events(services)) == ([], [])


def test_a_preview_dispatches_nothing(
    client: TestClient, editor: Headers, services: Services, sent: list[Sent]
) -> None:
    """Its page is rendered from the change made for real and rolled back: the event too."""
    assert client.put("/v1/articles/harbour", headers=editor, json=content()).status_code == 201
    assert client.post("/v1/articles/harbour/preview", headers=editor).status_code == 201
    assert (sent, events(services)) == ([], [])


def test_the_webhook_dispatches_once_after_commit(
    client: TestClient, services: Services, sent: list[Sent]
) -> None:
    response = push(client, {"action": "publish", "article": article()})
    assert response.status_code == 202, response.text
    assert once_after_commit(sent, services) == response.json()["event"]["id"]


def test_the_webhook_dispatches_nothing_when_its_transaction_rolls_back(
    failing_client: TestClient, services: Services, sent: list[Sent],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    poison(monkeypatch, webhook, "_answer")
    response = push(failing_client, {"action": "publish", "article": article()})
    assert response.status_code == 500
    assert (sent, events(services)) == ([], [])


# -- the scheduler ---------------------------------------------------------------------------


def embargo(client: TestClient, editor: Headers) -> Any:
    due = utcnow() + timedelta(hours=1)
    assert client.put("/v1/articles/harbour", headers=editor, json=content()).status_code == 201
    scheduled = client.post(
        "/v1/articles/harbour/publish", headers=editor, json={"publish_at": iso(due)}
    )
    assert scheduled.status_code == 202, scheduled.text
    return due


def test_the_scheduler_dispatches_once_after_commit(
    client: TestClient, editor: Headers, services: Services, sent: list[Sent]
) -> None:
    due = embargo(client, editor)
    report = run_due(scheduler(services), now=due)
    event_id = once_after_commit(sent, services)
    assert [(outcome.event_id, outcome.status) for outcome in report.outcomes] == [
        (event_id, "live")
    ]


def test_the_scheduler_dispatches_nothing_when_its_transaction_rolls_back(
    client: TestClient, editor: Headers, services: Services, sent: list[Sent],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    due = embargo(client, editor)
    poison(monkeypatch, schedule, "_drop")  # publish_now drops the schedule after its event
    assert run_due(scheduler(services), now=due).outcomes == []
    assert (sent, events(services)) == ([], [])


# -- the dashboard's retry -------------------------------------------------------------------


def failed(services: Services, event_id: int) -> None:
    with transaction(services.sessions) as session:
        session.execute(
            update(Event)
            .where(Event.id == event_id)
            .values(status=EventStatus.FAILED, error="boom", attempts=3)
        )


def test_a_retry_from_the_dashboard_dispatches_once_after_commit(
    app: FastAPI, client: TestClient, editor: Headers, services: Services, sent: list[Sent]
) -> None:
    response = client.put("/v1/articles/harbour?publish=true", headers=editor, json=content())
    event_id = response.json()["event"]["id"]
    failed(services, event_id)
    sent.clear()
    browser = signed_in(app, services)
    page = browser.get(f"/ops/events/{event_id}").text
    answer = browser.post(
        f"/ops/events/{event_id}/retry", data={"csrf": csrf_of(page)}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    assert once_after_commit(sent, services) == event_id
    assert live(services, event_id)


def test_a_refused_retry_dispatches_nothing(
    app: FastAPI, client: TestClient, editor: Headers, services: Services, sent: list[Sent]
) -> None:
    response = client.put("/v1/articles/harbour?publish=true", headers=editor, json=content())
    event_id = response.json()["event"]["id"]
    sent.clear()
    browser = signed_in(app, services)
    page = browser.get(f"/ops/events/{event_id}").text
    answer = browser.post(
        f"/ops/events/{event_id}/retry", data={"csrf": csrf_of(page)}, follow_redirects=False
    )
    assert answer.status_code == 409  # already live
    assert sent == []
    with transaction(services.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 1


def signed_in(app: FastAPI, services: Services) -> TestClient:
    browser = TestClient(app)
    token = mint(services, Scope.ADMIN)
    secret = token["Authorization"].removeprefix("Bearer ")
    answer = browser.post("/ops/login", data={"token": secret}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return browser
