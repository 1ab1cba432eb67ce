"""Fixtures for the API: the app over the embedded default (SQLite, a site folder, tasks run
in-process), tokens of each scope, valid article bodies, and a fingerprint of everything a
request could change (rows and stored files)."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pipeline.api.app import create_app
from pipeline.api.models import ApiToken, IdempotencyRecord, Scope, WebhookDelivery
from pipeline.api.settings import ApiSettings
from pipeline.api.tokens import create_token
from pipeline.config import Settings
from pipeline.content.models import Article, Preview, Redirect, Schedule, Section, Tag, UndatedDraft
from pipeline.db import transaction
from pipeline.events.models import Event
from pipeline.publish.models import Output
from pipeline.services import Services, create_services
from tests.conftest import SITE_URL
from tests.ports import free_port, wait_for_port

WEBHOOK_SECRET = "test-webhook-secret"
COUNTED = (Article, Event, Output, Redirect, Section, Tag, Schedule, Preview, UndatedDraft,
           IdempotencyRecord, WebhookDelivery, ApiToken)  # fmt: skip
Headers = dict[str, str]
Token = Callable[..., Headers]


def content(**overrides: Any) -> dict[str, Any]:
    """A valid PUT body (the CLI's article JSON without slug)."""
    data: dict[str, Any] = {
        "title": "Harbour reopens after the storm",
        "standfirst": "Ferries run again from Monday.",
        "body": "The harbour reopened on Sunday.\n\nRepairs took three weeks.",
        "section": "world",
        "tags": ["weather", "ferries"],
        "authors": ["Bo Reporter"],
        "published_at": "2024-11-27T08:00:00Z",
    }
    data.update(overrides)
    return {name: value for name, value in data.items() if value is not ...}


@pytest.fixture
def api_settings() -> ApiSettings:
    return ApiSettings(
        webhook_secret=WEBHOOK_SECRET, rate_per_minute=100_000, anonymous_rate_per_minute=100_000
    )


@pytest.fixture(scope="module")
def module_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """One newsroom for a whole module: for catalogues of requests that must change nothing
    (each checks its own before and after), where a fresh database per case costs most."""
    root = tmp_path_factory.mktemp("api")
    built = create_services(
        Settings(
            database_url=f"sqlite:///{root / 'pressrun.db'}",
            storage_url=f"file://{root / 'site'}",
            site_url=SITE_URL,
            site_name="The Test Gazette",
        )
    )
    yield built
    built.engine.dispose()


@pytest.fixture(scope="module")
def module_client(module_services: Services) -> Iterator[TestClient]:
    api = ApiSettings(
        webhook_secret=WEBHOOK_SECRET, rate_per_minute=100_000, anonymous_rate_per_minute=100_000
    )
    app = create_app(module_services.settings, api, services=module_services, embedded_jobs=False)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def app(services: Services, api_settings: ApiSettings) -> FastAPI:
    return create_app(services.settings, api_settings, services=services, embedded_jobs=False)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def mint(services: Services, scope: Scope, sections: list[str] | None = None) -> Headers:
    with transaction(services.sessions) as session:
        secret = create_token(session, name=f"{scope}-token", scope=scope, sections=sections).secret
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def token(services: Services) -> Token:
    def make(scope: str = "publish", sections: list[str] | None = None) -> Headers:
        return mint(services, Scope(scope), sections)

    return make


@pytest.fixture
def editor(token: Token) -> Headers:
    return token("publish")


@pytest.fixture
def reader(token: Token) -> Headers:
    return token("read")


@pytest.fixture
def admin(token: Token) -> Headers:
    return token("admin")


# -- what a request could change --------------------------------------------------------------


@dataclass(frozen=True)
class Fingerprint:
    rows: dict[str, int]
    files: dict[str, str]


def fingerprint(services: Services) -> Fingerprint:
    with transaction(services.sessions) as session:
        rows = {
            model.__tablename__: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in COUNTED
        }
    files = {
        key: hashlib.sha256(services.storage.get(key) or b"").hexdigest()
        for key in sorted(services.storage.keys())
    }
    return Fingerprint(rows, files)


def assert_problem(response: Any, status: int, *fields: str) -> dict[str, Any]:
    """A problem+json answer with this status, naming these fields (in any order)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json", response.headers
    problem = response.json()
    assert problem["status"] == status
    assert problem["type"].startswith("/problems/")
    assert problem["title"]
    assert problem["detail"]
    named = {error["field"] for error in problem["errors"]}
    for field in fields:
        assert field in named, f"{field!r} not named in {problem}"
    return dict(problem)


# -- a real server in a thread (for clients that open sockets) --------------------------------


class ServerThread:
    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        wait_for_port(self.port)
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def served(app: FastAPI) -> Iterator[ServerThread]:
    with ServerThread(app) as server:
        yield server


# The real stack's fixtures (PostgreSQL database, Redis database, moto_server, the stack), for
# tests/api/test_real_stack.py.
from tests.integration.conftest import database_url, redis_url, s3_endpoint, stack  # noqa: E402, F401
