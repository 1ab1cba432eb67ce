"""The shape of every write: one transaction for the change, its outbox event and (with an
`Idempotency-Key`) its stored answer; the answer goes out once that commits, and the events
the transaction wrote are dispatched right after it (the sessions hold them back for that).

202 means "committed": the outbox row is the promise. Handing the event to the broker after
the answer keeps the broker's latency (and, when it is down, its connect timeout) out of
the editor's request; if this process dies in between, the relay sends the event instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from fastapi import Response
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask

from pipeline.api import idempotency
from pipeline.api.context import ApiContext
from pipeline.api.idempotency import RequestFacts, StoredAnswer
from pipeline.api.presenters import article_view, event_link
from pipeline.api.problems import ApiProblem
from pipeline.api.schemas import ScheduleView, WriteResult
from pipeline.content.models import Article
from pipeline.db import transaction
from pipeline.events import outbox
from pipeline.events.models import Event
from pipeline.transient import is_unique_violation


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: BaseModel
    headers: dict[str, str] = field(default_factory=dict)

    def stored(self) -> StoredAnswer:
        body = self.body.model_dump_json().encode("utf-8")
        return StoredAnswer(self.status_code, body, self.headers)


@dataclass(frozen=True)
class Keyed:
    """A write made with an `Idempotency-Key` (keys are per token)."""

    token_id: int
    key: str
    request: RequestFacts

    def earlier(self, session: Session, now: datetime) -> StoredAnswer | None:
        return idempotency.stored_answer(session, self.token_id, self.key, self.request, now)


Write = Callable[[Session, datetime], Answer]


def perform(context: ApiContext, write: Write, keyed: Keyed | None = None) -> Response:
    """Run `write` in one transaction and answer."""
    now = context.clock()
    try:
        with outbox.writing(context.services.sessions, later=True) as written:
            session = written.session
            earlier = keyed.earlier(session, now) if keyed else None
            if earlier is not None:
                return earlier.replay()
            answer = write(session, now)
            stored = answer.stored()
            if keyed is not None:
                idempotency.remember(
                    session, keyed.token_id, keyed.key, keyed.request, stored, now=now,
                    ttl_seconds=context.api_settings.idempotency_seconds,
                )  # fmt: skip
    except IntegrityError as error:
        if not is_unique_violation(error):
            raise  # a bug, not a race: answered 500 and logged with its traceback
        return _after_race(context, keyed, now)
    dispatch = BackgroundTask(written.dispatch) if written.pending else None
    return Response(
        stored.body,
        stored.status_code,
        stored.headers,
        media_type="application/json",
        background=dispatch,
    )


def _after_race(context: ApiContext, keyed: Keyed | None, now: datetime) -> Response:
    """A concurrent request committed first: with the same key, answer as it did; else it
    took the same new slug, and this change is refused (nothing of it was written)."""
    if keyed is not None:
        with transaction(context.services.sessions) as session:
            earlier = keyed.earlier(session, now)
        if earlier is not None:
            return earlier.replay()
    raise ApiProblem("conflict", "a concurrent request changed the same article; retry")


def article_answer(
    session: Session,
    site_url: str,
    article: Article,
    status_code: int,
    event_id: int | None = None,
    scheduled: ScheduleView | None = None,
) -> Answer:
    """What a change answers: the article as it now stands and the event that carries the
    change to the site (followed from `Location`), which is dispatched after commit."""
    event = session.get(Event, event_id) if event_id is not None else None
    body = WriteResult(
        article=article_view(session, article, site_url),
        event=event_link(event) if event is not None else None,
        schedule=scheduled,
    )
    location = event_link(event).url if event is not None else f"/v1/articles/{article.slug}"
    return Answer(status_code, body, {"Location": location})
