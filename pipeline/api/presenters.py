"""Rows as the API shows them. Lists look up schedules and last events for a whole page at
once, never one query per article."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.api.schemas import (
    ArticleView,
    EventLink,
    EventView,
    Image,
    OutputCounts,
    ScheduleView,
    Stages,
    Timings,
)
from pipeline.content.models import Article, Schedule, UndatedDraft
from pipeline.events.models import Event, EventStatus
from pipeline.render.renderer import key_of
from pipeline.site.outputs import url_path

STAGES = ("dispatched", "started", "page_live", "rendered", "live")


def article_views(
    session: Session, articles: Sequence[Article], site_url: str
) -> list[ArticleView]:
    ids = [article.id for article in articles]
    undated = set(
        session.scalars(select(UndatedDraft.article_id).where(UndatedDraft.article_id.in_(ids)))
    )
    schedules: dict[int, list[ScheduleView]] = defaultdict(list)
    for row in session.scalars(
        select(Schedule).where(Schedule.article_id.in_(ids)).order_by(Schedule.due_at)
    ):
        schedules[row.article_id].append(schedule_view(row))
    newest = select(func.max(Event.id)).where(Event.article_id.in_(ids)).group_by(Event.article_id)
    last = {
        event.article_id: event_link(event)
        for event in session.scalars(select(Event).where(Event.id.in_(newest)))
    }
    return [
        _article_view(
            article,
            site_url.rstrip("/"),
            article.id in undated,
            schedules[article.id],
            last.get(article.id),
        )
        for article in articles
    ]


def schedule_view(row: Schedule) -> ScheduleView:
    return ScheduleView(
        action=row.action,
        due_at=row.due_at,
        attempts=row.attempts,
        error=row.last_error,
        failed_at=row.failed_at,
    )


def article_view(session: Session, article: Article, site_url: str) -> ArticleView:
    return article_views(session, [article], site_url)[0]


def _article_view(
    article: Article,
    site_url: str,
    undated: bool,
    schedules: list[ScheduleView],
    last_event: EventLink | None,
) -> ArticleView:
    key = None if undated else key_of(article)
    return ArticleView(
        slug=article.slug,
        title=article.title,
        standfirst=article.standfirst,
        body_html=article.body_html,
        section=article.section.slug,
        tags=[tag.slug for tag in article.tags],
        authors=list(article.authors),
        image=Image(url=article.image_url, alt=article.image_alt or "")
        if article.image_url
        else None,
        status=article.status,
        version=article.version,
        published_at=None if undated else article.published_at,
        updated_at=article.updated_at,
        url=site_url + url_path(key) if key and article.is_live else None,
        key=key,
        schedules=schedules,
        last_event=last_event,
    )


def event_link(event: Event) -> EventLink:
    return EventLink(
        id=event.id, kind=event.kind, status=event.status, url=f"/v1/events/{event.id}"
    )


def event_view(event: Event, slug: str | None) -> EventView:
    moments: dict[str, datetime | None] = {stage: getattr(event, f"{stage}_at") for stage in STAGES}
    outputs = event.outputs or None
    return EventView(
        id=event.id,
        kind=event.kind,
        status=event.status,
        done=event.status in (EventStatus.LIVE, EventStatus.FAILED),
        article=slug,
        article_version=event.article_version,
        actor=event.actor,
        attempts=event.attempts,
        error=event.error,
        stages=Stages(accepted=event.accepted_at, **moments),
        timings_ms=Timings(
            **{stage: _milliseconds(event.accepted_at, moment) for stage, moment in moments.items()}
        ),
        outputs=OutputCounts(
            written=len(outputs.get("written", [])),
            deleted=len(outputs.get("deleted", [])),
            unchanged=int(outputs.get("unchanged", 0)),
        )
        if outputs
        else None,
        pending_lists=list(event.pending_lists or []),
    )


def _milliseconds(start: datetime, moment: datetime | None) -> float | None:
    if moment is None:
        return None
    return round((moment - start).total_seconds() * 1000, 1)


def event_views(session: Session, events: Sequence[Event]) -> list[EventView]:
    ids = {event.article_id for event in events if event.article_id is not None}
    # .all(): a Result has .keys(), so dict() would take it for a mapping.
    rows = session.execute(select(Article.id, Article.slug).where(Article.id.in_(ids))).all()
    slugs: dict[int, str] = dict(rows)
    return [
        event_view(event, slugs.get(event.article_id) if event.article_id else None)
        for event in events
    ]
