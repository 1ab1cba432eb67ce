"""Every figure of the dashboard, in SQL over indexed columns, with a LIMIT on every list.

`events` has indexes on (status, accepted_at), article_id and accepted_at, plus its primary
key: windows are ranges of `accepted_at`, lists by status use the pair, recent events walk
the primary key backwards. Percentiles are nearest-rank ones computed in SQL: PostgreSQL's
`percentile_disc`, and on SQLite (which has no percentile function) the same definition
with window functions, so nothing but the few figures shown ever leaves the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, case, cast, func, literal, literal_column, or_, select
from sqlalchemy.orm import Session

from pipeline.api.ops.view_models import EventSummary, FailedSchedule, Flow, Percentiles, summarize
from pipeline.content.models import Article, Schedule
from pipeline.events.models import UNFINISHED, Event, EventKind, EventStatus
from pipeline.observe.metrics import seconds_between
from pipeline.schema import UTCDateTime

# The changes a reader waits for, as in the pressrun_publish_to_live_seconds histogram.
CHANGES = (EventKind.PUBLISH, EventKind.UPDATE, EventKind.UNPUBLISH)
QUANTILES = (0.5, 0.95, 0.99)


@dataclass(frozen=True)
class Point:
    """One bucket of a chart: its number from the window's start, and what fell in it."""

    bucket: int
    latency: Percentiles


def _moment(value: datetime) -> Any:
    return literal(value, UTCDateTime())


def _bucket(session: Session, since: datetime, width_seconds: int) -> Any:
    offset = seconds_between(session, _moment(since), Event.accepted_at) / width_seconds
    if session.get_bind().dialect.name == "sqlite":
        return cast(offset, Integer)  # truncates; offsets are never negative here
    return cast(func.floor(offset), Integer)


def _samples(session: Session, since: datetime, start: datetime, width_seconds: int) -> Any:
    """(bucket, elapsed) of each change accepted since `since` that went live; buckets of
    `width_seconds` are counted from `start` (at or before `since`)."""
    elapsed = seconds_between(session, Event.accepted_at, Event.live_at)
    return (
        select(_bucket(session, start, width_seconds).label("bucket"), elapsed.label("elapsed"))
        .where(Event.accepted_at >= _moment(since), Event.live_at.is_not(None))
        .where(Event.kind.in_(CHANGES))
        .subquery("samples")
    )


def latency_window(
    session: Session,
    since: datetime,
    start: datetime,
    width_seconds: int,
    *,
    portable: bool = False,
) -> tuple[Percentiles, list[Point]]:
    """Publish-to-live p50/p95/p99 of the changes accepted since `since`, over the whole
    window and per bucket (empty buckets left out). `portable` runs the window-function
    statements on PostgreSQL too (the tests compare both)."""
    samples = _samples(session, since, start, width_seconds)
    if session.get_bind().dialect.name == "postgresql" and not portable:
        return _split(session.execute(_ordered_set(samples)))
    whole = _rows(session.execute(_nearest_rank(samples, partitioned=False)))
    buckets = _rows(session.execute(_nearest_rank(samples, partitioned=True)))
    return (whole[0][1] if whole else Percentiles()), [Point(*row) for row in buckets]


def _ordered_set(samples: Any) -> Any:
    """PostgreSQL's percentile_disc is the nearest-rank percentile. One statement reads the
    window once for the whole and for each bucket (GROUPING SETS; the whole's bucket is
    NULL), with one sort per group: cheaper than window functions over the same rows, which
    matters on a dashboard that re-reads a day of events every few seconds."""
    fractions: Any = literal_column(f"ARRAY[{', '.join(map(str, QUANTILES))}]::float8[]")
    return select(
        samples.c.bucket,
        func.count(),
        func.percentile_disc(fractions).within_group(samples.c.elapsed),
    ).group_by(literal_column("GROUPING SETS ((samples.bucket), ())"))


def _split(rows: Any) -> tuple[Percentiles, list[Point]]:
    whole, points = Percentiles(), []
    for bucket, size, values in rows:
        if not size:
            continue  # the whole of an empty window: a row of nothing
        figures = Percentiles(int(size), *(_float(value) for value in values))
        if bucket is None:
            whole = figures
        else:
            points.append(Point(int(bucket), figures))
    return whole, sorted(points, key=lambda point: point.bucket)


def _nearest_rank(samples: Any, *, partitioned: bool) -> Any:
    """The same with window functions (SQLite has no percentile function): the smallest
    value whose rank is at least q * n."""
    partition = samples.c.bucket if partitioned else None
    ranked = select(
        samples.c.bucket,
        samples.c.elapsed,
        func.row_number()
        .over(partition_by=partition, order_by=samples.c.elapsed)
        .label("position"),
        func.count().over(partition_by=partition).label("size"),
    ).subquery()
    quantiles = [
        func.min(case((ranked.c.position >= ranked.c.size * quantile, ranked.c.elapsed)))
        for quantile in QUANTILES
    ]
    if not partitioned:  # one row; its size is NULL when nothing went live
        return select(literal_column("0"), func.max(ranked.c.size), *quantiles)
    return (
        select(ranked.c.bucket, func.max(ranked.c.size), *quantiles)
        .group_by(ranked.c.bucket)
        .order_by(ranked.c.bucket)
    )


def _rows(rows: Any) -> list[tuple[int, Percentiles]]:
    return [
        (int(number), Percentiles(int(size), *(_float(value) for value in values)))
        for number, size, *values in rows
        if size is not None
    ]


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def throughput(session: Session, now: datetime) -> list[Flow]:
    recent = now - timedelta(minutes=15)
    rows = session.execute(
        select(
            Event.kind,
            Event.status,
            func.sum(case((Event.accepted_at >= _moment(recent), 1), else_=0)),
            func.count(),
        )
        .where(Event.accepted_at >= _moment(now - timedelta(hours=24)))
        .group_by(Event.kind, Event.status)
        .order_by(Event.kind, Event.status)
    )
    return [
        Flow(str(kind), str(status), int(last or 0), int(day)) for kind, status, last, day in rows
    ]


def per_minute(session: Session, since: datetime) -> list[tuple[int, str, int]]:
    """(minute from `since`, status, events accepted) for a small bar chart."""
    # Grouped outside a subquery: PostgreSQL would see two different parameters in a GROUP BY
    # of the bucket expression itself.
    events = (
        select(_bucket(session, since, 60).label("minute"), Event.status.label("status"))
        .where(Event.accepted_at >= _moment(since))
        .subquery()
    )
    rows = session.execute(
        select(events.c.minute, events.c.status, func.count()).group_by(
            events.c.minute, events.c.status
        )
    )
    return [(int(number), str(status), int(count)) for number, status, count in rows]


def status_totals(session: Session) -> dict[str, int]:
    rows = session.execute(select(Event.status, func.count()).group_by(Event.status))
    return {str(status): int(count) for status, count in rows}


def _with_articles(session: Session, query: Any) -> list[EventSummary]:
    joined = query.add_columns(Article.slug, Article.title).outerjoin(
        Article, Article.id == Event.article_id
    )
    return [summarize(event, slug, title) for event, slug, title in session.execute(joined)]


def recent_events(session: Session, limit: int) -> list[EventSummary]:
    return _with_articles(session, select(Event).order_by(Event.id.desc()).limit(limit))


def failed_events(session: Session, limit: int) -> tuple[list[EventSummary], int]:
    failed = Event.status == EventStatus.FAILED
    query = select(Event).where(failed).order_by(Event.accepted_at.desc()).limit(limit)
    count = session.scalar(select(func.count()).select_from(Event).where(failed))
    return _with_articles(session, query), int(count or 0)


def failed_schedules(session: Session, limit: int) -> tuple[list[FailedSchedule], int]:
    """Schedules that gave up, newest first (a handful at most: the table holds only what is
    pending, and a failed row stays until cancelled or moved)."""
    failed = Schedule.failed_at.is_not(None)
    rows = session.execute(
        select(Schedule, Article.slug, Article.title)
        .join(Article, Article.id == Schedule.article_id)
        .where(failed)
        .order_by(Schedule.failed_at.desc(), Schedule.id.desc())
        .limit(limit)
    )
    found = [
        FailedSchedule(
            row.article_id,
            slug,
            title,
            str(row.action),
            row.due_at,
            row.attempts,
            row.last_error,
            row.failed_at or row.due_at,
        )
        for row, slug, title in rows
    ]
    count = session.scalar(select(func.count()).select_from(Schedule).where(failed))
    return found, int(count or 0)


def _in_stage_since() -> Any:
    return case(
        (Event.status == EventStatus.DISPATCHED, Event.dispatched_at),
        (Event.status == EventStatus.STARTED, Event.started_at),
        (Event.status == EventStatus.RENDERED, Event.rendered_at),
        else_=Event.accepted_at,
    )


def stuck_events(
    session: Session, now: datetime, threshold: timedelta, limit: int
) -> tuple[list[EventSummary], int]:
    """Unfinished events that entered their stage more than `threshold` ago. A stage is
    entered after acceptance, so the indexed `accepted_at` bound comes first."""
    cutoff = _moment(now - threshold)
    entered = _in_stage_since()
    stuck = and_(
        Event.status.in_(UNFINISHED),
        Event.accepted_at < cutoff,
        or_(entered.is_(None), entered < cutoff),
    )
    query = select(Event).where(stuck).order_by(Event.accepted_at).limit(limit)
    count = session.scalar(select(func.count()).select_from(Event).where(stuck))
    return _with_articles(session, query), int(count or 0)


def oldest_undispatched(session: Session) -> EventSummary | None:
    query = (
        select(Event)
        .where(Event.status == EventStatus.ACCEPTED)
        .order_by(Event.accepted_at)
        .limit(1)
    )
    found = _with_articles(session, query)
    return found[0] if found else None


def last_reconcile(session: Session) -> EventSummary | None:
    query = select(Event).where(Event.kind == EventKind.RECONCILE).order_by(Event.id.desc())
    found = _with_articles(session, query.limit(1))
    return found[0] if found else None


def event(session: Session, event_id: int) -> EventSummary | None:
    found = _with_articles(session, select(Event).where(Event.id == event_id))
    return found[0] if found else None


def article_events(session: Session, article_id: int, limit: int) -> tuple[list[Event], int]:
    """An article's newest events (ORM rows: the history compares their snapshots)."""
    of_article = Event.article_id == article_id
    rows = session.scalars(select(Event).where(of_article).order_by(Event.id.desc()).limit(limit))
    count = session.scalar(select(func.count()).select_from(Event).where(of_article))
    return list(rows), int(count or 0)
