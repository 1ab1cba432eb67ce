"""`?wait=` and the dashboard's stream wake when the event moves: PostgreSQL notifies (a
trigger on events) and the API's one listening connection wakes who waits. Moves here are
committed by another connection, as a worker's would be. On SQLite the API polls."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pipeline.api import moves as moves_module
from pipeline.api.app import create_app
from pipeline.api.context import ApiContext
from pipeline.api.models import Scope
from pipeline.api.moves import APPLICATION_NAME, EventMove, EventMoves, parse_payload
from pipeline.api.settings import ApiSettings
from pipeline.config import Settings
from pipeline.content import articles
from pipeline.content.inputs import parse_article
from pipeline.db import transaction
from pipeline.events.models import Event, EventStatus
from pipeline.services import Services, create_services
from tests.api.conftest import ServerThread, content, mint
from tests.conftest import SITE_URL
from tests.realstack import admin, database_name

# As long as the longest wait: a waiter that answers before it was woken by the move, not by
# its safety poll.
SAFETY_POLL = 30
WAIT = 30
_slugs = itertools.count()


@pytest.fixture
def pg_services(database_url: str, tmp_path: Path) -> Iterator[Services]:
    built = create_services(
        Settings(
            database_url=database_url,
            storage_url=f"file://{tmp_path / 'site'}",
            site_url=SITE_URL,
            site_name="The Test Gazette",
        )
    )
    yield built
    built.engine.dispose()


def app_over(services: Services) -> FastAPI:
    api = ApiSettings(
        rate_per_minute=100_000, anonymous_rate_per_minute=100_000, wait_poll_seconds=SAFETY_POLL
    )
    return create_app(services.settings, api, services=services, embedded_jobs=False)


@pytest.fixture
def pg_app(pg_services: Services) -> FastAPI:
    return app_over(pg_services)


def moves_of(app: FastAPI) -> EventMoves:
    context = app.state.pressrun
    assert isinstance(context, ApiContext)
    return context.moves


def eventually(check: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.01)


def accepted_event(services: Services) -> int:
    """A publish committed and never dispatched (nothing but the test moves it)."""
    data, _ = parse_article({**content(), "slug": f"harbour-{next(_slugs)}"})
    with transaction(services.sessions) as session:
        return articles.publish(session, data, actor="test").event_id


def commit_live(database_url: str, event_id: int) -> None:
    """What a worker's last transaction does to the event, from a connection of its own."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE events SET status = 'live', live_at = now() WHERE id = %s", (event_id,)
        )


class Mover(threading.Thread):
    """Commits the event live once a request waits for it."""

    def __init__(self, moves: EventMoves, database_url: str, event_id: int) -> None:
        super().__init__(daemon=True)
        self.moves, self.database_url, self.event_id = moves, database_url, event_id
        self.moved_while_waited = False

    def run(self) -> None:
        deadline = time.monotonic() + WAIT
        while not self.moves.waiting(self.event_id) and time.monotonic() < deadline:
            time.sleep(0.005)
        self.moved_while_waited = self.moves.waiting(self.event_id) > 0
        commit_live(self.database_url, self.event_id)


def wait_for_live(client: TestClient, services: Services, database_url: str) -> None:
    """A request waits for a new event, and another connection commits it live."""
    moves = moves_of(client.app)  # type: ignore[arg-type]
    reader = mint(services, Scope.READ)
    event_id = accepted_event(services)
    mover = Mover(moves, database_url, event_id)
    mover.start()
    started = time.monotonic()
    event = client.get(f"/v1/events/{event_id}", params={"wait": WAIT}, headers=reader).json()
    waited = time.monotonic() - started
    mover.join()
    assert mover.moved_while_waited, "the move was committed before the request waited"
    assert (event["status"], event["done"]) == ("live", True)
    # Not a timing of the code: the safety poll is 30 s, so an answer in under half of it
    # can only have been woken by the notification.
    assert waited < SAFETY_POLL / 2, f"answered after {waited:.1f} s: woken by the poll"


def test_a_waiter_wakes_when_another_connection_commits_the_move(
    pg_app: FastAPI, pg_services: Services, database_url: str
) -> None:
    moves = moves_of(pg_app)
    with TestClient(pg_app) as client:
        eventually(lambda: moves.listening, "the API listens")
        wait_for_live(client, pg_services, database_url)
    assert not moves.listening  # the app's shutdown closed the listening connection


def test_the_listener_connects_again_when_its_connection_is_killed(
    pg_app: FastAPI, pg_services: Services, database_url: str
) -> None:
    moves = moves_of(pg_app)
    with TestClient(pg_app) as client:
        eventually(lambda: moves.listening, "the API listens")
        assert moves.connections == 1
        with admin() as connection:
            killed = connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND application_name = %s",
                (database_name(database_url), APPLICATION_NAME),
            ).fetchall()
        assert killed == [(True,)]
        eventually(lambda: moves.connections == 2 and moves.listening, "it listens again")
        wait_for_live(client, pg_services, database_url)


def test_a_waiter_wakes_between_the_listeners_health_checks(
    pg_app: FastAPI, pg_services: Services, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Checked every 20 ms: a move lands while it checks as often as while it listens.
    monkeypatch.setattr(moves_module, "HEALTH_CHECK_SECONDS", 0.02)
    moves = moves_of(pg_app)
    with TestClient(pg_app) as client:
        eventually(lambda: moves.listening, "the API listens")
        for _ in range(3):
            wait_for_live(client, pg_services, database_url)
    assert moves.connections == 1


def test_a_move_missed_while_not_listening_wakes_every_waiter() -> None:
    moves = EventMoves(None)
    # A watch needs a running loop only to wait, not to be set.
    with moves.watch(7, ("live",)) as seven, moves.watch(8) as eight:
        moves.deliver(EventMove(7, "started", 1))
        assert not seven.is_set()  # not a status it waits for
        moves.deliver(EventMove(8, "started", 1))
        assert eight.is_set()
        moves.deliver(EventMove(0))
        assert seven.is_set()
    assert moves.waiting(7) == moves.waiting(8) == 0


def test_the_trigger_payload_is_read_back() -> None:
    assert parse_payload("12:live:3") == EventMove(12, "live", 3)
    assert parse_payload("12:accepted:") == EventMove(12, "accepted", None)
    assert parse_payload("x:live:3") is None
    assert parse_payload("12:live") is None


def test_on_sqlite_a_waiter_polls_and_the_stream_is_not_offered(
    services: Services, settings: Settings
) -> None:
    app = app_over(services)
    moves = moves_of(app)
    event_id = accepted_event(services)
    with TestClient(app) as client:
        assert moves.conninfo is None
        assert not moves.listening
        reader = mint(services, Scope.READ)
        mover = threading.Timer(0.3, _commit_live_sqlite, (settings, event_id))
        mover.start()
        event = client.get(f"/v1/events/{event_id}", params={"wait": WAIT}, headers=reader)
        mover.join()
        assert event.json()["status"] == "live"
        admin_token = mint(services, Scope.ADMIN)
        assert client.get("/ops/moves", headers=admin_token).status_code == 204


def _commit_live_sqlite(settings: Settings, event_id: int) -> None:
    other = create_services(settings, migrate=False)  # another engine: another connection
    try:
        with transaction(other.sessions) as session:
            event = session.get(Event, event_id)
            assert event is not None
            event.status = EventStatus.LIVE
    finally:
        other.engine.dispose()


def test_the_dashboard_stream_tells_each_move(
    pg_app: FastAPI, pg_services: Services, database_url: str
) -> None:
    moves = moves_of(pg_app)
    operator = mint(pg_services, Scope.ADMIN)
    with ServerThread(pg_app) as server:
        eventually(lambda: moves.listening, "the API listens")
        with (
            httpx.Client(base_url=server.url, timeout=WAIT) as http,
            http.stream("GET", "/ops/moves", headers=operator) as stream,
        ):
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            messages = _messages(stream.iter_lines())
            assert next(messages) == ("hello", {"listening": True})
            event_id = accepted_event(pg_services)
            article_id = _article_of(pg_services, event_id)
            written = {"id": event_id, "status": "accepted", "article": article_id}
            assert next(messages) == ("moved", written)
            commit_live(database_url, event_id)
            kind, data = next(messages)
            assert (kind, data["id"], data["status"]) == ("moved", event_id, "live")


def test_the_dashboard_stream_needs_a_signed_in_operator(pg_app: FastAPI) -> None:
    with TestClient(pg_app) as client:
        answer = client.get("/ops/moves", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/ops/login")


def _messages(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, object]]]:
    """(event, data) of each server-sent event, keep-alive comments skipped."""
    kind, data = "message", ""
    for line in lines:
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif line == "" and data:
            yield kind, json.loads(data)
            kind, data = "message", ""


def _article_of(services: Services, event_id: int) -> int | None:
    with transaction(services.sessions) as session:
        event = session.get(Event, event_id)
        assert event is not None
        return event.article_id
