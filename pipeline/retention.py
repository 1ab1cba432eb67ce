"""Retention: the events table must not grow without end, but never loses what is needed.

Kept whatever their age: unfinished and failed events (ops must see them), the newest event
of every article (its current state on the dashboard), events that produced an output still
in the manifest (provenance of what is live), and the newest reconcile run.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, select

from pipeline.db import transaction
from pipeline.models import UNFINISHED, Event, EventKind, EventStatus, Output, utcnow
from pipeline.services import Services


def prune_events(services: Services, older_than_days: int) -> int:
    """Delete old finished events; returns how many went."""
    cutoff = utcnow() - timedelta(days=older_than_days)
    with transaction(services.sessions) as session:
        newest_per_article = select(func.max(Event.id)).group_by(Event.article_id)
        # (No aggregate here: max() over no rows is NULL, and NOT IN (NULL) keeps everything.)
        newest_reconcile = (
            select(Event.id)
            .where(Event.kind == EventKind.RECONCILE)
            .order_by(Event.id.desc())
            .limit(1)
        )
        still_live = select(Output.event_id).where(Output.event_id.is_not(None)).distinct()
        statement = delete(Event).where(
            Event.accepted_at < cutoff,
            Event.status.not_in([*UNFINISHED, EventStatus.FAILED]),
            Event.id.not_in(newest_per_article),
            Event.id.not_in(newest_reconcile),
            Event.id.not_in(still_live),
        )
        return int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]
