"""The dashboard's figures in SQL: nearest-rank percentiles (the same on SQLite and, with
percentile_disc, on PostgreSQL), throughput windows, stuck events."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest

from pipeline.api.ops import queries
from pipeline.api.ops.view_models import Percentiles, by_kind
from pipeline.config import Settings
from pipeline.db import transaction
from pipeline.events.models import EventKind, EventStatus
from pipeline.schema import utcnow
from pipeline.services import Services, create_services
from tests.integration.conftest import database_url  # noqa: F401 (a fixture)
from tests.ops.conftest import add_event, live_event


def nearest_rank(values: list[float], quantile: float) -> float:
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * quantile // 1))  # ceil(q * n), at least 1
    return ordered[int(rank) - 1]


def seed_latencies(services: Services) -> list[float]:
    """100 changes live 1..100 s after acceptance in the last ten minutes, and events that
    must not count: older than 15 minutes, a rebuild, one still on its way."""
    now = utcnow()
    seconds = [float(number) for number in range(1, 101)]
    random.Random(3).shuffle(seconds)
    for number, elapsed in enumerate(seconds):
        live_event(services, now - timedelta(minutes=10, seconds=-number), elapsed)
    live_event(services, now - timedelta(hours=2), 1000.0, kind=EventKind.UPDATE)
    live_event(services, now - timedelta(minutes=1), 5000.0, kind=EventKind.REBUILD)
    add_event(services, status=EventStatus.STARTED, accepted_at=now - timedelta(minutes=3))
    return seconds


def check_latencies(services: Services, *, portable: bool = False) -> None:
    now = utcnow()
    with transaction(services.sessions) as session:
        recent, minutes = queries.latency_window(
            session, now - timedelta(minutes=15), now - timedelta(minutes=15), 60,
            portable=portable,
        )  # fmt: skip
        day, _ = queries.latency_window(
            session, now - timedelta(hours=24), now - timedelta(hours=24), 1800, portable=portable
        )
    assert recent.count == 100
    assert recent.p50 == pytest.approx(50.0, abs=1e-3)
    assert recent.p95 == pytest.approx(95.0, abs=1e-3)
    assert recent.p99 == pytest.approx(99.0, abs=1e-3)
    assert sum(point.latency.count for point in minutes) == 100
    with_old = [*range(1, 101), 1000.0]
    assert day.count == 101
    for quantile, value in zip((0.5, 0.95, 0.99), (day.p50, day.p95, day.p99), strict=True):
        assert value == pytest.approx(nearest_rank(with_old, quantile), abs=1e-3)


def test_percentiles_are_nearest_rank_over_the_window(services: Services) -> None:
    seed_latencies(services)
    check_latencies(services)


def test_no_change_went_live(services: Services) -> None:
    add_event(services)
    with transaction(services.sessions) as session:
        since = utcnow() - timedelta(minutes=15)
        assert queries.latency_window(session, since, since, 60) == (Percentiles(), [])


def test_series_per_bucket_leaves_empty_buckets_out(services: Services) -> None:
    start = utcnow().replace(microsecond=0) - timedelta(minutes=10)
    live_event(services, start + timedelta(seconds=2), 40.0)  # before the window: not counted
    for elapsed in (1.0, 2.0, 3.0):
        live_event(services, start + timedelta(seconds=10), elapsed)
    live_event(services, start + timedelta(minutes=2, seconds=5), 7.0)
    with transaction(services.sessions) as session:
        whole, points = queries.latency_window(session, start + timedelta(seconds=5), start, 60)
    assert whole.count == 4
    assert whole.p99 == pytest.approx(7.0, abs=1e-3)
    assert [point.bucket for point in points] == [0, 2]
    first, third = points[0].latency, points[1].latency
    assert (first.count, first.p50, first.p99) == (3, pytest.approx(2.0, abs=1e-3),
                                                   pytest.approx(3.0, abs=1e-3))  # fmt: skip
    assert (third.count, third.p50) == (1, pytest.approx(7.0, abs=1e-3))


def test_throughput_by_kind_and_status(services: Services) -> None:
    now = utcnow()
    for _ in range(3):
        live_event(services, now - timedelta(minutes=2), 0.5)
    live_event(services, now - timedelta(hours=3), 0.5, kind=EventKind.UPDATE)
    add_event(services, status=EventStatus.FAILED, accepted_at=now - timedelta(minutes=20))
    add_event(services, accepted_at=now - timedelta(minutes=1))
    add_event(services, accepted_at=now - timedelta(days=2))  # outside both windows
    with transaction(services.sessions) as session:
        flows = {(flow.kind, flow.status): flow for flow in queries.throughput(session, now)}
        minutes = queries.per_minute(session, now - timedelta(minutes=59))
    assert {key: (flow.last_15m, flow.last_24h) for key, flow in flows.items()} == {
        ("publish", "live"): (3, 3),
        ("publish", "failed"): (0, 1),
        ("publish", "accepted"): (1, 1),
        ("update", "live"): (0, 1),
    }
    publish, update = by_kind(list(flows.values()))
    assert publish.kind == "publish"
    assert publish.counts == {"live": (3, 3), "failed": (0, 1), "pending": (1, 1)}
    assert publish.per_minute("live") == pytest.approx(3 / 15)
    assert (update.kind, update.day("live"), update.day("pending")) == ("update", 1, 0)
    assert sum(count for _, _, count in minutes) == 5  # the last hour's five


def test_stuck_means_in_one_stage_longer_than_the_threshold(services: Services) -> None:
    now = utcnow()
    ago = lambda minutes: now - timedelta(minutes=minutes)  # noqa: E731
    stuck = [
        add_event(services, status=EventStatus.STARTED, accepted_at=ago(11),
                  dispatched_at=ago(11), started_at=ago(10)),
        add_event(services, status=EventStatus.ACCEPTED, accepted_at=ago(6)),
        add_event(services, status=EventStatus.RENDERED, accepted_at=ago(30), dispatched_at=ago(30),
                  started_at=ago(30), rendered_at=ago(29), pending_lists=["latest"]),
    ]  # fmt: skip
    add_event(services, status=EventStatus.STARTED, accepted_at=ago(11), dispatched_at=ago(2),
              started_at=ago(1))  # retried a minute ago: moving  # fmt: skip
    add_event(services, status=EventStatus.ACCEPTED, accepted_at=ago(2))
    live_event(services, ago(60), 1.0)
    add_event(services, status=EventStatus.FAILED, accepted_at=ago(60))
    with transaction(services.sessions) as session:
        found, count = queries.stuck_events(session, now, timedelta(minutes=5), limit=2)
        oldest = queries.oldest_undispatched(session)
    assert count == 3
    assert [event.id for event in found] == [stuck[2], stuck[0]]  # oldest first, limited
    assert found[1].stage_since == ago(10)
    assert found[0].pending_lists == ["latest"]
    assert oldest is not None
    assert oldest.id == stuck[1]


def test_failed_events_newest_first_with_a_count(services: Services) -> None:
    now = utcnow()
    ids = [
        add_event(services, status=EventStatus.FAILED, error=f"boom {number}",
                  accepted_at=now - timedelta(minutes=number))
        for number in range(5)
    ]  # fmt: skip
    with transaction(services.sessions) as session:
        found, count = queries.failed_events(session, 3)
    assert count == 5
    assert [event.id for event in found] == ids[:3]
    assert found[0].error == "boom 0"


@pytest.fixture
def postgres_services(database_url: str, settings: Settings) -> Iterator[Services]:  # noqa: F811
    built = create_services(replace(settings, database_url=database_url))
    yield built
    built.engine.dispose()


@pytest.mark.integration
def test_postgresql_percentile_disc_agrees_with_the_window_functions(
    postgres_services: Services,
) -> None:
    seed_latencies(postgres_services)
    check_latencies(postgres_services)
    check_latencies(postgres_services, portable=True)
    start = utcnow() - timedelta(hours=24)
    with transaction(postgres_services.sessions) as session:
        native = queries.latency_window(session, start, start, 1800)
        portable = queries.latency_window(session, start, start, 1800, portable=True)
        empty = queries.latency_window(session, utcnow(), utcnow(), 60)
    assert native == portable
    assert native[0].count == sum(point.latency.count for point in native[1]) == 101
    assert empty == (Percentiles(), [])
