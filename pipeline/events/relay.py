"""The outbox relay: events, list refreshes and rebuild chunks that were committed but never
dispatched (the broker was down) or never finished (a worker died) are sent again. Tasks are
idempotent, so a duplicate costs a re-render, never a wrong page. CDN purges that failed are
tried again here too (pipeline/publish/purges.py), and outputs a failed build left unsettled
are built again (pipeline/publish/build.py, `mark_unsettled`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import exists, or_, select, update

from pipeline.db import transaction
from pipeline.events.models import UNFINISHED, Event, EventStatus
from pipeline.events.processing import Dispatcher
from pipeline.publish import purges
from pipeline.publish.build import unsettled_specs
from pipeline.publish.models import ListRefresh, RebuildChunk, RefreshState
from pipeline.publish.rebuild import OVER, stale_chunks
from pipeline.schema import utcnow
from pipeline.services import Services

log = logging.getLogger("pressrun.relay")


@dataclass(frozen=True)
class RelayReport:
    events: list[int]
    lists: list[str]
    failed: list[int]
    chunks: list[int] = field(default_factory=list)
    purged: int = 0
    rewritten: int = 0


def relay(services: Services, dispatcher: Dispatcher) -> RelayReport:
    settings = services.settings
    now = utcnow()
    # A fresh event is its writer's to dispatch; one stuck in a stage this long is not.
    undispatched_before = now - timedelta(seconds=settings.relay_grace_seconds)
    stuck_before = now - timedelta(seconds=settings.relay_stuck_seconds)
    with transaction(services.sessions) as session:
        rows = session.execute(
            select(Event.id, Event.attempts)
            .where(
                Event.status.in_(UNFINISHED),
                or_(
                    (Event.status == EventStatus.ACCEPTED)
                    & (Event.accepted_at < undispatched_before),
                    Event.accepted_at < stuck_before,
                ),
                or_(Event.started_at.is_(None), Event.started_at < stuck_before),
                # Sent again once per stuck period, not every round: an event merely waiting
                # behind a backlog on its queue would otherwise be queued again and again.
                or_(Event.relayed_at.is_(None), Event.relayed_at < stuck_before),
                # A rebuild with chunks to run is in their hands: they are re-sent and
                # counted on their own. Re-sending its event would count a start per stuck
                # period and fail a long rebuild that is progressing.
                ~exists().where(RebuildChunk.event_id == Event.id, RebuildChunk.state.not_in(OVER)),
            )
            .order_by(Event.id)
            .limit(settings.relay_batch)
        ).all()
        failed = [event_id for event_id, attempts in rows if attempts >= settings.max_attempts]
        if failed:
            session.execute(
                update(Event)
                .where(Event.id.in_(failed))
                .values(
                    status=EventStatus.FAILED,
                    error=f"gave up after {settings.max_attempts} attempts",
                )
            )
        lists = list(
            session.scalars(
                select(ListRefresh.list_key).where(
                    ListRefresh.state != RefreshState.IDLE, ListRefresh.updated_at < stuck_before
                )
            )
        )
        session.execute(
            update(ListRefresh)
            .where(ListRefresh.list_key.in_(lists))
            .values(state=RefreshState.QUEUED, updated_at=now)
        )
    resend = _resend(
        services, dispatcher, [event_id for event_id, _ in rows if event_id not in failed]
    )
    for list_key in lists:
        dispatcher.dispatch_lists([list_key])
    stale, stopped = stale_chunks(services, stuck_before)
    chunks = _resend_chunks(services, dispatcher, stale)
    failed += stopped
    purger = services.publisher.purger
    purged = purges.retry_due(purger, services.sessions) if purger is not None else 0
    rewritten = _rewrite_unsettled(services, stuck_before)
    if resend or lists or chunks or failed or purged or rewritten:
        log.info(
            "relay: re-sent %d events, %d lists, %d rebuild chunks; %d failed; %d paths "
            "purged; %d unsettled outputs built",
            len(resend),
            len(lists),
            len(chunks),
            len(failed),
            purged,
            rewritten,
        )
    return RelayReport(resend, lists, failed, chunks, purged, rewritten)


def _rewrite_unsettled(services: Services, stuck_before: datetime) -> int:
    """Build the outputs a failed build left unsettled that nothing built for a stuck period
    (its retry usually does): a write of theirs may have landed after a newer one. Returns
    how many were built."""
    with transaction(services.sessions) as session:
        specs = unsettled_specs(session, stuck_before, services.settings.relay_batch)
    if not specs:
        return 0
    try:
        services.publisher.build(services.sessions, specs)
    except Exception as error:
        # Still marked (the failure marked them again): the next round tries again.
        log.warning("relay could not build %d unsettled outputs: %s", len(specs), error)
        return 0
    return len(specs)


def _resend(services: Services, dispatcher: Dispatcher, event_ids: list[int]) -> list[int]:
    """Send events again and stamp the ones the broker took; returns those."""
    sent = _send_while_the_broker_takes(event_ids, dispatcher.dispatch, "event")
    if sent:
        now = utcnow()
        with transaction(services.sessions) as session:
            session.execute(update(Event).where(Event.id.in_(sent)).values(relayed_at=now))
            session.execute(
                update(Event)
                .where(Event.id.in_(sent), Event.status == EventStatus.ACCEPTED)
                .values(status=EventStatus.DISPATCHED, dispatched_at=now)
            )
    return sent


def _resend_chunks(services: Services, dispatcher: Dispatcher, chunk_ids: list[int]) -> list[int]:
    """Send rebuild chunks again and stamp the ones the broker took; returns those."""
    sent = _send_while_the_broker_takes(chunk_ids, dispatcher.dispatch_chunk, "rebuild chunk")
    if sent:
        with transaction(services.sessions) as session:
            session.execute(
                update(RebuildChunk).where(RebuildChunk.id.in_(sent)).values(relayed_at=utcnow())
            )
    return sent


def _send_while_the_broker_takes(
    ids: list[int], send: Callable[[int], object], what: str
) -> list[int]:
    """Send each id in turn; the first refusal ends the round (the broker is still down: the
    rest wait for the next one). Returns the ids sent."""
    sent: list[int] = []
    for id_ in ids:
        try:
            send(id_)
        except Exception as error:
            log.warning("relay could not dispatch %s %s: %s", what, id_, error)
            break
        sent.append(id_)
    return sent
