"""Publishing's tables: the manifest (outputs and the data keys
they show), list refreshes, rebuild chunks, pending CDN purges, the content version."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.schema import Base, intpk, maybe_when, utcnow, when


class RefreshState(enum.StrEnum):
    IDLE = "idle"
    QUEUED = "queued"  # one refresh message is on its way
    RUNNING = "running"


class ListRefresh(Base):
    """Coalesces refreshes of one list (home, a section, a tag, the sitemaps) across processes:
    at most one refresh runs and at most one more is queued, whatever the burst of publishes."""

    __tablename__ = "list_refreshes"
    list_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[RefreshState] = mapped_column(String(20), default=RefreshState.IDLE)
    # Set when the list changes again while a refresh runs: one more is queued when it ends.
    rerun: Mapped[bool] = mapped_column(default=False)
    specs: Mapped[list[Any]] = mapped_column(JSON, default=list)
    waiting_events: Mapped[list[Any]] = mapped_column(JSON, default=list)
    updated_at: Mapped[when] = mapped_column(default=utcnow)
    refreshes: Mapped[int] = mapped_column(Integer, default=0)
    # Failed refreshes in a row: after `max_attempts` the waiting events fail (with the error,
    # for `pressrun events retry`) instead of waiting for ever.
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class RebuildChunk(Base):
    """One share of a fleet-wide rebuild. Phases run in order (index, weigh, rails, render);
    chunks within a phase run on any worker, and a crashed rebuild resumes from the chunks not
    done. States: pending, running, done, or failed (it gave up, and failed its rebuild)."""

    __tablename__ = "rebuild_chunks"
    id: Mapped[intpk]
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    phase: Mapped[str] = mapped_column(String(20))
    number: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    payload: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # What the chunk found (the articles its index phase counted anew; what it wrote).
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # Starts, as an event's: after `max_attempts` that never finished, the chunk gives up.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[when] = mapped_column(default=utcnow)
    # When the relay last sent it again: it waits a stuck period before the next re-send.
    relayed_at: Mapped[maybe_when]


class ContentVersion(Base):
    """One row counting the commits that changed what pages are rendered from (see
    pipeline/publish/content_version.py): a build re-renders what it wrote only when it moved."""

    __tablename__ = "content_version"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)


class Output(Base):
    """The manifest: what each storage key holds and what it was built from."""

    __tablename__ = "outputs"
    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    # The output's spec, so a change can re-plan it from its data keys alone.
    subject: Mapped[str] = mapped_column(String(400), default="")
    page: Mapped[int] = mapped_column(Integer, default=0)
    content_hash: Mapped[str] = mapped_column(String(64))
    article_versions: Mapped[dict[str, int]] = mapped_column(default=dict)
    event_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[when] = mapped_column(default=utcnow)
    # Set by a build whose upload failed (pipeline/publish/build.py, `mark_unsettled`): its
    # bytes may have landed without their re-check, so `content_hash` says nothing about
    # what storage holds. The content version of the failure orders it against renders.
    unsettled_version: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class PendingPurge(Base):
    """A CDN path to purge (pipeline/publish/purges.py): written in the manifest's transaction,
    deleted once the CDN took the purge, retried with backoff until then."""

    __tablename__ = "pending_purges"
    path: Mapped[str] = mapped_column(String(400), primary_key=True)
    # Bumped by every request: a purge that succeeds deletes the row only if nobody asked
    # again while it ran (that later write needs a purge of its own).
    requests: Mapped[int] = mapped_column(Integer, default=1)
    # The first request not yet purged: how stale the CDN may be at worst.
    requested_at: Mapped[when] = mapped_column(default=utcnow)
    # Not retried before this (the requester purges first; then backoff after failures).
    next_attempt_at: Mapped[when] = mapped_column(default=utcnow, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class OutputDependency(Base):
    """Surrogate keys: output `output_key` shows data `data_key` (such as `article:42`)."""

    __tablename__ = "output_dependencies"
    output_key: Mapped[str] = mapped_column(
        ForeignKey("outputs.key", ondelete="CASCADE"), primary_key=True
    )
    data_key: Mapped[str] = mapped_column(String(200), primary_key=True, index=True)
