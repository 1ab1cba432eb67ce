"""The editorial API on the production stack: `pressrun api` (uvicorn) as a subprocess, over
PostgreSQL, a Redis broker, two `pressrun worker` processes, the real beat and moto_server.
A newsroom tool's whole round trip, checked by reading the bucket back."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from pipeline.api.signatures import sign
from tests.api.conftest import content
from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration
SECRET = "real-stack-webhook-secret"


@pytest.fixture
def api(stack: Stack) -> Iterator[httpx.Client]:
    """Workers, beat and the API running; a client holding a fresh admin token."""
    stack.env["PRESSRUN_WEBHOOK_SECRET"] = SECRET
    stack.start_workers(2)
    server = stack.start_api("--host", "127.0.0.1")
    stack.start_beat()
    try:
        token = stack.pressrun("tokens", "create", "--scope", "admin", "--name", "newsroom")
        secret = token.stdout.splitlines()[-1]
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {secret}"}, timeout=60
        ) as client:
            yield client
    finally:
        stack.close()
        logs = server.log.read_text(errors="replace")
        assert "Traceback" not in logs, logs[-3000:]


def page_of(stack: Stack, article: dict[str, Any]) -> str | None:
    found = stack.object(article["key"])
    return found["Text"] if found else None


def wait_live(api: httpx.Client, answer: httpx.Response) -> dict[str, Any]:
    """The change an answer reports, once live (long-polled with ?wait=)."""
    assert answer.status_code == 202, answer.text
    return wait_event(api, answer.json()["event"]["url"])


def wait_event(api: httpx.Client, url: str) -> dict[str, Any]:
    event = api.get(url, params={"wait": 30}).json()
    assert event["status"] == "live", event
    return dict(event)


def test_a_newsroom_round_trip_on_the_real_stack(stack: Stack, api: httpx.Client) -> None:
    ready = api.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["broker"] == "ok"
    assert ready.json()["checks"]["storage"].startswith("ok (s3://")

    # Create a draft: nothing reaches the bucket.
    draft = api.put("/v1/articles/harbour", json=content())
    assert draft.status_code == 201, draft.text
    assert stack.stored_keys() == set()

    # What publishing it would touch, without touching it.
    impact = api.get("/v1/articles/harbour/impact").json()
    assert "index.html" in {output["key"] for output in impact["outputs"]}
    assert stack.stored_keys() == set()

    # A private preview behind a presigned URL, outside the public site prefix.
    preview = api.post("/v1/articles/harbour/preview").json()
    assert "X-Amz-" in preview["url"] or "Signature=" in preview["url"]
    fetched = httpx.get(preview["url"])
    assert fetched.status_code == 200
    assert "Harbour reopens after the storm" in fetched.text
    assert stack.stored_keys() == set()

    # Publish, and wait until it is live (?wait= long-polls).
    published = api.post("/v1/articles/harbour/publish", headers={"Idempotency-Key": "p-1"})
    event = wait_live(api, published)
    timings = event["timings_ms"]
    assert set(timings) == {"dispatched", "started", "page_live", "rendered", "live"}
    assert timings["started"] <= timings["page_live"] <= timings["rendered"] <= timings["live"]
    article = api.get("/v1/articles/harbour").json()
    assert article["status"] == "published"
    assert article["url"] == "https://news.example.com/world/2024/11/27/harbour/"
    assert "Harbour reopens after the storm" in (page_of(stack, article) or "")
    home = stack.object("index.html")
    assert home is not None
    assert "/world/2024/11/27/harbour/" in home["Text"]
    # A retry with the same key: the same answer, no second event.
    again = api.post("/v1/articles/harbour/publish", headers={"Idempotency-Key": "p-1"})
    assert again.json() == published.json()
    assert len(api.get("/v1/events").json()["items"]) == 1

    # Update the live article: republished through the same path.
    wait_live(api, api.put("/v1/articles/harbour", json=content(title="Ferries are back")))
    assert "Ferries are back" in (page_of(stack, article) or "")

    # An embargo: published by beat's periodic job within seconds of its time.
    api.put("/v1/articles/embargoed", json=content(title="Embargoed results", published_at=...))
    due = datetime.now(UTC) + timedelta(seconds=4)
    scheduled = api.post("/v1/articles/embargoed/publish", json={"publish_at": due.isoformat()})
    assert scheduled.json()["article"]["status"] == "scheduled"
    while (embargoed := api.get("/v1/articles/embargoed").json())["status"] != "published":
        assert datetime.now(UTC) < due + timedelta(seconds=30), "the embargo never lifted"
        time.sleep(0.2)
    went_live = datetime.now(UTC)
    assert went_live - due < timedelta(seconds=8), went_live - due
    assert embargoed["published_at"] == due.isoformat().replace("+00:00", "Z")
    wait_event(api, embargoed["last_event"]["url"])
    assert "Embargoed results" in (page_of(stack, embargoed) or "")

    # A CMS pushes through the signed webhook.
    cms_article = {**content(title="From the CMS"), "slug": "from-the-cms"}
    body = json.dumps({"action": "publish", "article": cms_article}).encode()
    now = int(time.time())
    signed = {
        "Content-Type": "application/json",
        "X-Pressrun-Timestamp": str(now),
        "X-Pressrun-Signature": sign(SECRET, now, body),
    }
    pushed = api.post("/v1/webhooks/cms", content=body, headers=signed)
    wait_live(api, pushed)

    # The CLI as a client of this API.
    source = stack.folder / "cli.json"
    source.write_text(json.dumps({**content(title="Sent by the CLI"), "slug": "via-cli"}))
    stack.env["PRESSRUN_API_TOKEN"] = str(api.headers["Authorization"]).removeprefix("Bearer ")
    cli = stack.pressrun("publish", str(source), "--api", str(api.base_url))
    assert "event" in cli.stdout
    assert ": live" in cli.stdout, cli.stdout

    # Unpublish: gone from the bucket.
    wait_live(api, api.post("/v1/articles/harbour/unpublish"))
    assert page_of(stack, article) is None
    assert all("harbour" not in key for key in stack.stored_keys())
    assert "harbour" not in (stack.object("index.html") or {"Text": ""})["Text"]
    # Previews never reached the site's prefix.
    assert not any(key.startswith("_previews") for key in stack.stored_keys())
