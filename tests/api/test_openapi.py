"""The OpenAPI document: every route declares each error it can return, as problem+json."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from pipeline.api.problems import KINDS

OPEN = {("/healthz", "get"), ("/readyz", "get"), ("/v1/webhooks/cms", "post")}


@pytest.fixture(scope="module")
def spec(module_client: TestClient) -> dict[str, Any]:
    response = module_client.get("/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    ]


def test_every_route_is_documented(spec: dict[str, Any]) -> None:
    found = {(path, method) for path, method, _ in operations(spec)}
    assert found == OPEN | {
        ("/v1/articles", "get"),
        ("/v1/articles/{slug}", "get"),
        ("/v1/articles/{slug}", "put"),
        ("/v1/articles/{slug}/publish", "post"),
        ("/v1/articles/{slug}/unpublish", "post"),
        ("/v1/articles/{slug}/schedule", "delete"),
        ("/v1/articles/{slug}/impact", "get"),
        ("/v1/articles/{slug}/preview", "post"),
        ("/v1/events", "get"),
        ("/v1/events/{event_id}", "get"),
        ("/v1/tokens", "get"),
        ("/v1/tokens", "post"),
        ("/v1/tokens/{token_id}", "delete"),
    }


def test_every_error_is_problem_json(spec: dict[str, Any]) -> None:
    for path, method, operation in operations(spec):
        errors = {code: answer for code, answer in operation["responses"].items() if code >= "400"}
        assert errors, (path, method)
        for code, answer in errors.items():
            assert list(answer["content"]) == ["application/problem+json"], (path, method, code)
            schema = answer["content"]["application/problem+json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Problem"}, (path, method, code)
        expected = {"500"} if path == "/healthz" else {"500", "503"}
        if (path, method) not in OPEN:
            expected |= {"401", "403", "429"}
        if operation.get("parameters") or operation.get("requestBody"):
            expected.add("422")
        if method in ("put", "post") and path != "/v1/webhooks/cms":
            expected |= {"400", "413", "415"}
        if "{slug}" in path or "{event_id}" in path or "{token_id}" in path:
            expected.add("404")
        assert expected <= set(errors), (path, method, expected - set(errors))
    problem = spec["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "errors"} <= set(problem["properties"])


def test_every_route_but_health_and_webhook_needs_a_token(spec: dict[str, Any]) -> None:
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, method, operation in operations(spec):
        secured = operation.get("security") == [{"HTTPBearer": []}]
        assert secured == ((path, method) not in OPEN), (path, method)


def test_bodies_are_documented(spec: dict[str, Any]) -> None:
    put = spec["paths"]["/v1/articles/{slug}"]["put"]
    schema = put["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["title", "section"]
    assert "slug" not in schema["properties"]
    assert schema["additionalProperties"] is False
    assert set(put["responses"]) >= {"200", "201", "202"}
    webhook = spec["paths"]["/v1/webhooks/cms"]["post"]
    headers = {parameter["name"] for parameter in webhook["parameters"]}
    assert headers == {"X-Pressrun-Timestamp", "X-Pressrun-Signature"}


def test_interactive_docs(module_client: TestClient) -> None:
    docs = module_client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    assert module_client.get("/redoc").status_code == 200


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_problem_types_resolve(module_client: TestClient, kind: str) -> None:
    answer = module_client.get(f"/problems/{kind}").json()
    assert answer["type"] == f"/problems/{kind}"
    assert answer["status"] == KINDS[kind][0]


def test_health(module_client: TestClient) -> None:
    assert module_client.get("/healthz").json() == {"status": "ok"}
    ready = module_client.get("/readyz").json()
    assert ready["status"] == "ready"
    assert set(ready["checks"]) == {"database", "broker", "storage"}
