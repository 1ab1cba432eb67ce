"""Tables of the editorial API: tokens, idempotency records, seen
webhook signatures and the dashboard's sign-in sessions."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import (
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.schema import Base, intpk, maybe_when, utcnow, when


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
