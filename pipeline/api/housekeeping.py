"""Deleting what has expired: idempotency records, remembered webhook signatures, previews,
dashboard sessions. Run beside the schedules' periodic job: by beat's `pressrun.run_due`
task, or by `pressrun api` itself without a broker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import CursorResult, Delete, delete, select
from sqlalchemy.orm import Session

from pipeline.api.models import IdempotencyRecord, OpsSession, WebhookDelivery
from pipeline.api.previews import open_preview_store
from pipeline.content.models import Preview
from pipeline.db import transaction
from pipeline.services import Services

BATCH = 500


@dataclass(frozen=True)
class Purged:
    idempotency_records: int
    webhook_deliveries: int
    previews: int
    ops_sessions: int


def purge_expired(services: Services, now: datetime) -> Purged:
    with transaction(services.sessions) as session:
        records = _deleted(
            session, delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < now)
        )
        deliveries = _deleted(
            session, delete(WebhookDelivery).where(WebhookDelivery.expires_at < now)
        )
        ops_sessions = _deleted(session, delete(OpsSession).where(OpsSession.expires_at < now))
        expired = list(
            session.execute(
                select(Preview.id, Preview.storage_key)
                .where(Preview.expires_at < now)
                .order_by(Preview.id)
                .limit(BATCH)
            )
        )
    if expired:
        # Objects first: a row whose object is gone is retried harmlessly next time; an
        # object whose row is gone would never be deleted.
        open_preview_store(services.settings, services.storage).delete(key for _, key in expired)
        with transaction(services.sessions) as session:
            session.execute(delete(Preview).where(Preview.id.in_([id_ for id_, _ in expired])))
    return Purged(records, deliveries, len(expired), ops_sessions)


def _deleted(session: Session, statement: Delete) -> int:
    result = session.execute(statement)
    assert isinstance(result, CursorResult)
    return int(result.rowcount or 0)
