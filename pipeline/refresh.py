"""Coalesced list refreshes: a burst of publishes to one section renders its pages a few
times, not once per publish.

Each list group has a row: publishes add the outputs they dirtied and their event id, and
queue one refresh only when none is queued. A refresh takes everything dirty so far, renders
it from the current database, and marks the events it covered live. Changes arriving while it
runs set `rerun`, which queues exactly one more refresh when it ends.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from pipeline.build import SyncReport
from pipeline.db import transaction
from pipeline.models import Event, EventStatus, ListRefresh, RefreshState, utcnow
from pipeline.outputs import Kind, OutputSpec
from pipeline.services import Services
from pipeline.transient import is_transient

FINISHED = (EventStatus.LIVE, EventStatus.FAILED)

log = logging.getLogger("pressrun.refresh")


class ListDispatcher(Protocol):
    def dispatch_list(self, list_key: str) -> None: ...


def encode(specs: Iterable[OutputSpec]) -> list[list[Any]]:
    return [[str(spec.kind), spec.subject, spec.page] for spec in specs]


def decode(rows: Iterable[list[Any]]) -> set[OutputSpec]:
    return {OutputSpec(Kind(kind), subject, int(page)) for kind, subject, page in rows}


def _locked_row(session: Session, list_key: str) -> ListRefresh:
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(ListRefresh)
        .values(list_key=list_key, state=RefreshState.IDLE, rerun=False, specs=[],
                waiting_events=[], refreshes=0, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["list_key"])
    )  # fmt: skip
    return session.scalars(
        select(ListRefresh)
        .where(ListRefresh.list_key == list_key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def mark_dirty(
    session: Session, list_key: str, specs: Iterable[OutputSpec], event_id: int | None
) -> bool:
    """Record outputs to refresh; True when the caller must queue a refresh (after commit)."""
    row = _locked_row(session, list_key)
    row.specs = encode(decode(row.specs) | set(specs))
    if event_id is not None:
        row.waiting_events = sorted({*row.waiting_events, event_id})
    if row.state == RefreshState.IDLE:
        # `updated_at` is when the row entered its state, and only that: the relay re-sends a
        # refresh queued or running for too long. Stamping it on every publish would hide a
        # refresh whose worker died for as long as publishes keep coming.
        row.state, row.updated_at = RefreshState.QUEUED, utcnow()
        return True
    if row.state == RefreshState.RUNNING:
        row.rerun = True
    return False


def refresh_list(
    services: Services, dispatcher: ListDispatcher, list_key: str
) -> SyncReport | None:
    """Run one coalesced refresh; a no-op when none is queued (a duplicate message)."""
    with transaction(services.sessions) as session:
        row = _locked_row(session, list_key)
        if row.state != RefreshState.QUEUED:
            return None
        specs, events = decode(row.specs), list(row.waiting_events)
        row.specs, row.waiting_events = [], []
        row.state, row.rerun, row.updated_at = RefreshState.RUNNING, False, utcnow()
        row.refreshes += 1
    try:
        report = services.publisher.build(services.sessions, specs)
    except Exception as error:
        _give_back(services, list_key, specs, events, error)
        raise
    with transaction(services.sessions) as session:
        row = _locked_row(session, list_key)
        again = row.rerun or bool(row.specs)
        row.state = RefreshState.QUEUED if again else RefreshState.IDLE
        row.rerun, row.updated_at, row.failures = False, utcnow(), 0
        mark_covered(session, events, list_key, report)
    if again:
        dispatcher.dispatch_list(list_key)
    return report


def _give_back(
    services: Services,
    list_key: str,
    specs: set[OutputSpec],
    events: list[int],
    error: Exception,
) -> None:
    """A failed refresh puts its work back, queued for the retry or the relay. One that no
    retry can cure (or that failed `max_attempts` times in a row) fails the events waiting on
    it, with its error, so they show up as failed instead of waiting for ever; the outputs
    stay dirty for the next change or `pressrun events retry`."""
    with transaction(services.sessions) as session:
        row = _locked_row(session, list_key)
        row.specs = encode(decode(row.specs) | specs)
        row.failures += 1
        waiting = sorted({*row.waiting_events, *events})
        if is_transient(error) and row.failures < services.settings.max_attempts:
            row.waiting_events = waiting
            row.state, row.updated_at = RefreshState.QUEUED, utcnow()
            return
        message = f"refresh of list {list_key} failed after {row.failures} tries: {error}"
        row.waiting_events, row.failures = [], 0
        row.state, row.rerun, row.updated_at = RefreshState.IDLE, False, utcnow()
        session.execute(
            update(Event)
            .where(Event.id.in_(waiting), Event.status.not_in(FINISHED))
            .values(status=EventStatus.FAILED, error=message)
        )
        log.error(message, extra={"list": list_key, "events": waiting})


def mark_covered(session: Session, event_ids: list[int], list_key: str, report: SyncReport) -> None:
    """The refresh of `list_key` covered these events: the last list makes an event live."""
    for event_id in sorted(event_ids):
        event = session.get(Event, event_id, with_for_update=True, populate_existing=True)
        if event is None or event.pending_lists is None:
            continue
        event.pending_lists = [key for key in event.pending_lists if key != list_key]
        combined = SyncReport.from_json(event.outputs)
        combined.add(report)
        event.outputs = combined.as_json()
        if not event.pending_lists and event.status == EventStatus.RENDERED:
            event.status, event.live_at = EventStatus.LIVE, utcnow()
            log.info(
                "event %s live",
                event_id,
                extra={
                    "event_id": event_id,
                    "kind": str(event.kind),
                    "article_id": event.article_id,
                    "version": event.article_version,
                    "stage": "live",
                    "duration_ms": round(
                        (event.live_at - event.accepted_at).total_seconds() * 1000, 1
                    ),
                    "outputs": combined.written_total + combined.deleted_total,
                },
            )


def unfinished_lists(services: Services) -> list[str]:
    """Lists with a refresh queued or running (after a crash, one that may never finish)."""
    with transaction(services.sessions) as session:
        session.execute(
            update(ListRefresh)
            .where(ListRefresh.state == RefreshState.RUNNING)
            .values(state=RefreshState.QUEUED)
        )
        return list(
            session.scalars(
                select(ListRefresh.list_key).where(ListRefresh.state != RefreshState.IDLE)
            )
        )
