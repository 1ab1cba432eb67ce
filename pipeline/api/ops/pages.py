"""What each page shows, read in one transaction (one consistent snapshot) per request."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from pipeline.api.ops import queries
from pipeline.api.ops.broker import BrokerSnapshot, BrokerWatch
from pipeline.api.ops.charts import Chart, latency_chart, throughput_chart
from pipeline.api.ops.formatting import NONE, timestamp
from pipeline.api.ops.settings import OpsSettings
from pipeline.api.ops.view_models import (
    EventSummary,
    FailedSchedule,
    FieldChange,
    HistoryEntry,
    KindFlow,
    Percentiles,
    by_kind,
    summarize,
)
from pipeline.config import Settings
from pipeline.content.articles import snapshot
from pipeline.content.models import Article
from pipeline.db import SessionFactory, transaction
from pipeline.events.models import Event
from pipeline.publish import purges
from pipeline.site.outputs import url_path

RECENT, FAILED, STUCK, HISTORY = 20, 10, 10, 100
# What an article's history compares between one change and the next.
TRACKED = ("status", "title", "slug", "section", "tags", "published_at", "key")
# ...and how they are called there.
TRACKED_NAMES = {"published_at": "date", "key": "URL"}


@dataclass(frozen=True)
class LatencyWindow:
    label: str
    figures: Percentiles
    chart: Chart


@dataclass(frozen=True)
class Fleet:
    in_process: bool
    broker: str
    snapshot: BrokerSnapshot | None
    age: float | None
    oldest_undispatched: EventSummary | None
    reconcile: EventSummary | None
    # None without a CDN to purge.
    purges: purges.Backlog | None


@dataclass(frozen=True)
class Dashboard:
    now: datetime
    totals: dict[str, int]
    windows: list[LatencyWindow]
    flows: list[KindFlow]
    minutes: Chart
    recent: list[EventSummary]
    failed: list[EventSummary]
    failed_count: int
    stuck: list[EventSummary]
    stuck_count: int
    stuck_after: float
    fleet: Fleet
    failed_schedules: list[FailedSchedule] = field(default_factory=list)
    failed_schedules_count: int = 0


@dataclass(frozen=True)
class ArticleInfo:
    id: int
    slug: str
    title: str
    status: str
    version: int
    section: str
    url: str


@dataclass(frozen=True)
class EventDetailPage:
    now: datetime
    event: EventSummary
    article: ArticleInfo | None
    stuck: bool
    site_url: str


@dataclass(frozen=True)
class ArticleHistoryPage:
    now: datetime
    article: ArticleInfo
    history: list[HistoryEntry] = field(default_factory=list)
    total: int = 0


def _floor(moment: datetime, seconds: int) -> datetime:
    epoch = moment.timestamp()
    return moment - timedelta(seconds=epoch % seconds)


def dashboard(
    sessions: SessionFactory,
    settings: Settings,
    ops: OpsSettings,
    watch: BrokerWatch | None,
    now: datetime,
) -> Dashboard:
    # Charts end with the bucket now is in, so their ticks fall on round times.
    minute_start = _floor(now, 60) - timedelta(minutes=14)
    half_hour_start = _floor(now, 1800) - timedelta(minutes=30 * 47)
    hour_start = _floor(now, 60) - timedelta(minutes=59)
    stuck_after = timedelta(seconds=ops.stuck_seconds)
    with transaction(sessions) as session:
        windows = [
            _window(session, "Last 15 minutes", now - timedelta(minutes=15), minute_start,
                    timedelta(minutes=1), 15, 5),
            _window(session, "Last 24 hours", now - timedelta(hours=24), half_hour_start,
                    timedelta(minutes=30), 48, 12),
        ]  # fmt: skip
        failed, failed_count = queries.failed_events(session, FAILED)
        stuck, stuck_count = queries.stuck_events(session, now, stuck_after, STUCK)
        gave_up, gave_up_count = queries.failed_schedules(session, FAILED)
        fleet = _fleet(session, settings, watch)
        return Dashboard(
            now=now,
            totals=queries.status_totals(session),
            windows=windows,
            flows=by_kind(queries.throughput(session, now)),
            minutes=throughput_chart(
                "Events accepted per minute, last hour",
                queries.per_minute(session, hour_start),
                hour_start,
                60,
                15,
            ),
            recent=queries.recent_events(session, RECENT),
            failed=failed,
            failed_count=failed_count,
            stuck=stuck,
            stuck_count=stuck_count,
            stuck_after=stuck_after.total_seconds(),
            fleet=fleet,
            failed_schedules=gave_up,
            failed_schedules_count=gave_up_count,
        )


def _window(
    session: Any,
    label: str,
    since: datetime,
    start: datetime,
    bucket: timedelta,
    buckets: int,
    every: int,
) -> LatencyWindow:
    """The figures since `since`; the chart's buckets from `start`, a round time (so its
    first bucket is partly outside the window)."""
    figures, points = queries.latency_window(session, since, start, int(bucket.total_seconds()))
    title = f"Publish to live, per {'minute' if bucket.total_seconds() == 60 else 'half hour'}"
    return LatencyWindow(
        label, figures, latency_chart(title, points, start, bucket, buckets, every)
    )


def _fleet(session: Any, settings: Settings, watch: BrokerWatch | None) -> Fleet:
    found = watch.snapshot() if watch is not None else None
    return Fleet(
        in_process=settings.eager,
        broker=settings.masked()["broker_url"],
        snapshot=found,
        age=watch.age(found) if watch is not None and found is not None else None,
        oldest_undispatched=queries.oldest_undispatched(session),
        reconcile=queries.last_reconcile(session),
        purges=(
            purges.backlog(session, with_error=True)
            if settings.cdn_cloudfront_distribution
            else None
        ),
    )


def _article_info(article: Article, site_url: str) -> ArticleInfo:
    current = snapshot(article)
    return ArticleInfo(
        id=article.id,
        slug=article.slug,
        title=article.title,
        status=str(article.status),
        version=article.version,
        section=article.section.slug,
        url=site_url.rstrip("/") + url_path(current["key"]),
    )


def event_page(
    sessions: SessionFactory, settings: Settings, ops: OpsSettings, event_id: int, now: datetime
) -> EventDetailPage | None:
    with transaction(sessions) as session:
        found = queries.event(session, event_id)
        if found is None:
            return None
        article = session.get(Article, found.article_id) if found.article_id else None
        stuck = found.unfinished and (now - found.stage_since).total_seconds() > ops.stuck_seconds
        return EventDetailPage(
            now=now,
            event=found,
            article=_article_info(article, settings.site_url) if article else None,
            stuck=stuck,
            site_url=settings.site_url.rstrip("/"),
        )


def article_page(
    sessions: SessionFactory, settings: Settings, article_id: int, now: datetime
) -> ArticleHistoryPage | None:
    with transaction(sessions) as session:
        article = session.get(Article, article_id)
        if article is None:
            return None
        events, total = queries.article_events(session, article_id, HISTORY)
        return ArticleHistoryPage(
            now=now,
            article=_article_info(article, settings.site_url),
            history=history(events, snapshot(article)),
            total=total,
        )


def find_article(sessions: SessionFactory, slug: str) -> int | None:
    with transaction(sessions) as session:
        found: int | None = session.scalar(select(Article.id).where(Article.slug == slug))
        return found


def history(events: list[Event], current: dict[str, Any]) -> list[HistoryEntry]:
    """Newest first, each event with the fields it changed: its `previous` snapshot (where
    the article stood before) against the next change's (or the article now, for the
    newest). A failed event changed the record but perhaps not the site: its status says so."""
    entries = []
    after = current
    for event in events:  # newest first
        before = event.previous
        if event.kind in ("publish", "update", "unpublish"):
            entries.append(
                HistoryEntry(summarize(event), _changes(before, after), created=before is None)
            )
            after = before if before is not None else after
        else:
            entries.append(HistoryEntry(summarize(event)))
    return entries


def _changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[FieldChange]:
    return [
        FieldChange(
            TRACKED_NAMES.get(name, name),
            _shown(name, (before or {}).get(name)),
            _shown(name, after.get(name)),
        )
        for name in TRACKED
        if before is None or before.get(name) != after.get(name)
    ]


def _shown(name: str, value: Any) -> str:
    if value is None:
        return NONE
    if name == "published_at":
        return timestamp(datetime.fromisoformat(str(value)))
    if name == "key":
        return url_path(str(value))
    if name == "tags":
        return ", ".join(value) or NONE
    return str(value)
