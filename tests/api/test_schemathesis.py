"""Property-based: schemathesis generates requests, valid and invalid, from the served
OpenAPI document for every operation, and checks that none gets a 5xx and that every answer
keeps to the document (status codes, content types, headers, bodies) and needs its token.

Hypothesis drives schemathesis' strategies directly: schemathesis' own pytest plugin does not
run on this pytest (it reads a node attribute pytest 9 removed).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core import NotSet
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from pipeline.api.models import Scope
from pipeline.api.signatures import sign
from pipeline.services import Services
from tests.api.conftest import WEBHOOK_SECRET, Headers, ServerThread, content, mint
from tests.api.test_openapi import OPEN

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
OPERATIONS = [
    ("GET", "/v1/articles"),
    ("GET", "/v1/articles/{slug}"),
    ("PUT", "/v1/articles/{slug}"),
    ("POST", "/v1/articles/{slug}/publish"),
    ("POST", "/v1/articles/{slug}/unpublish"),
    ("DELETE", "/v1/articles/{slug}/schedule"),
    ("GET", "/v1/articles/{slug}/impact"),
    ("POST", "/v1/articles/{slug}/preview"),
    ("GET", "/v1/events"),
    ("GET", "/v1/events/{event_id}"),
    ("GET", "/v1/tokens"),
    ("POST", "/v1/tokens"),
    ("DELETE", "/v1/tokens/{token_id}"),
    ("POST", "/v1/webhooks/cms"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
]
EXAMPLES = {GenerationMode.POSITIVE: 15, GenerationMode.NEGATIVE: 10}
# Nothing to make invalid: no parameters, no body.
NO_INPUT = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/v1/tokens")}
RUNS = [
    (method, path, mode)
    for method, path in OPERATIONS
    for mode in EXAMPLES
    if mode is GenerationMode.POSITIVE or (method, path) not in NO_INPUT
]


@pytest.fixture(scope="module")
def admin_token(module_services: Services) -> Headers:
    return mint(module_services, Scope.ADMIN)


@pytest.fixture(scope="module")
def server(module_client: TestClient, admin_token: Headers) -> Iterator[ServerThread]:
    # Something to find: a published article, a draft, their events.
    for slug, publish in (("harbour", "true"), ("draft-story", "false")):
        module_client.put(f"/v1/articles/{slug}", params={"publish": publish},
                          headers=admin_token, json=content())  # fmt: skip
    with ServerThread(module_client.app) as running:  # type: ignore[arg-type]
        yield running


@pytest.fixture(scope="module")
def api_schema(server: ServerThread) -> Any:
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json")


@pytest.mark.parametrize(
    ("method", "path", "mode"),
    RUNS,
    ids=[f"{method} {path} {mode.value}" for method, path, mode in RUNS],
)
def test_no_server_errors_and_answers_keep_to_the_document(
    api_schema: Any,
    server: ServerThread,
    admin_token: Headers,
    module_services: Services,
    method: str,
    path: str,
    mode: GenerationMode,
) -> None:
    operation = api_schema[path][method]
    checks = CHECKS if (path, method.lower()) in OPEN else [*CHECKS, ignored_auth]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case) -> None:
        if path == "/v1/webhooks/cms":
            response = signed_delivery(case, server)
            case.validate_response(response, checks=checks)
            return
        headers = admin_token
        if path == "/v1/tokens/{token_id}":
            headers = mint(module_services, Scope.ADMIN)  # it may revoke the token it uses
        case.call_and_validate(base_url=server.url, headers=headers, checks=checks, timeout=30)

    check()


def signed_delivery(case: schemathesis.Case, server: ServerThread) -> httpx.Response:
    """The webhook gets its generated bodies signed, or it would only ever answer 401."""
    if isinstance(case.body, NotSet):
        body = b""
    elif isinstance(case.body, bytes):
        body = case.body  # negative cases send raw bytes too
    else:
        body = json.dumps(case.body, default=str).encode()
    now = int(time.time())
    headers = {
        "Content-Type": case.media_type or "application/json",
        "X-Pressrun-Timestamp": str(now),
        "X-Pressrun-Signature": sign(WEBHOOK_SECRET, now, body),
    }
    return httpx.post(f"{server.url}{case.formatted_path}", content=body, headers=headers)
