"""/healthz and /readyz: readiness names the dependency that does not answer."""

from __future__ import annotations

from dataclasses import replace

from fastapi.testclient import TestClient

from pipeline.api.app import create_app
from pipeline.api.settings import ApiSettings
from pipeline.config import Settings
from pipeline.services import create_services
from tests.api.conftest import assert_problem


def test_ready_when_everything_answers(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"


def test_readyz_names_an_unreachable_broker_without_its_password(settings: Settings) -> None:
    broken = replace(settings, broker_url="redis://pressrun:hunter2@127.0.0.1:1/0")
    services = create_services(broken)
    try:
        app = create_app(broken, ApiSettings(), services=services, embedded_jobs=False)
        with TestClient(app) as client:
            assert client.get("/healthz").status_code == 200  # the process itself is fine
            response = client.get("/readyz")
    finally:
        services.engine.dispose()
    problem = assert_problem(response, 503, "broker")
    assert [error["field"] for error in problem["errors"]] == ["broker"]
    assert "hunter2" not in response.text
    assert response.headers["retry-after"] == "5"
