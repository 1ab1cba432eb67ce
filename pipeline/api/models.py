"""Tables of the editorial API, on the domain's `Base` (migration 0002): tokens, idempotency
records, schedules (their failed tries: 0020), drafts without a date, previews and seen
webhook signatures; and the dashboard's sign-in sessions (0018)."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.models import Base, intpk, maybe_when, utcnow, when


class Scope(enum.StrEnum):
    """What a token may do; each scope includes the ones before it."""

    READ = "read"
    PUBLISH = "publish"
    ADMIN = "admin"

    def includes(self, other: Scope) -> bool:
        order = list(Scope)
        return order.index(self) >= order.index(other)


class ApiToken(Base):
    """A bearer token. Only the sha256 of its secret is kept: a leaked table grants nothing."""

    __tablename__ = "api_tokens"
    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(200))
    scope: Mapped[Scope] = mapped_column(String(20))
    # None: every section. A list: only articles in these sections.
    sections: Mapped[list[str] | None] = mapped_column(nullable=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the token, so people can tell their tokens apart in a list.
    hint: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[when] = mapped_column(default=utcnow)
    revoked_at: Mapped[maybe_when]

    def allows_section(self, section: str) -> bool:
        return self.sections is None or section in self.sections


class IdempotencyRecord(Base):
    """The stored answer to a write made with an `Idempotency-Key`, written in the same
    transaction as the write itself: a retry finds either nothing (the write never happened)
    or this answer, never a second event."""

    __tablename__ = "idempotency_records"
    id: Mapped[intpk]
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    # sha256 of method, path and body: the same key with another request is a conflict.
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[when] = mapped_column(default=utcnow)
    expires_at: Mapped[when] = mapped_column(index=True)

    __table_args__ = (UniqueConstraint("token_id", "key"),)


def _due_at(context: Any) -> Any:
    return context.get_current_parameters()["due_at"]


class ScheduleAction(enum.StrEnum):
    PUBLISH = "publish"
    UNPUBLISH = "unpublish"


class Schedule(Base):
    """A publish (embargo) or unpublish (expiry) waiting for its time. The beat job carries
    it out when due; nothing waits in the broker."""

    __tablename__ = "schedules"
    id: Mapped[intpk]
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    action: Mapped[ScheduleAction] = mapped_column(String(20))
    due_at: Mapped[when] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[when] = mapped_column(default=utcnow)
    # A pending publish shows the article as "scheduled"; cancelling it restores this status.
    restore_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    # Failed tries (migration 0020): the job tries again at `next_attempt_at` (the due time
    # at first, later and later after each failure) and gives up at `failed_at`.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[when] = mapped_column(index=True, default=_due_at)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    failed_at: Mapped[maybe_when]

    __table_args__ = (UniqueConstraint("article_id", "action"),)


class UndatedDraft(Base):
    """A draft saved without `published_at`: it takes the moment it first goes live, not the
    moment it was first saved."""

    __tablename__ = "undated_drafts"
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )


class Preview(Base):
    """A rendered draft in storage outside the site (never in the manifest, so no list, feed
    or sitemap can show it); deleted once it expires."""

    __tablename__ = "previews"
    id: Mapped[intpk]
    storage_key: Mapped[str] = mapped_column(String(400), unique=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    created_at: Mapped[when] = mapped_column(default=utcnow)
    expires_at: Mapped[when] = mapped_column(index=True)


class WebhookDelivery(Base):
    """A webhook signature already accepted: the same signature again is a replay. Kept only
    as long as its timestamp could still pass the freshness window."""

    __tablename__ = "webhook_deliveries"
    signature: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[when] = mapped_column(default=utcnow)
    expires_at: Mapped[when] = mapped_column(index=True)


class OpsSession(Base):
    """A browser signed in to the dashboard. Its cookie carries only a random id; the id's
    sha256 is kept here (a leaked table signs nobody in), with the token that signed in.
    Deleted at sign-out and when its token is revoked, and no longer honoured once expired."""

    __tablename__ = "ops_sessions"
    id: Mapped[intpk]
    cookie_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_id: Mapped[int] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[when] = mapped_column(default=utcnow)
    expires_at: Mapped[when] = mapped_column(index=True)
