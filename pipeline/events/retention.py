"""Retention: the events table must not grow without end, but never loses what is needed.

Kept whatever their age: unfinished and failed events (ops must see them), the newest event
of every article (its current state on the dashboard), events that produced an output still
in the manifest (provenance of what is live), and the newest reconcile run.

Old events go in batches, each its own short transaction: one DELETE of a year of events
would hold its locks and its undo log for the whole run.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from pipeline.db import transaction
from pipeline.events.models import UNFINISHED, Event, EventKind, EventStatus
from pipeline.publish.models import Output
from pipeline.schema import utcnow
from pipeline.services import Services

PRUNE_BATCH = 1000


def prune_events(services: Services, older_than_days: int, *, batch: int = PRUNE_BATCH) -> int:
    """Delete old finished events, `batch` candidates a transaction; returns how many went."""
    cutoff = utcnow() - timedelta(days=older_than_days)
    with transaction(services.sessions) as session:
        kept = _kept_whatever_their_age(session)
    removed, after = 0, 0
    while True:
        with transaction(services.sessions) as session:
            candidates = _old_finished(session, cutoff, after, batch)
            if not candidates:
                return removed
            after = candidates[-1]
            removed += _delete_unneeded(session, [id_ for id_ in candidates if id_ not in kept])


def _kept_whatever_their_age(session: Session) -> set[int]:
    """Events that produced a live output, the newest reconcile run and the newest event of
    no article. Read once: an old finished event never produces an output again, and
    outputs.event_id has no index to look each batch's events up with."""
    live = session.scalars(select(Output.event_id).where(Output.event_id.is_not(None)).distinct())
    newest = [
        session.scalar(select(func.max(Event.id)).where(Event.kind == EventKind.RECONCILE)),
        session.scalar(select(func.max(Event.id)).where(Event.article_id.is_(None))),
    ]
    return {id_ for id_ in (*live, *newest) if id_ is not None}


def _old_finished(session: Session, cutoff: datetime, after: int, batch: int) -> list[int]:
    return list(
        session.scalars(
            select(Event.id)
            .where(
                Event.id > after,
                Event.accepted_at < cutoff,
                Event.status.not_in([*UNFINISHED, EventStatus.FAILED]),
            )
            .order_by(Event.id)
            .limit(batch)
        )
    )


def _delete_unneeded(session: Session, ids: list[int]) -> int:
    """Delete these events but an article's newest one."""
    if not ids:
        return 0
    newer = aliased(Event)
    superseded = exists().where(newer.article_id == Event.article_id, newer.id > Event.id)
    statement = delete(Event).where(Event.id.in_(ids), or_(Event.article_id.is_(None), superseded))
    return int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]
