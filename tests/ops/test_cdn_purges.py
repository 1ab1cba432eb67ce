"""Pending CDN purges on the dashboard and in /metrics, through the app."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from pipeline.config import Settings
from pipeline.db import transaction
from pipeline.events.relay import relay
from pipeline.publish.models import PendingPurge
from pipeline.schema import utcnow
from pipeline.services import Services
from tests.conftest import FlakyCdn, Newsroom
from tests.dispatchers import Held
from tests.ops.conftest import Login
from tests.ops.test_metrics_endpoint import scrape
from tests.ops.test_pages import panel


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A site behind CloudFront (nothing here talks to it: the purger is replaced)."""
    return replace(settings, cdn_cloudfront_distribution="E2PRESSRUNTEST")


@pytest.fixture
def cdn(services: Services, monkeypatch: pytest.MonkeyPatch) -> FlakyCdn:
    flaky = FlakyCdn()
    monkeypatch.setattr(services.publisher, "purger", flaky)
    return flaky


def test_pending_purges_show_until_the_cdn_takes_them(
    login: Login, client: TestClient, newsroom: Newsroom, services: Services, cdn: FlakyCdn
) -> None:
    browser = login("read")
    assert "none pending" in panel(browser.get("/ops").text, "fleet")
    assert scrape(client)["pressrun_pending_purges"][()] == 0
    cdn.down = True
    newsroom.publish(slug="behind-a-cdn")
    with transaction(services.sessions) as session:
        session.execute(update(PendingPurge).values(requested_at=utcnow() - timedelta(minutes=3)))
    fleet = panel(browser.get("/ops").text, "fleet")
    pending = int(re.search(r"CDN purges (\d+) pending , oldest 3 min ago", fleet)[1])  # type: ignore[index]
    assert pending > 0
    assert "last error: TransientStorageError: 503 on CloudFront invalidation" in fleet
    metrics = scrape(client)
    assert metrics["pressrun_pending_purges"][()] == pending
    assert 180 <= metrics["pressrun_pending_purge_age_seconds"][()] < 240
    cdn.down = False
    with transaction(services.sessions) as session:
        session.execute(update(PendingPurge).values(next_attempt_at=utcnow()))
    assert relay(services, Held()).purged == pending
    assert "none pending" in panel(browser.get("/ops").text, "fleet")
    metrics = scrape(client)
    assert metrics["pressrun_pending_purges"][()] == 0
    assert metrics["pressrun_pending_purge_age_seconds"][()] == 0
