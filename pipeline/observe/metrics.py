"""Prometheus metrics read from the database at scrape time.

The database is the source of truth: every worker process records what it did there (events,
their stage times, the counters of outputs), so the figures are right with any number of
processes, and a scrape of any API process sees the whole fleet. Queue depth comes from the
broker through a callable the composition root passes in (the domain knows no Celery); a
queue the broker could not count is NaN, never 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import Float, and_, case, cast, func, select
from sqlalchemy.orm import Session

from pipeline.db import SessionFactory, transaction
from pipeline.events.models import UNFINISHED, Event, EventKind, EventStatus
from pipeline.observe import counters
from pipeline.publish import purges
from pipeline.schema import utcnow

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
STAGES = (
    ("dispatched", Event.accepted_at, Event.dispatched_at),
    ("started", Event.dispatched_at, Event.started_at),
    ("rendered", Event.started_at, Event.rendered_at),
    ("live", Event.rendered_at, Event.live_at),
)
STUCK_AFTER = timedelta(minutes=5)
# Messages waiting per queue; None for a queue the broker could not count.
QueueDepths = Callable[[], dict[str, int | None]]


def seconds_between(session: Session, start: Any, end: Any) -> Any:
    """end - start in seconds, in the database's own date arithmetic."""
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return cast(func.extract("epoch", end - start), Float)


class PipelineCollector(Collector):
    def __init__(self, sessions: SessionFactory, queue_depths: QueueDepths | None = None) -> None:
        self.sessions = sessions
        self.queue_depths = queue_depths

    def collect(self) -> Iterator[Any]:
        with transaction(self.sessions) as session:
            yield self._events(session)
            yield self._latency(
                session,
                "pressrun_publish_to_live_seconds",
                "From accepted to live, for publishes and updates",
                Event.accepted_at,
                Event.live_at,
            )
            yield self._latency(
                session,
                "pressrun_publish_to_page_seconds",
                "From accepted to the article's own page live (its other pages and lists follow)",
                Event.accepted_at,
                Event.page_live_at,
            )
            for stage, start, end in STAGES:
                yield self._latency(
                    session,
                    f"pressrun_stage_{stage}_seconds",
                    f"Time an event spent reaching the {stage} stage",
                    start,
                    end,
                )
            yield from self._outputs(session)
            yield from self._health(session)
        if self.queue_depths is not None:
            depth = GaugeMetricFamily("pressrun_queue_depth", "Messages waiting", labels=["queue"])
            for queue, size in sorted(self.queue_depths().items()):
                # NaN when the broker could not count it: an alert on the depth must not
                # read a broker error as an empty queue.
                depth.add_metric([queue], math.nan if size is None else size)
            yield depth

    def _events(self, session: Session) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "pressrun_events", "Events in the outbox by kind and status", labels=["kind", "status"]
        )
        rows = session.execute(
            select(Event.kind, Event.status, func.count()).group_by(Event.kind, Event.status)
        )
        for kind, status, number in rows:
            family.add_metric([str(kind), str(status)], int(number))
        return family

    def _latency(
        self, session: Session, name: str, documentation: str, start: Any, end: Any
    ) -> HistogramMetricFamily:
        elapsed = seconds_between(session, start, end)
        done = and_(
            start.is_not(None),
            end.is_not(None),
            Event.kind.in_([EventKind.PUBLISH, EventKind.UPDATE, EventKind.UNPUBLISH]),
        )
        # Elapsed time computed once per row, then bucketed: a CASE per bucket over the raw
        # timestamps would redo the date arithmetic a dozen times per event.
        timed = select(elapsed.label("seconds")).where(done).subquery()
        columns = [
            func.sum(case((timed.c.seconds <= bound, 1), else_=0)) for bound in LATENCY_BUCKETS
        ]
        row = session.execute(
            select(func.count(), func.coalesce(func.sum(timed.c.seconds), 0.0), *columns)
        ).one()
        count, total, *cumulative = row
        buckets = [
            (str(bound), int(value or 0))
            for bound, value in zip(LATENCY_BUCKETS, cumulative, strict=True)
        ]
        buckets.append(("+Inf", int(count)))
        return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=float(total))

    def _outputs(self, session: Session) -> Iterator[CounterMetricFamily]:
        documentation = {
            "outputs_rendered": "Outputs rendered",
            "outputs_uploaded": "Outputs written to storage",
            "outputs_unchanged": "Outputs skipped as unchanged (manifest hash)",
            "outputs_deleted": "Outputs deleted from storage",
            "bytes_uploaded": "Bytes written to storage",
            "rechecks_redone": "Outputs written again because their data moved on meanwhile",
        }
        for name, value in counters.totals(session).items():
            family = CounterMetricFamily(f"pressrun_{name}", documentation[name])
            family.add_metric([], value)
            yield family
        retries = session.scalar(
            select(func.coalesce(func.sum(Event.attempts - 1), 0)).where(Event.attempts > 1)
        )
        family = CounterMetricFamily("pressrun_event_retries", "Event attempts beyond the first")
        family.add_metric([], int(retries or 0))
        yield family

    def _health(self, session: Session) -> Iterator[GaugeMetricFamily]:
        failed = session.scalar(select(func.count()).where(Event.status == EventStatus.FAILED))
        stuck = session.scalar(
            select(func.count()).where(
                Event.status.in_(UNFINISHED), Event.accepted_at < utcnow() - STUCK_AFTER
            )
        )
        for name, documentation, value in (
            ("pressrun_failed_events", "Events that gave up", failed),
            ("pressrun_stuck_events", f"Events unfinished after {STUCK_AFTER}", stuck),
        ):
            family = GaugeMetricFamily(name, documentation)
            family.add_metric([], int(value or 0))
            yield family
        latest = session.scalar(
            select(Event.outputs)
            .where(Event.kind == EventKind.RECONCILE)
            .order_by(Event.id.desc())
            .limit(1)
        )
        findings = GaugeMetricFamily(
            "pressrun_reconcile_findings",
            "Last reconcile: objects missing, stale or orphaned",
            labels=["finding"],
        )
        for finding in ("missing", "stale", "orphans"):
            findings.add_metric([finding], int((latest or {}).get(finding, 0)))
        yield findings
        yield from self._purges(session)

    def _purges(self, session: Session) -> Iterator[GaugeMetricFamily]:
        backlog = purges.backlog(session)
        for name, documentation, value in (
            ("pressrun_pending_purges", "CDN paths changed and not purged yet", backlog.pending),
            (
                "pressrun_pending_purge_age_seconds",
                "Age of the oldest CDN purge not done yet (0 when none is pending)",
                backlog.age(utcnow()),
            ),
        ):
            family = GaugeMetricFamily(name, documentation)
            family.add_metric([], float(value))
            yield family


def registry_for(
    sessions: SessionFactory, queue_depths: QueueDepths | None = None
) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PipelineCollector(sessions, queue_depths))
    return registry
