"""View models: what the templates show, built from rows while their session is open, so a
template never touches the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.events.models import UNFINISHED, Event, EventStatus
from pipeline.publish.build import SyncReport

STAGES = ("accepted", "dispatched", "started", "rendered", "live")
# Keys listed per event in tables; the event page lists them all.
KEYS_SHOWN = 8


@dataclass(frozen=True)
class FailedSchedule:
    """A scheduled publish or unpublish that gave up after its failed tries."""

    article_id: int
    slug: str
    title: str
    action: str
    due_at: datetime
    attempts: int
    error: str | None
    failed_at: datetime


@dataclass(frozen=True)
class EventSummary:
    id: int
    kind: str
    status: str
    article_id: int | None
    slug: str | None
    title: str | None
    version: int
    actor: str
    attempts: int
    error: str | None
    accepted_at: datetime
    # When each stage was reached (None: not yet).
    moments: dict[str, datetime | None]
    # Seconds after `accepted` each later stage was reached (None: not reached).
    timings: dict[str, float | None]
    stage_since: datetime
    written: list[str]
    deleted: list[str]
    written_total: int
    deleted_total: int
    unchanged: int
    pending_lists: list[str]
    outputs: dict[str, Any] | None
    previous: dict[str, Any] | None
    options: dict[str, Any] | None

    @property
    def unfinished(self) -> bool:
        return self.status in UNFINISHED

    @property
    def retryable(self) -> bool:
        """What `pressrun events retry` accepts: anything not live (failed or stuck)."""
        return self.status != EventStatus.LIVE

    @property
    def to_live(self) -> float | None:
        return self.timings["live"]

    @property
    def keys_shown(self) -> list[str]:
        return self.written[:KEYS_SHOWN]

    @property
    def reconcile(self) -> dict[str, Any] | None:
        return self.outputs if self.kind == "reconcile" else None


def summarize(event: Event, slug: str | None = None, title: str | None = None) -> EventSummary:
    moments = {stage: getattr(event, f"{stage}_at") for stage in STAGES}
    timings = {
        stage: (moment - event.accepted_at).total_seconds() if moment is not None else None
        for stage, moment in moments.items()
        if stage != "accepted"
    }
    report = SyncReport.from_json(event.outputs if event.kind != "reconcile" else None)
    return EventSummary(
        id=event.id,
        kind=str(event.kind),
        status=str(event.status),
        article_id=event.article_id,
        slug=slug,
        title=title,
        version=event.article_version,
        actor=event.actor,
        attempts=event.attempts,
        error=event.error,
        accepted_at=event.accepted_at,
        moments=moments,
        timings=timings,
        stage_since=stage_entered(event),
        written=report.written,
        deleted=report.deleted,
        written_total=report.written_total,
        deleted_total=report.deleted_total,
        unchanged=report.unchanged,
        pending_lists=list(event.pending_lists or []),
        outputs=event.outputs,
        previous=event.previous,
        options=event.options,
    )


def stage_entered(event: Event) -> datetime:
    """When the event entered the stage it is in now."""
    if event.status in (EventStatus.ACCEPTED, EventStatus.FAILED):
        moment = None
    else:
        moment = getattr(event, f"{event.status}_at")
    return moment or event.accepted_at


@dataclass(frozen=True)
class Percentiles:
    count: int = 0
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None


@dataclass(frozen=True)
class Flow:
    """Events of one kind and status accepted in the last 15 minutes and 24 hours."""

    kind: str
    status: str
    last_15m: int
    last_24h: int


# Where events stand, as the throughput table groups them.
FLOW_GROUPS = ("live", "failed", "pending")


@dataclass(frozen=True)
class KindFlow:
    """One kind's events per group: (accepted in the last 15 minutes, in the last 24 h)."""

    kind: str
    counts: dict[str, tuple[int, int]]

    def per_minute(self, group: str) -> float:
        return self.counts[group][0] / 15

    def day(self, group: str) -> int:
        return self.counts[group][1]


def _group(status: str) -> str:
    return status if status in (EventStatus.LIVE, EventStatus.FAILED) else "pending"


def by_kind(flows: list[Flow]) -> list[KindFlow]:
    counts: dict[str, dict[str, tuple[int, int]]] = {}
    for flow in flows:
        groups = counts.setdefault(flow.kind, dict.fromkeys(FLOW_GROUPS, (0, 0)))
        recent, day = groups[_group(flow.status)]
        groups[_group(flow.status)] = (recent + flow.last_15m, day + flow.last_24h)
    return [KindFlow(kind, groups) for kind, groups in sorted(counts.items())]


@dataclass(frozen=True)
class FieldChange:
    """One field an event changed: before → after (None: the article did not exist / show)."""

    name: str
    before: str
    after: str


@dataclass(frozen=True)
class HistoryEntry:
    event: EventSummary
    changes: list[FieldChange] = field(default_factory=list)
    created: bool = False
