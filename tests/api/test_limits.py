"""Bodies over the limit get 413 before anything parses them; within it, the bytes reach the
routes untouched. Request rates per token and per client address, shared through Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import httpx
import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pipeline.api.app import create_app
from pipeline.api.limits import RateLimits, redis_url_of
from pipeline.api.settings import ApiSettings
from pipeline.config import ConfigError, Settings
from pipeline.services import Services, create_services
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
        ("PRESSRUN_API_ANONYMOUS_RATE_PER_MINUTE", "-5"),
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


# -- request rates ------------------------------------------------------------------------------

UNKNOWN = {"Authorization": "Bearer prt_" + "x" * 43}


def rated(services: Services, api: ApiSettings) -> FastAPI:
    return create_app(services.settings, api, services=services, embedded_jobs=False)


def test_requests_without_a_valid_token_are_limited_per_client_address(
    services: Services, editor: Headers
) -> None:
    app = rated(services, ApiSettings(anonymous_rate_per_minute=3))
    with TestClient(app, client=("203.0.113.7", 5000)) as client:
        for headers in (UNKNOWN, {}, UNKNOWN):
            assert_problem(client.get("/v1/articles", headers=headers), 401)
        limited = client.get("/v1/articles", headers=UNKNOWN)
        assert_problem(limited, 429)
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert "without a valid token" in limited.json()["detail"]
        # A valid token from the same address is counted as that token, not refused.
        assert client.get("/v1/articles", headers=editor).status_code == 200
    with TestClient(app, client=("203.0.113.8", 5000)) as elsewhere:
        assert_problem(elsewhere.get("/v1/articles", headers=UNKNOWN), 401)


@pytest.fixture
def brokered(settings: Settings) -> Iterator[Callable[[str], Services]]:
    """The services of a fleet whose broker is at a URL (the same database as `services`)."""
    built: list[Services] = []

    def make(broker_url: str) -> Services:
        built.append(create_services(replace(settings, broker_url=broker_url)))
        return built[-1]

    yield make
    for services in built:
        services.engine.dispose()


def test_api_processes_sharing_a_redis_broker_share_the_rates(
    brokered: Callable[[str], Services], redis_url: str, editor: Headers
) -> None:
    limits = ApiSettings(rate_per_minute=4, anonymous_rate_per_minute=2)
    one, two = rated(brokered(redis_url), limits), rated(brokered(redis_url), limits)
    with TestClient(one) as first, TestClient(two) as second:
        answers = [client.get("/v1/articles", headers=editor) for client in (first, second) * 3]
        assert [answer.status_code for answer in answers] == [200, 200, 200, 200, 429, 429]
        assert_problem(first.get("/v1/articles", headers=UNKNOWN), 401)
        assert_problem(second.get("/v1/articles", headers=UNKNOWN), 401)
        assert_problem(first.get("/v1/articles", headers=UNKNOWN), 429)
    assert redis.Redis.from_url(redis_url).keys("pressrun-rate*")


def test_without_redis_each_process_still_counts(
    brokered: Callable[[str], Services], editor: Headers, caplog: pytest.LogCaptureFixture
) -> None:
    app = rated(brokered("redis://127.0.0.1:1/0"), ApiSettings(rate_per_minute=2))
    with TestClient(app) as client:
        statuses = [client.get("/v1/articles", headers=editor).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert "rate limits counted in this process" in caplog.text


def test_the_broker_url_decides_where_rates_are_counted() -> None:
    assert redis_url_of("redis://:s@redis:6379/0") == "redis://:s@redis:6379/0"
    assert redis_url_of("rediss://redis:6380/1") == "rediss://redis:6380/1"
    assert redis_url_of("amqp://guest:guest@rabbit//") is None
    assert redis_url_of(None) is None


def test_each_token_and_address_has_its_own_count() -> None:
    limits = RateLimits(per_token=2, per_address=1)
    assert [limits.take_token(1) for _ in range(3)][:2] == [0.0, 0.0]
    assert 0 < limits.take_token(1) <= 60
    assert limits.take_token(2) == 0.0
    assert limits.take_address("198.51.100.1") == 0.0
    assert limits.take_address("198.51.100.1") > 0
    assert limits.take_address("198.51.100.2") == 0.0
