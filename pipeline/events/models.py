"""The outbox: one event per change, with its stage timings."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.schema import Base, intpk, maybe_when, utcnow, when


class EventKind(enum.StrEnum):
    PUBLISH = "publish"
    UPDATE = "update"
    UNPUBLISH = "unpublish"
    REBUILD = "rebuild"
    RECONCILE = "reconcile"


class EventStatus(enum.StrEnum):
    """Stages an event passes through, in order; `failed` can follow any of them."""

    ACCEPTED = "accepted"
    DISPATCHED = "dispatched"
    STARTED = "started"
    RENDERED = "rendered"
    LIVE = "live"
    FAILED = "failed"


UNFINISHED = (
    EventStatus.ACCEPTED,
    EventStatus.DISPATCHED,
    EventStatus.STARTED,
    EventStatus.RENDERED,
)


class Event(Base):
    """The outbox: written in the same transaction as the change it announces."""

    __tablename__ = "events"
    id: Mapped[intpk]
    kind: Mapped[EventKind] = mapped_column(String(20))
    article_id: Mapped[int | None] = mapped_column(
        ForeignKey("articles.id", ondelete="SET NULL"), nullable=True, index=True
    )
    article_version: Mapped[int] = mapped_column(Integer, default=0)
    actor: Mapped[str] = mapped_column(String(200))
    status: Mapped[EventStatus] = mapped_column(String(20), default=EventStatus.ACCEPTED)
    accepted_at: Mapped[when] = mapped_column(default=utcnow, index=True)
    dispatched_at: Mapped[maybe_when]
    started_at: Mapped[maybe_when]
    # When the article's own page went live (before its other pages and lists).
    page_live_at: Mapped[maybe_when]
    rendered_at: Mapped[maybe_when]
    live_at: Mapped[maybe_when]
    # When the relay last sent it again: it waits a stuck period before the next re-send.
    relayed_at: Mapped[maybe_when]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Where the article stood before this change, so the planner can take it out of old lists.
    previous: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # Options of the change, such as {"every_rail": true} for a rebuild.
    options: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # {"written": [...], "deleted": [...], "unchanged": n}
    outputs: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # Lists whose coalesced refresh must run before the change is live everywhere.
    pending_lists: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)

    __table_args__ = (Index("ix_events_status_accepted", "status", "accepted_at"),)
