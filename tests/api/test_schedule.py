"""Embargoes and expiries: rows in `schedules` that the periodic job carries out when due."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pipeline.api import app as api_app
from pipeline.api.app import create_app
from pipeline.api.settings import ApiSettings
from pipeline.cli.main import main
from pipeline.content.schedule import run_due
from pipeline.schema import utcnow
from pipeline.services import Services
from tests.api.conftest import Headers, assert_problem, content, fingerprint
from workers.app import DUE_EVERY_SECONDS, dispatching
from workers.app import create_app as create_celery_app

PAGE = "world/2024/11/27/harbour/index.html"


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def later(seconds: float) -> datetime:
    return utcnow() + timedelta(seconds=seconds)


def pending(action: str, due: datetime) -> dict[str, Any]:
    """A schedule as the article shows it before any failed try."""
    return {"action": action, "due_at": iso(due), "attempts": 0, "error": None, "failed_at": None}


def draft(client: TestClient, headers: Headers, **body: Any) -> None:
    response = client.put("/v1/articles/harbour", headers=headers, json=content(**body))
    assert response.status_code == 201, response.text


def scheduler(services: Services) -> Services:
    """`services` as beat's job runs with them: their sessions dispatch what they commit."""
    return dispatching(services, create_celery_app(services.settings, lambda: services))


def test_a_scheduled_publish_waits_then_goes_live_dated_by_its_embargo(
    client: TestClient, editor: Headers, services: Services
) -> None:
    draft(client, editor, published_at=...)
    due = later(3600)
    before = fingerprint(services)
    response = client.post(
        "/v1/articles/harbour/publish", headers=editor, json={"publish_at": iso(due)}
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["event"] is None
    assert body["schedule"]["action"] == "publish"
    assert body["article"]["status"] == "scheduled"
    assert body["article"]["schedules"] == [pending("publish", due)]
    assert fingerprint(services).files == before.files
    assert fingerprint(services).rows["events"] == before.rows["events"]

    assert run_due(scheduler(services), now=due - timedelta(seconds=1)).outcomes == []
    report = run_due(scheduler(services), now=due + timedelta(seconds=1))
    assert [outcome.status for outcome in report.outcomes] == ["live"]
    article = client.get("/v1/articles/harbour", headers=editor).json()
    assert article["status"] == "published"
    assert article["schedules"] == []
    assert article["published_at"] == iso(due)
    assert article["last_event"]["kind"] == "publish"
    assert services.storage.get(article["key"]) is not None
    # Carried out once: running the job again does nothing.
    assert run_due(scheduler(services), now=due + timedelta(seconds=2)).outcomes == []


def test_a_scheduled_unpublish_takes_a_live_article_down(
    client: TestClient, editor: Headers, services: Services
) -> None:
    draft(client, editor)
    client.post("/v1/articles/harbour/publish", headers=editor)
    due = later(60)
    response = client.post(
        "/v1/articles/harbour/unpublish", headers=editor, json={"unpublish_at": iso(due)}
    )
    assert response.status_code == 202, response.text
    assert response.json()["article"]["status"] == "published"
    run_due(scheduler(services), now=due + timedelta(seconds=1))
    assert client.get("/v1/articles/harbour", headers=editor).json()["status"] == "unpublished"
    assert services.storage.get(PAGE) is None


def test_an_embargo_with_an_expiry(client: TestClient, editor: Headers, services: Services) -> None:
    draft(client, editor)
    start, end = later(60), later(120)
    client.post("/v1/articles/harbour/publish", headers=editor, json={"publish_at": iso(start)})
    too_early = client.post(
        "/v1/articles/harbour/unpublish", headers=editor, json={"unpublish_at": iso(start)}
    )
    assert_problem(too_early, 422, "unpublish_at")
    expiry = client.post(
        "/v1/articles/harbour/unpublish", headers=editor, json={"unpublish_at": iso(end)}
    )
    assert expiry.status_code == 202
    assert [s["action"] for s in expiry.json()["article"]["schedules"]] == ["publish", "unpublish"]
    run_due(scheduler(services), now=start + timedelta(seconds=1))
    assert services.storage.get(PAGE) is not None
    run_due(scheduler(services), now=end + timedelta(seconds=1))
    assert services.storage.get(PAGE) is None


def test_cancelling_gives_the_article_back_its_status(
    client: TestClient, editor: Headers, services: Services
) -> None:
    draft(client, editor)
    client.post("/v1/articles/harbour/publish", headers=editor, json={"publish_at": iso(later(60))})
    response = client.delete("/v1/articles/harbour/schedule", headers=editor)
    assert response.status_code == 200, response.text
    assert response.json()["article"]["status"] == "draft"
    assert response.json()["article"]["schedules"] == []
    assert run_due(scheduler(services), now=later(120)).outcomes == []
    assert_problem(client.delete("/v1/articles/harbour/schedule", headers=editor), 404)


def test_rescheduling_moves_the_time(client: TestClient, editor: Headers) -> None:
    draft(client, editor)
    client.post("/v1/articles/harbour/publish", headers=editor, json={"publish_at": iso(later(60))})
    moved = later(600)
    response = client.post(
        "/v1/articles/harbour/publish", headers=editor, json={"publish_at": iso(moved)}
    )
    assert response.json()["article"]["schedules"] == [pending("publish", moved)]


def test_publishing_now_makes_a_scheduled_publish_moot(
    client: TestClient, editor: Headers, services: Services
) -> None:
    draft(client, editor)
    client.post("/v1/articles/harbour/publish", headers=editor, json={"publish_at": iso(later(60))})
    response = client.post("/v1/articles/harbour/publish", headers=editor)
    assert response.json()["article"]["schedules"] == []
    assert run_due(scheduler(services), now=later(120)).outcomes == []


def test_unpublishing_now_cancels_what_was_scheduled(
    client: TestClient, editor: Headers, services: Services
) -> None:
    draft(client, editor)
    client.post("/v1/articles/harbour/publish", headers=editor, json={"publish_at": iso(later(60))})
    client.post("/v1/articles/harbour/unpublish", headers=editor)
    assert run_due(scheduler(services), now=later(120)).outcomes == []
    assert client.get("/v1/articles/harbour", headers=editor).json()["status"] == "unpublished"


@pytest.mark.parametrize(
    ("path", "field", "status"),
    [
        ("publish", "publish_at", 422),  # in the past
        ("unpublish", "unpublish_at", 422),
    ],
)
def test_a_schedule_in_the_past_is_refused(
    client: TestClient, editor: Headers, services: Services, path: str, field: str, status: int
) -> None:
    draft(client, editor)
    client.post("/v1/articles/harbour/publish", headers=editor)
    before = fingerprint(services)
    response = client.post(
        f"/v1/articles/harbour/{path}", headers=editor, json={field: iso(later(-60))}
    )
    assert_problem(response, status, field)
    assert fingerprint(services) == before


def test_schedules_that_contradict_the_article_are_409(client: TestClient, editor: Headers) -> None:
    draft(client, editor)
    expiry = client.post(
        "/v1/articles/harbour/unpublish", headers=editor, json={"unpublish_at": iso(later(60))}
    )
    assert_problem(expiry, 409)  # a draft with no publish scheduled
    client.post("/v1/articles/harbour/publish", headers=editor)
    embargo = client.post(
        "/v1/articles/harbour/publish", headers=editor, json={"publish_at": iso(later(60))}
    )
    assert_problem(embargo, 409)  # already live


def test_the_beat_job_is_scheduled_and_runs(
    client: TestClient, editor: Headers, services: Services
) -> None:
    celery = create_celery_app(services.settings, lambda: services)
    entry = celery.conf.beat_schedule["due"]
    assert entry["task"] == "pressrun.run_due"
    assert entry["schedule"] == DUE_EVERY_SECONDS <= 5
    draft(client, editor)
    client.post("/v1/articles/harbour/publish", headers=editor, json={"publish_at": iso(later(1))})
    time.sleep(1.1)
    assert celery.tasks["pressrun.run_due"].apply().get() == 1
    assert client.get("/v1/articles/harbour", headers=editor).json()["status"] == "published"


def test_without_a_broker_the_api_process_runs_the_job(
    services: Services, editor: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api_app, "EMBEDDED_JOB_EVERY_SECONDS", 0.2)
    app: FastAPI = create_app(services.settings, ApiSettings(), services=services)
    with TestClient(app) as client:
        draft(client, editor)
        due = later(1)
        client.post("/v1/articles/harbour/publish", headers=editor, json={"publish_at": iso(due)})
        deadline = time.monotonic() + 10
        while client.get("/v1/articles/harbour", headers=editor).json()["status"] != "published":
            assert time.monotonic() < deadline, "the scheduled publish never went live"
            time.sleep(0.1)
        went_live = datetime.now(UTC)
    assert went_live - due < timedelta(seconds=3)


# -- the command line keeps the same books ---------------------------------------------------


def pressrun(services: Services, *args: str) -> str:
    """`pressrun ARGS` against this test's database and site (tasks run in-process)."""
    env = {"PRESSRUN_DATABASE_URL": services.settings.database_url,
           "PRESSRUN_STORAGE_URL": services.settings.storage_url,
           "PRESSRUN_SITE_URL": services.settings.site_url}  # fmt: skip
    result = CliRunner().invoke(main, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_unpublishing_from_the_cli_cancels_a_scheduled_publish(
    client: TestClient, editor: Headers, services: Services
) -> None:
    draft(client, editor)
    client.post("/v1/articles/harbour/publish", headers=editor, json={"publish_at": iso(later(60))})
    pressrun(services, "unpublish", "harbour")
    assert run_due(scheduler(services), now=later(120)).outcomes == []
    article = client.get("/v1/articles/harbour", headers=editor).json()
    assert (article["status"], article["schedules"]) == ("unpublished", [])
    assert services.storage.get(PAGE) is None


def test_publishing_from_the_cli_makes_a_scheduled_publish_moot(
    client: TestClient, editor: Headers, services: Services, tmp_path: Path
) -> None:
    draft(client, editor)
    client.post("/v1/articles/harbour/publish", headers=editor, json={"publish_at": iso(later(60))})
    expiry = later(3600)
    expire = {"unpublish_at": iso(expiry)}
    client.post("/v1/articles/harbour/unpublish", headers=editor, json=expire)
    file = tmp_path / "harbour.json"
    file.write_text(json.dumps(content(slug="harbour")))
    pressrun(services, "publish", str(file))
    article = client.get("/v1/articles/harbour", headers=editor).json()
    assert article["status"] == "published"
    # As through the API: the embargo is moot, the expiry stays.
    assert article["schedules"] == [pending("unpublish", expiry)]
    assert run_due(scheduler(services), now=later(120)).outcomes == []


def test_importing_makes_a_scheduled_publish_moot(
    client: TestClient, editor: Headers, services: Services, tmp_path: Path
) -> None:
    draft(client, editor, published_at=...)
    client.post("/v1/articles/harbour/publish", headers=editor, json={"publish_at": iso(later(60))})
    file = tmp_path / "articles.jsonl"
    file.write_text(json.dumps(content(slug="harbour")) + "\n")
    pressrun(services, "import", str(file))
    article = client.get("/v1/articles/harbour", headers=editor).json()
    assert (article["status"], article["schedules"]) == ("published", [])
    assert article["key"] == PAGE  # dated by the import: no longer an undated draft
    assert run_due(scheduler(services), now=later(120)).outcomes == []
