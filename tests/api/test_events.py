"""Following a change: stage timings, and `?wait=` long-polling until live or failed."""

from __future__ import annotations

import threading
import time

from fastapi.testclient import TestClient

from pipeline.content import articles
from pipeline.content.inputs import parse_article
from pipeline.db import transaction
from pipeline.events.processing import dispatch_event
from pipeline.services import Services
from tests.api.conftest import Headers, assert_problem, content
from workers.app import CeleryDispatcher, create_app


def accepted_event(services: Services) -> int:
    """A publish committed but not yet dispatched (as if the broker were slow)."""
    data, _ = parse_article({**content(), "slug": "harbour"})
    with transaction(services.sessions) as session:
        return articles.publish(session, data, actor="test").event_id


def test_stage_timings_of_a_live_event(client: TestClient, editor: Headers) -> None:
    response = client.put(
        "/v1/articles/harbour", params={"publish": "true"}, headers=editor, json=content()
    )
    event = client.get(response.json()["event"]["url"], headers=editor).json()
    assert event["status"] == "live"
    assert event["done"] is True
    assert event["article"] == "harbour"
    assert event["kind"] == "publish"
    assert event["actor"] == "api:publish-token"
    stages = event["stages"]
    assert stages["accepted"] <= stages["dispatched"] <= stages["started"] <= stages["rendered"]
    assert stages["rendered"] <= stages["live"]
    timings = event["timings_ms"]
    assert 0 <= timings["dispatched"] <= timings["started"] <= timings["live"]
    assert event["outputs"]["written"] > 5


def test_wait_returns_when_the_event_goes_live(
    client: TestClient, reader: Headers, services: Services
) -> None:
    event_id = accepted_event(services)
    dispatcher = CeleryDispatcher(create_app(services.settings, lambda: services))
    later = threading.Timer(0.5, dispatch_event, (services, dispatcher, event_id))
    later.start()
    started = time.monotonic()
    event = client.get(f"/v1/events/{event_id}", params={"wait": 20}, headers=reader).json()
    waited = time.monotonic() - started
    later.join()
    assert event["status"] == "live"
    assert 0.4 < waited < 10


def test_wait_gives_up_after_its_time_with_the_status_then(
    client: TestClient, reader: Headers, services: Services
) -> None:
    event_id = accepted_event(services)
    started = time.monotonic()
    event = client.get(f"/v1/events/{event_id}", params={"wait": 0.6}, headers=reader).json()
    assert 0.5 < time.monotonic() - started < 5
    assert (event["status"], event["done"]) == ("accepted", False)
    assert event["stages"]["dispatched"] is None
    assert event["timings_ms"]["live"] is None


def test_wait_is_bounded(client: TestClient, reader: Headers, services: Services) -> None:
    event_id = accepted_event(services)
    assert_problem(client.get(f"/v1/events/{event_id}?wait=31", headers=reader), 422, "wait")
    assert_problem(client.get(f"/v1/events/{event_id}?wait=-1", headers=reader), 422, "wait")
    assert_problem(client.get("/v1/events/999999", headers=reader), 404)
    assert_problem(client.get("/v1/events/x", headers=reader), 422, "event_id")


def test_the_latest_events(client: TestClient, editor: Headers) -> None:
    for slug in ("one", "two", "three"):
        client.put(f"/v1/articles/{slug}", params={"publish": "true"}, headers=editor,
                   json=content(title=f"Story {slug}"))  # fmt: skip
    listed = client.get("/v1/events", params={"limit": 2}, headers=editor).json()["items"]
    assert [event["article"] for event in listed] == ["three", "two"]
    live = client.get("/v1/events", params={"status": "live"}, headers=editor).json()["items"]
    assert len(live) == 3
