"""`Idempotency-Key` on POST and PUT: the first answer is stored in the same transaction as
the change it reports, so a retry finds either no change and no answer (it runs again) or
both (it gets the stored answer back, and no second event). The same key with another
request (method, path, query or body) is a 409."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import Response
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pipeline.api.models import IdempotencyRecord
from pipeline.api.problems import ApiProblem

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True)
class RequestFacts:
    """What makes two requests the same request."""

    method: str
    target: str  # path and query
    body: bytes

    def fingerprint(self) -> str:
        digest = hashlib.sha256(f"{self.method} {self.target}\n".encode())
        digest.update(self.body)
        return digest.hexdigest()


@dataclass(frozen=True)
class StoredAnswer:
    status_code: int
    body: bytes
    headers: dict[str, str]

    def replay(self) -> Response:
        headers = {**self.headers, REPLAYED_HEADER: "true"}
        return Response(self.body, self.status_code, headers, media_type="application/json")


def stored_answer(
    session: Session, token_id: int, key: str, request: RequestFacts, now: datetime
) -> StoredAnswer | None:
    """The answer given to this key before, if any; a 409 if it answered another request."""
    session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.token_id == token_id,
            IdempotencyRecord.key == key,
            IdempotencyRecord.expires_at < now,
        )
    )
    record = session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.token_id == token_id, IdempotencyRecord.key == key
        )
    )
    if record is None:
        return None
    if record.fingerprint != request.fingerprint():
        raise ApiProblem(
            "idempotency-key-reused",
            f"the {HEADER} {key!r} was used for a different request "
            f"({request.method} with another path or body); use a new key",
        )
    headers = {name: str(value) for name, value in record.headers.items()}
    return StoredAnswer(record.status_code, record.body.encode("utf-8"), headers)


def remember(
    session: Session,
    token_id: int,
    key: str,
    request: RequestFacts,
    answer: StoredAnswer,
    *,
    now: datetime,
    ttl_seconds: int,
) -> None:
    """Store the answer with the change (a concurrent twin then fails on the unique key)."""
    session.add(
        IdempotencyRecord(
            token_id=token_id,
            key=key,
            fingerprint=request.fingerprint(),
            status_code=answer.status_code,
            body=answer.body.decode("utf-8"),
            headers=dict(answer.headers),
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
        )
    )
    session.flush()
