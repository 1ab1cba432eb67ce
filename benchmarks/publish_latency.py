"""Publish-to-live latency on the real stack (PostgreSQL, Redis, moto_server, 2 workers).

From the publish call to the last affected object stored, over sequential publishes into a
site of --size articles; then the throughput of a burst of --burst publishes.

    .venv/bin/python benchmarks/publish_latency.py --size 10000 --publishes 200 --burst 1000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from pipeline.cli.demo_content import generate_articles
from pipeline.content import articles
from pipeline.content.inputs import ArticleInput, parse_article
from pipeline.db import transaction
from pipeline.events.models import Event, EventStatus
from pipeline.events.processing import dispatch_event
from pipeline.services import Services, create_services
from tests.realstack import bench_stack
from workers.app import CeleryDispatcher, create_app


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def records(count: int, start: datetime) -> list[ArticleInput]:
    out = []
    for number, record in enumerate(generate_articles(count)):
        record = {**record, "slug": f"{record['slug']}-{number}"}
        record["published_at"] = (start + timedelta(minutes=number)).isoformat()
        out.append(parse_article(record)[0])
    return out


def wait_live(services: Services, event_ids: list[int], timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with transaction(services.sessions) as session:
            done = session.scalar(
                select(func.count()).where(
                    Event.id.in_(event_ids),
                    Event.status.in_([EventStatus.LIVE, EventStatus.FAILED]),
                )
            )
        if done == len(event_ids):
            return
        time.sleep(0.005 if len(event_ids) == 1 else 0.2)
    raise TimeoutError(f"events not live after {timeout}s")


def stage_times(services: Services, event_ids: list[int]) -> tuple[list[float], list[float]]:
    with transaction(services.sessions) as session:
        rows = session.execute(
            select(Event.accepted_at, Event.page_live_at, Event.live_at, Event.status).where(
                Event.id.in_(event_ids)
            )
        ).all()
    failed = [row for row in rows if row.status != EventStatus.LIVE]
    assert not failed, f"{len(failed)} events did not go live"
    live = [(row.live_at - row.accepted_at).total_seconds() * 1000 for row in rows]
    page = [(row.page_live_at - row.accepted_at).total_seconds() * 1000 for row in rows]
    return live, page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--publishes", type=int, default=200)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    options = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as folder, bench_stack(Path(folder)) as stack:
        stack.start_workers(options.workers)
        services = create_services(stack.settings, migrate=False)
        dispatcher = CeleryDispatcher(create_app(stack.settings, lambda: services))
        base = datetime(2020, 1, 1, tzinfo=UTC)
        started = time.perf_counter()
        with transaction(services.sessions) as session:
            change = articles.import_articles(session, records(options.size, base), actor="bench")
        imported = time.perf_counter()
        dispatch_event(services, dispatcher, change.event_id)
        wait_live(services, [change.event_id], timeout=3600)
        console.print(
            f"site of {options.size} articles: imported in {imported - started:.0f} s, "
            f"built by {options.workers} workers in {time.perf_counter() - imported:.0f} s"
        )

        fresh = records(options.publishes + options.burst, datetime(2026, 1, 1, tzinfo=UTC))
        sequential = []
        for data in fresh[: options.publishes]:
            with transaction(services.sessions) as session:
                event_id = articles.publish(session, data, actor="bench").event_id
            dispatch_event(services, dispatcher, event_id)
            wait_live(services, [event_id])
            sequential.append(event_id)
        live, page = stage_times(services, sequential)

        burst, started = [], time.perf_counter()
        for data in fresh[options.publishes :]:
            with transaction(services.sessions) as session:
                event_id = articles.publish(session, data, actor="bench").event_id
            dispatch_event(services, dispatcher, event_id)
            burst.append(event_id)
        wait_live(services, burst, timeout=3600)
        burst_seconds = time.perf_counter() - started
        burst_live, _ = stage_times(services, burst)
        rss = stack.peak_rss_mb()

    table = Table(
        title=f"Publish to live, real stack, {options.size:,} articles, "
        f"{options.workers} workers (ms)"
    )
    for column in ("measure", "n", "p50", "p95", "p99", "min", "max"):
        table.add_column(column, justify="right")
    for name, values in (
        ("all affected objects", live),
        ("article page", page),
        ("burst: all objects", burst_live),
    ):
        table.add_row(
            name,
            str(len(values)),
            *(f"{percentile(values, q):.0f}" for q in (0.5, 0.95, 0.99)),
            f"{min(values):.0f}",
            f"{max(values):.0f}",
        )
    console.print(table)
    console.print(
        f"burst of {options.burst}: {options.burst / burst_seconds:.1f} publishes/s "
        f"({burst_seconds:.1f} s until all live); median {statistics.median(burst_live):.0f} ms"
    )
    console.print(f"worker RSS now (MB): {', '.join(f'{size:.0f}' for size in rss)}")


if __name__ == "__main__":
    main()
