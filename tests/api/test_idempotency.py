"""`Idempotency-Key`: a retry gets the stored answer and makes no second event."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from pipeline.services import Services
from tests.api.conftest import Headers, Token, assert_problem, content, fingerprint


def keyed(headers: Headers, key: str) -> Headers:
    return {**headers, "Idempotency-Key": key}


def test_the_same_key_and_body_replays_the_stored_answer(
    client: TestClient, editor: Headers, services: Services
) -> None:
    def publish() -> Any:
        return client.put("/v1/articles/harbour", params={"publish": "true"},
                          headers=keyed(editor, "k-1"), json=content())  # fmt: skip

    first = publish()
    assert first.status_code == 202, first.text
    after_first = fingerprint(services)
    again = publish()
    assert again.status_code == 202
    assert again.content == first.content
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    after = fingerprint(services)
    assert after.rows["events"] == after_first.rows["events"] == 1
    assert after == after_first


def test_the_same_key_with_another_request_is_409(
    client: TestClient, editor: Headers, services: Services
) -> None:
    client.put("/v1/articles/harbour", headers=keyed(editor, "k-2"), json=content())
    before = fingerprint(services)
    other_body = client.put(
        "/v1/articles/harbour", headers=keyed(editor, "k-2"), json=content(title="Another title")
    )
    assert_problem(other_body, 409)
    assert "Idempotency-Key" in other_body.json()["detail"]
    other_path = client.post("/v1/articles/harbour/publish", headers=keyed(editor, "k-2"))
    assert_problem(other_path, 409)
    other_query = client.put("/v1/articles/harbour", params={"publish": "true"},
                             headers=keyed(editor, "k-2"), json=content())  # fmt: skip
    assert_problem(other_query, 409)
    assert fingerprint(services) == before


def test_publish_with_a_key_makes_one_event(
    client: TestClient, editor: Headers, services: Services
) -> None:
    client.put("/v1/articles/harbour", headers=editor, json=content())
    answers = [
        client.post("/v1/articles/harbour/publish", headers=keyed(editor, "publish-once"))
        for _ in range(3)
    ]
    assert {answer.json()["event"]["id"] for answer in answers} == {1}
    assert fingerprint(services).rows["events"] == 1
    without_key = client.post("/v1/articles/harbour/publish", headers=editor)
    assert without_key.json()["event"]["id"] == 2


def test_keys_belong_to_their_token(client: TestClient, token: Token) -> None:
    first, second = token("publish"), token("publish")
    one = client.put("/v1/articles/harbour", headers=keyed(first, "shared"), json=content())
    two = client.put(
        "/v1/articles/harbour", headers=keyed(second, "shared"), json=content(title="Other")
    )
    assert (one.status_code, two.status_code) == (201, 200)


def test_errors_are_not_stored(client: TestClient, editor: Headers) -> None:
    missing = client.post("/v1/articles/harbour/publish", headers=keyed(editor, "early"))
    assert_problem(missing, 404)
    client.put("/v1/articles/harbour", headers=editor, json=content())
    retried = client.post("/v1/articles/harbour/publish", headers=keyed(editor, "early"))
    assert retried.status_code == 202


def test_a_bad_key_is_422(client: TestClient, editor: Headers, services: Services) -> None:
    before = fingerprint(services)
    for bad in ("", "x" * 256, "with space"):
        response = client.put("/v1/articles/harbour", headers=keyed(editor, bad), json=content())
        assert_problem(response, 422, "Idempotency-Key")
    assert fingerprint(services) == before
