"""Bodies over the limit get 413 before anything parses them; within it, the bytes reach the
routes untouched."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pipeline.api.app import create_app
from pipeline.api.settings import ApiSettings
from pipeline.config import ConfigError
from pipeline.services import Services
from tests.api.conftest import Headers, ServerThread, assert_problem, content, fingerprint


@pytest.fixture
def small(services: Services) -> FastAPI:
    return create_app(services.settings, ApiSettings(max_body_bytes=2000), services=services,
                      embedded_jobs=False)  # fmt: skip


def test_a_declared_length_over_the_limit_is_413(
    small: FastAPI, editor: Headers, services: Services
) -> None:
    before = fingerprint(services)
    with TestClient(small) as client:
        response = client.put("/v1/articles/harbour", headers=editor, json=content(body="x" * 3000))
    assert_problem(response, 413)
    assert response.headers["connection"] == "close"
    assert fingerprint(services) == before


def test_a_chunked_body_is_counted_as_it_arrives(
    small: FastAPI, editor: Headers, services: Services
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"title": "x", "section": "world", "body": "'
        for _ in range(100):
            yield b"x" * 100
        yield b'"}'

    before = fingerprint(services)
    with ServerThread(small) as server:
        response = httpx.put(
            f"{server.url}/v1/articles/harbour",
            content=chunks(),
            headers={**editor, "Content-Type": "application/json"},
        )
    assert "content-length" not in response.request.headers
    assert_problem(response, 413)
    assert fingerprint(services) == before


def test_a_body_within_the_limit_goes_through(small: FastAPI, editor: Headers) -> None:
    with TestClient(small) as client:
        response = client.put("/v1/articles/harbour", headers=editor, json=content())
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PRESSRUN_API_MAX_BODY_BYTES", "lots"),
        ("PRESSRUN_API_RATE_PER_MINUTE", "0"),
        ("PRESSRUN_API_PREVIEW_SECONDS", str(8 * 86400)),
    ],
)
def test_settings_refuse_values_they_cannot_use(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        ApiSettings.from_env({name: value})


def test_settings_from_the_environment() -> None:
    settings = ApiSettings.from_env(
        {"PRESSRUN_API_MAX_BODY_BYTES": "5000", "PRESSRUN_WEBHOOK_SECRET": "s"}
    )
    assert (settings.max_body_bytes, settings.webhook_secret) == (5000, "s")
    assert ApiSettings.from_env({}).max_body_bytes == 1024 * 1024
