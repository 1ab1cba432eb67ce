"""Fixtures for the dashboard and /metrics: the API app over the embedded default (SQLite, a
site folder, tasks in-process), signed-in browsers of each scope, and events written
directly with the timings a test needs."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pipeline.api.app import create_app
from pipeline.api.models import Scope
from pipeline.api.ops.broker import BrokerWatch
from pipeline.api.ops.routes import OpsState
from pipeline.api.ops.settings import OpsSettings
from pipeline.api.settings import ApiSettings
from pipeline.api.tokens import create_token
from pipeline.config import Settings
from pipeline.db import transaction
from pipeline.events.models import Event, EventKind, EventStatus
from pipeline.schema import utcnow
from pipeline.services import Services, create_services

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
Login = Callable[..., TestClient]


@pytest.fixture
def app(services: Services) -> FastAPI:
    api_settings = ApiSettings(rate_per_minute=100_000, anonymous_rate_per_minute=100_000)
    return create_app(services.settings, api_settings, services=services, embedded_jobs=False)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def secret(
    services: Services, scope: Scope = Scope.ADMIN, sections: list[str] | None = None
) -> str:
    with transaction(services.sessions) as session:
        made = create_token(session, name=f"{scope}-ops", scope=scope, sections=sections)
        return made.secret


@pytest.fixture
def login(app: FastAPI, services: Services) -> Iterator[Login]:
    """A browser signed in through the login form with a token of `scope`."""
    opened: list[TestClient] = []

    def sign_in(scope: str = "admin") -> TestClient:
        browser = TestClient(app)
        browser.__enter__()
        opened.append(browser)
        answer = browser.post(
            "/ops/login", data={"token": secret(services, Scope(scope))}, follow_redirects=False
        )
        assert answer.status_code == 303, answer.text
        return browser

    yield sign_in
    for browser in opened:
        browser.__exit__(None, None, None)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def add_event(services: Services, **values: Any) -> int:
    """An event row as a test wants it (a publish accepted now, unless told otherwise)."""
    now = utcnow()
    row: dict[str, Any] = {
        "kind": EventKind.PUBLISH,
        "actor": "test",
        "status": EventStatus.ACCEPTED,
        "accepted_at": now,
    }
    row.update(values)
    with transaction(services.sessions) as session:
        event = Event(**row)
        session.add(event)
        session.flush()
        return event.id


def live_event(services: Services, accepted: datetime, seconds: float, **values: Any) -> int:
    """A change that went live `seconds` after it was accepted."""
    done = accepted + timedelta(seconds=seconds)
    return add_event(
        services,
        status=EventStatus.LIVE,
        accepted_at=accepted,
        dispatched_at=accepted,
        started_at=accepted,
        rendered_at=done,
        live_at=done,
        **values,
    )


# -- a fleet with a broker (answered by a stand-in) ------------------------------------------


def broker_answer(error: str | None = None) -> dict[str, Any]:
    """What workers.app.broker_overview answers: queue depths and the workers online."""
    if error:
        return {"queues": {}, "workers": {}, "error": error}
    return {
        "queues": {"events": 3, "lists": 1, "rebuild": 0},
        "workers": {"celery@web-1": {"queues": ["t-events", "t-lists"], "concurrency": 2},
                    "celery@web-2": {"queues": ["t-rebuild"], "concurrency": 4}},
        "error": None,
    }  # fmt: skip


@pytest.fixture
def brokered(settings: Settings) -> Iterator[FastAPI]:
    """The app of a fleet (a broker is configured, but nothing listens there: the rate limits
    count in the process)."""
    built = create_services(replace(settings, broker_url="redis://127.0.0.1:1/0"))
    api_settings = ApiSettings(rate_per_minute=100_000, anonymous_rate_per_minute=100_000)
    yield create_app(built.settings, api_settings, services=built, embedded_jobs=False)
    built.engine.dispose()


def with_broker(app: FastAPI, answer: dict[str, Any]) -> None:
    app.state.pressrun_ops = OpsState(OpsSettings(), BrokerWatch(lambda: answer))
