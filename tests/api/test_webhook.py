"""The signed CMS webhook: HMAC-SHA256 over `{timestamp}.{raw body}`, a 5-minute window,
replays refused."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pipeline.api.app import create_app
from pipeline.api.settings import ApiSettings
from pipeline.api.signatures import sign
from pipeline.services import Services
from tests.api.conftest import WEBHOOK_SECRET, assert_problem, content, fingerprint

URL = "/v1/webhooks/cms"


def delivery(payload: Any, *, at: float | None = None, secret: str = WEBHOOK_SECRET,
             raw: bytes | None = None) -> tuple[bytes, dict[str, str]]:  # fmt: skip
    body = raw if raw is not None else json.dumps(payload).encode()
    timestamp = int(at if at is not None else time.time())
    return body, {
        "Content-Type": "application/json",
        "X-Pressrun-Timestamp": str(timestamp),
        "X-Pressrun-Signature": sign(secret, timestamp, body),
    }


def push(client: TestClient, payload: Any, **options: Any) -> Any:
    body, headers = delivery(payload, **options)
    return client.post(URL, content=body, headers=headers)


def article(**overrides: Any) -> dict[str, Any]:
    return {**content(**overrides), "slug": "harbour", "id": "cms-4711"}


def test_publish_update_unpublish(client: TestClient, services: Services) -> None:
    published = push(client, {"action": "publish", "article": article()})
    assert published.status_code == 202, published.text
    assert published.json()["event"]["kind"] == "publish"
    key = published.json()["article"]["key"]
    assert services.storage.get(key) is not None

    updated = push(client, {"action": "update", "article": article(title="Harbour reopens!")})
    assert updated.status_code == 202
    assert updated.json()["event"]["kind"] == "update"
    assert "Harbour reopens!" in (services.storage.get(key) or b"").decode()

    gone = push(client, {"action": "unpublish", "article": {"id": "cms-4711"}})
    assert gone.status_code == 202
    assert gone.json()["article"]["status"] == "unpublished"
    assert services.storage.get(key) is None


def test_update_of_a_new_article_saves_a_draft(client: TestClient, services: Services) -> None:
    saved = push(client, {"action": "update", "article": article()})
    assert saved.status_code == 201, saved.text
    assert saved.json()["event"] is None
    assert saved.json()["article"]["status"] == "draft"
    by_slug = push(client, {"action": "unpublish", "article": {"slug": "harbour"}})
    assert by_slug.status_code == 202


def test_a_replayed_delivery_is_409_and_changes_nothing(
    client: TestClient, services: Services
) -> None:
    body, headers = delivery({"action": "publish", "article": article()})
    assert client.post(URL, content=body, headers=headers).status_code == 202
    before = fingerprint(services)
    replay = client.post(URL, content=body, headers=headers)
    assert_problem(replay, 409)
    assert replay.json()["type"] == "/problems/webhook-replayed"
    assert fingerprint(services) == before


def tampered(payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body, headers = delivery(payload)
    return body.replace(b"Harbour", b"Harb0ur"), headers


def reformatted(payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The same JSON with other whitespace: the signature is over the raw bytes."""
    _, headers = delivery(payload)
    return json.dumps(payload, indent=2).encode(), headers


def unsigned(payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body, headers = delivery(payload)
    del headers["X-Pressrun-Signature"]
    return body, headers


def no_timestamp(payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body, headers = delivery(payload)
    del headers["X-Pressrun-Timestamp"]
    return body, headers


def with_header(name: str, value: str) -> Any:
    def change(payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        body, headers = delivery(payload)
        return body, {**headers, name: value}

    return change


BAD_DELIVERIES = {
    "wrong-secret": lambda payload: delivery(payload, secret="not-the-secret"),
    "tampered-body": tampered,
    "reformatted-body": reformatted,
    "no-signature": unsigned,
    "no-timestamp": no_timestamp,
    "six-minutes-old": lambda payload: delivery(payload, at=time.time() - 360),
    "six-minutes-ahead": lambda payload: delivery(payload, at=time.time() + 360),
    "timestamp-not-a-number": with_header("X-Pressrun-Timestamp", "yesterday"),
    "signature-not-hex": with_header("X-Pressrun-Signature", "sha256=zz"),
    "signature-other-scheme": with_header("X-Pressrun-Signature", "md5=" + "0" * 64),
}


@pytest.mark.parametrize("make", BAD_DELIVERIES.values(), ids=BAD_DELIVERIES.keys())
def test_bad_signatures_and_timestamps_are_401(
    client: TestClient, services: Services, make: Any
) -> None:
    before = fingerprint(services)
    body, headers = make({"action": "publish", "article": article()})
    response = client.post(URL, content=body, headers=headers)
    assert_problem(response, 401)
    assert response.json()["type"] == "/problems/webhook-signature"
    assert fingerprint(services) == before


def test_four_minutes_old_is_still_fine(client: TestClient) -> None:
    response = push(client, {"action": "publish", "article": article()}, at=time.time() - 240)
    assert response.status_code == 202


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ({"action": "delete", "article": {}}, 422, "action"),
        ({"action": "publish"}, 422, "article"),
        ({"action": "publish", "article": "harbour"}, 422, "article"),
        ({"action": "publish", "article": article(), "extra": 1}, 422, "extra"),
        ({"action": "publish", "article": article(title=5)}, 422, "article.title"),
        ({"action": "publish", "article": article(section="../x")}, 422, "article.section"),
        ({"action": "publish", "article": article(colour="red")}, 422, "article.colour"),
        ({"action": "publish", "article": article(published_at="0001-01-01T00:00:00+14:00")},
         422, "article.published_at"),
        ({"action": "update", "article": article(published_at="9999-12-31T23:59:59-14:00")},
         422, "article.published_at"),
        ({"action": "publish", "article": article(published_at="1899-12-31T23:59:59Z")},
         422, "article.published_at"),
        ({"action": "unpublish", "article": {}}, 422, "article.slug"),
        ({"action": "unpublish", "article": {"slug": "a/../../b"}}, 422, "article.slug"),
        ({"action": "unpublish", "article": {"id": 5}}, 422, "article.id"),
        ({"action": "unpublish", "article": {"slug": "no-such-story"}}, 404, None),
        ({"action": "unpublish", "article": {"id": "no-such-id"}}, 404, None),
        (["publish"], 422, "body"),
    ],
)  # fmt: skip
def test_bad_payloads_are_refused_by_field(
    client: TestClient, services: Services, payload: Any, status: int, field: str | None
) -> None:
    before = fingerprint(services)
    response = push(client, payload)
    assert_problem(response, status, *([field] if field else []))
    assert fingerprint(services) == before


def test_malformed_json_with_a_good_signature_is_400(client: TestClient) -> None:
    assert_problem(push(client, None, raw=b'{"action": "publish",'), 400)


def test_without_a_secret_the_webhook_is_off(services: Services) -> None:
    app: FastAPI = create_app(services.settings, ApiSettings(), services=services,
                              embedded_jobs=False)  # fmt: skip
    with TestClient(app) as client:
        response = push(client, {"action": "publish", "article": article()})
    assert_problem(response, 503)
    assert "PRESSRUN_WEBHOOK_SECRET" in response.json()["detail"]


def test_a_slug_another_article_holds_is_422_naming_article_slug(
    client: TestClient, services: Services
) -> None:
    assert push(client, {"action": "update", "article": article()}).status_code == 201
    before = fingerprint(services)
    other = {**article(title="Another story"), "id": "cms-9999"}  # another CMS id, same slug
    response = push(client, {"action": "update", "article": other})
    problem = assert_problem(response, 422, "article.slug")
    assert "already used" in problem["detail"]
    assert fingerprint(services) == before
