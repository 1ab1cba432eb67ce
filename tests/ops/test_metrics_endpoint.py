"""/metrics: Prometheus's text format, figures that match the database after 200 publishes,
optional token auth, and the broker's figures when there is a broker."""

from __future__ import annotations

import math
from typing import Any

import pytest
import redis
from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from pipeline.api.models import Scope
from pipeline.config import Settings
from pipeline.db import transaction
from pipeline.events.models import Event, EventKind, EventStatus
from pipeline.publish.build import SyncReport
from pipeline.services import Services
from tests.conftest import Newsroom
from tests.integration.conftest import redis_url  # noqa: F401 (a fixture)
from tests.ops.conftest import Login, broker_answer, secret, with_broker
from workers.app import broker_overview
from workers.app import create_app as create_celery

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]
SECTIONS = ("politics", "business", "culture", "sport")


def scrape(client: TestClient, **options: Any) -> Samples:
    answer = client.get("/metrics", **options)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


@pytest.mark.timeout(1800)  # 200-300 s on this shared machine (load 6-12 on 2 CPUs)
def test_after_200_publishes_the_figures_match_the_database(
    client: TestClient, newsroom: Newsroom, services: Services
) -> None:
    for number in range(200):
        newsroom.publish(slug=f"story-{number}", section=SECTIONS[number % 4],
                         tags=[f"tag-{number % 7}"])  # fmt: skip
    for number in range(0, 20, 2):
        newsroom.publish(slug=f"story-{number}", title=f"Story {number}, updated")
    for number in range(1, 11, 2):
        newsroom.unpublish(f"story-{number}")
    metrics = scrape(client)

    with transaction(services.sessions) as session:
        by_kind_status = {
            (str(kind), str(status)): count
            for kind, status, count in session.execute(
                select(Event.kind, Event.status, func.count()).group_by(Event.kind, Event.status)
            )
        }
        changes_live = session.scalar(
            select(func.count()).where(
                Event.status == EventStatus.LIVE,
                Event.kind.in_([EventKind.PUBLISH, EventKind.UPDATE, EventKind.UNPUBLISH]),
            )
        )
        reports = [SyncReport.from_json(outputs) for outputs in session.scalars(
            select(Event.outputs))]  # fmt: skip
    assert by_kind_status == {("publish", "live"): 200, ("update", "live"): 10,
                              ("unpublish", "live"): 5}  # fmt: skip
    events = {
        (labels[0][1], labels[1][1]): value for labels, value in metrics["pressrun_events"].items()
    }
    assert events == by_kind_status
    assert metrics["pressrun_publish_to_live_seconds_count"][()] == changes_live == 215
    buckets = metrics["pressrun_publish_to_live_seconds_bucket"]
    counts = [buckets[(("le", bound),)] for bound in sorted(
        (labels[0][1] for labels in buckets), key=float)]  # fmt: skip
    assert counts == sorted(counts)  # cumulative
    assert counts[-1] == changes_live
    assert metrics["pressrun_publish_to_live_seconds_sum"][()] > 0
    # A new article's page is stored twice: before its rail is known, then with it.
    uploaded = sum(report.written_total + report.rewritten for report in reports)
    deleted = sum(report.deleted_total for report in reports)
    assert metrics["pressrun_outputs_uploaded_total"][()] == uploaded > 200
    assert metrics["pressrun_outputs_deleted_total"][()] == deleted > 0
    assert metrics["pressrun_failed_events"][()] == 0
    assert metrics["pressrun_stuck_events"][()] == 0
    assert "pressrun_queue_depth" not in metrics  # no broker: nothing queues
    assert "pressrun_broker_up" not in metrics


@pytest.fixture
def token_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRESSRUN_METRICS_AUTH", "token")


@pytest.mark.usefixtures("token_auth")
def test_metrics_can_ask_for_a_token(client: TestClient, services: Services) -> None:
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": "Bearer prt_nope"}).status_code == 401
    limited = secret(services, Scope.READ, sections=["sport"])
    assert client.get("/metrics", headers={"Authorization": f"Bearer {limited}"}
                      ).status_code == 403  # fmt: skip
    reader = {"Authorization": f"Bearer {secret(services, Scope.READ)}"}
    assert "pressrun_failed_events" in scrape(client, headers=reader)


def test_metrics_are_open_by_default(client: TestClient) -> None:
    assert "pressrun_failed_events" in scrape(client)


# -- with a broker ---------------------------------------------------------------------------


def test_queue_depths_and_workers_from_the_broker(brokered: FastAPI) -> None:
    with_broker(brokered, broker_answer())
    with TestClient(brokered) as client:
        metrics = scrape(client)
        secret_ = secret(brokered.state.pressrun.services, Scope.READ)
        client.post("/ops/login", data={"token": secret_})
        fleet = client.get("/ops").text
    depths = {labels[0][1]: value for labels, value in metrics["pressrun_queue_depth"].items()}
    assert depths == {"events": 3, "lists": 1, "rebuild": 0}
    assert metrics["pressrun_workers_online"][()] == 2
    assert metrics["pressrun_broker_up"][()] == 1
    assert metrics["pressrun_broker_answer_age_seconds"][()] >= 0
    assert "redis://127.0.0.1:1/0" in fleet
    assert "celery@web-2" in fleet
    assert "t-rebuild · concurrency 4" in fleet
    assert "2</b> online" in fleet


def test_a_broker_that_does_not_answer(brokered: FastAPI, login: Login) -> None:
    with_broker(brokered, broker_answer("Error 111 connecting to 127.0.0.1:1"))
    with TestClient(brokered) as client:
        metrics = scrape(client)
        client.post("/ops/login", data={"token": secret(brokered.state.pressrun.services)})
        fleet = client.get("/ops").text
    assert metrics["pressrun_broker_up"][()] == 0
    assert metrics["pressrun_workers_online"][()] == 0
    assert "pressrun_queue_depth" not in metrics
    assert "broker unreachable: Error 111" in fleet


def test_a_queue_the_broker_cannot_count_is_unknown_never_empty(
    brokered: FastAPI,
    redis_url: str,  # noqa: F811
) -> None:
    settings = Settings(broker_url=redis_url, queue_prefix="t-")
    broker = redis.Redis.from_url(redis_url)
    broker.rpush("t-events", "a", "b")
    broker.set("t-lists", "not a queue")  # asked its length, Redis answers an error
    overview = broker_overview(create_celery(settings), settings)
    assert overview["queues"] == {"events": 2, "lists": None, "rebuild": 0}  # rebuild: no queue
    assert "WRONGTYPE" in overview["error"]
    with_broker(brokered, overview)
    with TestClient(brokered) as client:
        metrics = scrape(client)
        client.post("/ops/login", data={"token": secret(brokered.state.pressrun.services)})
        fleet = BeautifulSoup(client.get("/ops").text, "html.parser").select_one(
            '[data-panel="fleet"]'
        )
    depths = {labels[0][1]: value for labels, value in metrics["pressrun_queue_depth"].items()}
    assert depths["events"] == 2
    assert math.isnan(depths["lists"])
    assert metrics["pressrun_broker_up"][()] == 0
    assert fleet is not None
    queues = [" ".join(item.text.split()) for item in fleet.select("ul.queues li")]
    assert queues == ["events 2 waiting", "lists unknown", "rebuild 0 waiting"]
    assert "WRONGTYPE" in fleet.text
