"""/v1/events: where a change stands (accepted → dispatched → started → rendered → live, or
failed), with its stage timings; `?wait=` long-polls until it is live or failed."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.api.auth import Caller, ReadCaller
from pipeline.api.context import ApiContext, Context
from pipeline.api.presenters import event_view, event_views
from pipeline.api.problems import ApiProblem, problem_responses
from pipeline.api.schemas import EventPage, EventView
from pipeline.content.models import Article, Section
from pipeline.db import transaction
from pipeline.events.models import Event, EventStatus
from pipeline.schema import MAX_ID

router = APIRouter(prefix="/v1/events", tags=["events"])
MAX_WAIT_SECONDS = 30
# Polling the database while a request waits and no notification can wake it (SQLite, or the
# listening connection is down): quick at first (most publishes are live in well under a
# second), then gentler. SQLite cannot tell another process that a row changed, and the
# embedded default's changes may come from the CLI in another process: so it polls.
FIRST_POLL, LAST_POLL = 0.05, 0.5
DONE = (EventStatus.LIVE, EventStatus.FAILED)


@router.get("", responses=problem_responses(401, 403, 422, 429, 500, 503))
def list_events(
    caller: ReadCaller,
    context: Context,
    status: EventStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 15,
) -> EventPage:
    """The latest events, newest first (a restricted token sees its sections' only)."""
    query = select(Event).order_by(Event.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Event.status == status)
    if caller.sections is not None:
        query = (
            query.join(Article, Article.id == Event.article_id)
            .join(Section)
            .where(Section.slug.in_(caller.sections))
        )
    with transaction(context.services.sessions) as session:
        return EventPage(items=event_views(session, list(session.scalars(query))))


@router.get("/{event_id}", responses=problem_responses(401, 403, 404, 422, 429, 500, 503))
async def get_event(
    event_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    caller: ReadCaller,
    context: Context,
    request: Request,
    wait: Annotated[
        float,
        Query(
            ge=0,
            le=MAX_WAIT_SECONDS,
            description="Wait up to this many seconds for the event to be live or failed.",
        ),
    ] = 0,
) -> EventView:
    """One event and its stage timings. With `wait`, answers as soon as it is live or failed,
    or when the wait is over (whatever its status then)."""
    deadline = time.monotonic() + wait
    moves = context.moves
    safety_poll = context.api_settings.wait_poll_seconds
    pause = FIRST_POLL
    # Watching before the first read: a move committed between that read and the wait
    # still wakes it. Only the moves that end the wait wake it (not each stage on the way).
    with moves.watch(event_id, DONE) as moved:
        while True:
            moved.clear()  # before the read: a move committed during it sets it again
            view = await run_in_threadpool(_read, context, caller, event_id)
            left = deadline - time.monotonic()
            if view.done or left <= 0 or await request.is_disconnected():
                return view
            if moves.listening:
                # Woken by the move itself; this poll is only for a lost notification.
                timeout = min(safety_poll, left)
            else:
                timeout = min(pause, left)
                pause = min(pause * 1.5, LAST_POLL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(moved.wait(), timeout)


def _read(context: ApiContext, caller: Caller, event_id: int) -> EventView:
    # One statement for the event and its article's slug: a woken waiter answers after this
    # read, so each round trip saved is time to the answer.
    query = (
        select(Event, Article.slug)
        .outerjoin(Article, Article.id == Event.article_id)
        .where(Event.id == event_id)
    )
    with transaction(context.services.sessions) as session:
        found = session.execute(query).first()
        if found is None or not _sees(session, caller, found[0]):
            # One this token may not see is not found either, so it cannot tell them apart.
            raise ApiProblem("not-found", f"no event with id {event_id}")
        event, slug = found
        return event_view(event, slug)


def _sees(session: Session, caller: Caller, event: Event) -> bool:
    if caller.sections is None:
        return True
    article = session.get(Article, event.article_id) if event.article_id else None
    return article is not None and caller.sees(article.section.slug)
