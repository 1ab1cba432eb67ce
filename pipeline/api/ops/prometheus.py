"""/metrics in Prometheus's text format: pipeline.observe.metrics reads the database at scrape time
(right with any number of processes); queue depths and the workers online come from the
broker watch when a broker is configured. Open by default, as scrape endpoints usually are;
PRESSRUN_METRICS_AUTH=token asks for an API token of scope read or wider."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from pipeline.api.auth import client_address
from pipeline.api.context import Context
from pipeline.api.ops.broker import BrokerSnapshot, BrokerWatch
from pipeline.api.ops.routes import ops_state
from pipeline.api.ops.session import LoginNeeded, OpsError, authenticate
from pipeline.api.ops.settings import MetricsAuth
from pipeline.observe.metrics import registry_for

router = APIRouter(include_in_schema=False)
# The first scrape after a start waits this long at most for the broker's first answer.
FIRST_ANSWER_SECONDS = 3.0


class FleetCollector(Collector):
    """What the broker said last: is it up, and how many workers answered."""

    def __init__(self, snapshot: BrokerSnapshot | None, age: float | None) -> None:
        self.snapshot = snapshot
        self.age = age

    def collect(self) -> Iterator[Any]:
        answered = self.snapshot is not None and self.snapshot.error is None
        up = GaugeMetricFamily("pressrun_broker_up", "The broker answered the last question")
        up.add_metric([], 1 if answered else 0)
        yield up
        workers = GaugeMetricFamily("pressrun_workers_online", "Workers that answered a ping")
        workers.add_metric([], len(self.snapshot.workers) if self.snapshot and answered else 0)
        yield workers
        if self.age is not None:
            age = GaugeMetricFamily(
                "pressrun_broker_answer_age_seconds", "How old the broker figures are"
            )
            age.add_metric([], self.age)
            yield age


def _queue_depths(snapshot: BrokerSnapshot | None) -> dict[str, int | None]:
    return dict(snapshot.queues) if snapshot is not None else {}


@router.get("/metrics")
def metrics(request: Request, context: Context) -> Response:
    state = ops_state(request, context)
    if state.settings.metrics_auth == MetricsAuth.TOKEN:
        refused = _refused(request, context)
        if refused is not None:
            return refused
    watch: BrokerWatch | None = state.watch
    registry = registry_for(
        context.services.sessions,
        None if watch is None else lambda: _queue_depths(watch.snapshot(FIRST_ANSWER_SECONDS)),
    )
    if watch is not None:
        found = watch.snapshot(FIRST_ANSWER_SECONDS)
        registry.register(FleetCollector(found, watch.age(found) if found else None))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _refused(request: Request, context: Context) -> Response | None:
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    try:
        if scheme.lower() != "bearer" or not secret.strip():
            raise LoginNeeded("give a token: `Authorization: Bearer <token>` (scope read)")
        authenticate(context, secret.strip(), address=client_address(request))
    except OpsError as error:
        headers = {"WWW-Authenticate": 'Bearer realm="pressrun"'} if error.status == 401 else {}
        return PlainTextResponse(error.detail + "\n", status_code=error.status, headers=headers)
    return None
