"""Coalesced list refreshes: a burst of publishes to one section renders its pages a few
times, not once per publish.

Each list group has a row: publishes add the outputs they dirtied and their event id, and
queue one refresh only when none is queued. A refresh takes everything dirty so far, renders
it from the current database, and marks the events it covered live. Changes arriving while it
runs set `rerun`, which queues exactly one more refresh when it ends.

The lists one event queues (latest, its section, its tags, the sitemaps) travel as one task
and are rendered as one build: one render transaction, one manifest write and one hop for
them all, since those per-list costs, not the rendering, are what keep the lists behind the
article page.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from pipeline.db import transaction
from pipeline.events.models import Event, EventStatus
from pipeline.publish.build import SyncReport
from pipeline.publish.models import ListRefresh, RefreshState
from pipeline.schema import utcnow
from pipeline.services import Services
from pipeline.site.outputs import OutputSpec
from pipeline.transient import is_transient

FINISHED = (EventStatus.LIVE, EventStatus.FAILED)

log = logging.getLogger("pressrun.refresh")


class ListDispatcher(Protocol):
    def dispatch_lists(self, list_keys: list[str]) -> None: ...


def encode(specs: Iterable[OutputSpec]) -> list[list[Any]]:
    return [[str(spec.kind), spec.subject, spec.page] for spec in specs]


def decode(rows: Iterable[list[Any]]) -> set[OutputSpec]:
    return {OutputSpec(kind, subject, int(page)) for kind, subject, page in rows}


def _locked_rows(session: Session, list_keys: Iterable[str]) -> dict[str, ListRefresh]:
    """The rows of these lists, created if new, locked in key order (every writer's order):
    two statements however many lists an event touches."""
    keys = sorted(set(list_keys))
    if not keys:
        return {}
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    # Inserting before locking anything: a first-ever list row another transaction is
    # inserting is waited for while this one holds no lock it could want.
    session.execute(
        insert(ListRefresh)
        .values([{"list_key": key, "state": RefreshState.IDLE, "rerun": False, "specs": [],
                  "waiting_events": [], "refreshes": 0, "updated_at": utcnow()} for key in keys])
        .on_conflict_do_nothing(index_elements=["list_key"])
    )  # fmt: skip
    rows = session.scalars(
        select(ListRefresh)
        .where(ListRefresh.list_key.in_(keys))
        .order_by(ListRefresh.list_key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {row.list_key: row for row in rows}


def _locked_row(session: Session, list_key: str) -> ListRefresh:
    return _locked_rows(session, [list_key])[list_key]


def lock_lists(session: Session, list_keys: Iterable[str]) -> None:
    """Lock these lists' rows (created if new) for the rest of the transaction, in key
    order: for a caller that will mark them in several calls."""
    _locked_rows(session, list_keys)


def mark_dirty_lists(
    session: Session, dirty: dict[str, set[OutputSpec]], event_id: int | None
) -> list[str]:
    """Record each list's outputs to refresh; returns the lists the caller must queue a
    refresh for (after commit): those that had none queued or running."""
    return _mark(_locked_rows(session, dirty), dirty, event_id)


def take_dirty_lists(
    session: Session, dirty: dict[str, set[OutputSpec]], event_id: int | None
) -> dict[str, ListWork]:
    """`mark_dirty_lists` for a caller that refreshes idle lists itself (`refresh_taken`,
    after commit) instead of queueing a task: a list with no refresh queued or running is
    claimed here, as a refresh task's `_take` would claim it (left running, so changes
    arriving meanwhile set `rerun`, and the relay re-sends it if this process dies); one
    with a refresh queued or running is coalesced into it, as always."""
    rows = _locked_rows(session, dirty)
    idle = _mark(rows, dirty, event_id)
    return {list_key: _claim(rows[list_key]) for list_key in idle}


def _mark(
    rows: dict[str, ListRefresh], dirty: dict[str, set[OutputSpec]], event_id: int | None
) -> list[str]:
    """Mark the (locked) rows dirty; returns those that were idle, now queued."""
    idle = []
    for list_key, row in rows.items():
        row.specs = encode(decode(row.specs) | dirty[list_key])
        if event_id is not None:
            row.waiting_events = sorted({*row.waiting_events, event_id})
        if row.state == RefreshState.IDLE:
            # `updated_at` is when the row entered its state, and only that: the relay
            # re-sends a refresh queued or running for too long. Stamping it on every publish
            # would hide a refresh whose worker died for as long as publishes keep coming.
            row.state, row.updated_at = RefreshState.QUEUED, utcnow()
            idle.append(list_key)
        elif row.state == RefreshState.RUNNING:
            row.rerun = True
    return idle


def refresh_lists(
    services: Services, dispatcher: ListDispatcher, list_keys: Sequence[str]
) -> SyncReport | None:
    """Run the queued refreshes among `list_keys` as one build; a no-op for a list with none
    queued (a duplicate message, or one another task took first). None when none was."""
    taken = _take(services, list_keys)
    if not taken:
        return None
    specs = set().union(*(work.specs for work in taken.values()))
    try:
        report = services.publisher.build(services.sessions, specs)
    except Exception as error:
        if len(taken) > 1:
            # One bad list (a page that cannot render) must not hold the others back: put
            # them all back and refresh them one by one, where failures count as before.
            log.warning("refresh of lists %s failed, splitting: %s", sorted(taken), error)
            _put_back(services, taken)
            for list_key in sorted(taken):
                dispatcher.dispatch_lists([list_key])
            return None
        for list_key, work in taken.items():
            _give_back(services, list_key, work, error)
        raise
    _finish(services, dispatcher, taken, report)
    return report


def refresh_taken(
    services: Services, dispatcher: ListDispatcher, taken: dict[str, ListWork]
) -> SyncReport | None:
    """Refresh lists claimed by `take_dirty_lists`, here and now (the event's own task, no
    hop). A failure puts them back, queued as a refresh task (which counts its failures and
    retries as usual); None then."""
    if not taken:
        return None
    specs = set().union(*(work.specs for work in taken.values()))
    try:
        report = services.publisher.build(services.sessions, specs)
    except Exception as error:
        log.warning("refresh of lists %s failed, queued instead: %s", sorted(taken), error)
        _put_back(services, taken)
        dispatcher.dispatch_lists(sorted(taken))
        return None
    _finish(services, dispatcher, taken, report)
    return report


def _finish(
    services: Services,
    dispatcher: ListDispatcher,
    taken: dict[str, ListWork],
    report: SyncReport,
) -> None:
    """A refresh done: its rows idle again (queued again when changes came meanwhile), and
    the events it covered marked."""
    again = []
    with transaction(services.sessions) as session:
        for list_key, row in _locked_rows(session, taken).items():
            if row.rerun or row.specs:
                again.append(list_key)
            row.state = RefreshState.QUEUED if list_key in again else RefreshState.IDLE
            row.rerun, row.updated_at, row.failures = False, utcnow(), 0
        covered = {key: part_of(report, work.specs) for key, work in taken.items()}
        events = sorted({event for work in taken.values() for event in work.events})
        mark_covered(session, events, covered)
    if again:
        dispatcher.dispatch_lists(again)


@dataclass(frozen=True)
class ListWork:
    """A claimed refresh: the outputs to render and the events waiting on them."""

    specs: set[OutputSpec]
    events: list[int]


def _take(services: Services, list_keys: Sequence[str]) -> dict[str, ListWork]:
    with transaction(services.sessions) as session:
        return claim_queued(session, list_keys)


def claim_queued(session: Session, list_keys: Sequence[str]) -> dict[str, ListWork]:
    """Claim the lists among `list_keys` that have a refresh queued: their dirty outputs and
    waiting events, the rows left running (for `refresh_taken`, after commit)."""
    rows = _locked_rows(session, list_keys)
    return {
        list_key: _claim(row) for list_key, row in rows.items() if row.state == RefreshState.QUEUED
    }


def _claim(row: ListRefresh) -> ListWork:
    """A queued (locked) row's work, taken: the row left running."""
    work = ListWork(decode(row.specs), list(row.waiting_events))
    row.specs, row.waiting_events = [], []
    row.state, row.rerun, row.updated_at = RefreshState.RUNNING, False, utcnow()
    row.refreshes += 1
    return work


def _put_back(services: Services, taken: dict[str, ListWork]) -> None:
    with transaction(services.sessions) as session:
        for list_key, row in _locked_rows(session, taken).items():
            row.waiting_events = _merge_back(row, taken[list_key])
            row.state, row.rerun, row.updated_at = RefreshState.QUEUED, False, utcnow()


def _merge_back(row: ListRefresh, work: ListWork) -> list[int]:
    """Claimed work returned to its (locked) row: its outputs are dirty again, beside any a
    publish marked meanwhile. Returns the events waiting on the row, old and new."""
    row.specs = encode(decode(row.specs) | work.specs)
    return sorted({*row.waiting_events, *work.events})


def part_of(report: SyncReport, specs: set[OutputSpec]) -> SyncReport:
    """The share of a build's report that concerns `specs` (one list of several built
    together); outputs neither written nor deleted count as unchanged."""
    keys = {spec.key for spec in specs}
    written = [key for key in report.written if key in keys]
    deleted = [key for key in report.deleted if key in keys]
    return SyncReport(written, deleted, max(0, len(keys) - len(written) - len(deleted)))


def _give_back(services: Services, list_key: str, work: ListWork, error: Exception) -> None:
    """A failed refresh puts its work back, queued for the retry or the relay. One that no
    retry can cure (or that failed `max_attempts` times in a row) fails the events waiting on
    it, with its error, so they show up as failed instead of waiting for ever; the outputs
    stay dirty for the next change or `pressrun events retry`."""
    with transaction(services.sessions) as session:
        row = _locked_row(session, list_key)
        waiting = _merge_back(row, work)
        row.failures += 1
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


def mark_covered(session: Session, event_ids: list[int], covered: dict[str, SyncReport]) -> None:
    """The refreshes of the lists in `covered` (with what each wrote) covered these events:
    an event's outputs gain the lists it waited for, and its last list makes it live."""
    for event_id in sorted(event_ids):
        event = session.get(Event, event_id, with_for_update=True, populate_existing=True)
        if event is None or event.pending_lists is None:
            continue
        combined = SyncReport.from_json(event.outputs)
        for list_key in event.pending_lists:
            if list_key in covered:
                combined.add(covered[list_key])
        event.pending_lists = [key for key in event.pending_lists if key not in covered]
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
