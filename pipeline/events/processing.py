"""Event processing: from an outbox row to live outputs, through the stages
accepted → dispatched → started → (the article's own page live) → rendered → live, or failed
with the error."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pipeline.content.models import Article
from pipeline.db import transaction
from pipeline.events.models import UNFINISHED, Event, EventKind, EventStatus
from pipeline.publish.build import SyncReport
from pipeline.publish.rebuild import start_rebuild
from pipeline.publish.refresh import mark_dirty_lists, unfinished_lists
from pipeline.render.renderer import key_of
from pipeline.schema import utcnow
from pipeline.services import Services
from pipeline.site.kinds import Kinds
from pipeline.site.outputs import Kind, OutputSpec
from pipeline.site.planner import plan_change
from pipeline.transient import is_transient

log = logging.getLogger("pressrun.events")


class Dispatcher(Protocol):
    """Hands work to whatever runs it: a broker's workers, or the calling process."""

    def dispatch(self, event_id: int) -> None: ...

    def dispatch_lists(self, list_keys: list[str]) -> None: ...

    def dispatch_chunk(self, chunk_id: int) -> None: ...


@dataclass(frozen=True)
class Outcome:
    event_id: int
    status: EventStatus
    report: SyncReport | None = None
    error: str | None = None


def dispatch_event(services: Services, dispatcher: Dispatcher, event_id: int) -> Outcome:
    """Send a committed event on. Call it only after the writing transaction has closed."""
    _set_stage(services, event_id, EventStatus.DISPATCHED, from_stages=(EventStatus.ACCEPTED,))
    try:
        dispatcher.dispatch(event_id)
    except Exception as error:
        log.warning("event %s not dispatched: %s", event_id, error)
        _set_stage(services, event_id, EventStatus.ACCEPTED, from_stages=(EventStatus.DISPATCHED,))
        return Outcome(event_id, EventStatus.ACCEPTED, error=str(error))
    return event_outcome(services, event_id)


def event_outcome(services: Services, event_id: int) -> Outcome:
    with transaction(services.sessions) as session:
        event = session.get(Event, event_id)
        assert event is not None
        report = SyncReport.from_json(event.outputs) if event.outputs else None
        return Outcome(event_id, event.status, report, event.error)


def process_event(services: Services, dispatcher: Dispatcher, event_id: int) -> Outcome:
    """Render and sync what one event changed. Safe to run any number of times.

    Pages (the article, rails that show it) are written by the event itself, the article
    first; the lists it enters are refreshed by coalesced list tasks, after it. A change that
    takes an article out of lists (unpublish, a move) refreshes them here, before its old
    page is deleted, so no list ever links to a missing page.
    """
    with transaction(services.sessions) as session:
        event = session.get(Event, event_id)
        if event is None or event.status in (EventStatus.LIVE, EventStatus.FAILED):
            return Outcome(event_id, event.status if event else EventStatus.FAILED)
        if event.status == EventStatus.STARTED and event.attempts >= services.settings.max_attempts:
            # The tries are used up and the last one never finished: its process died (a
            # crash in the render, the OOM killer). Celery hands such a message back at once
            # (reject on worker lost), so without this bound a poison article would kill
            # workers forever. (A rendered event re-sent while it waits for its lists did
            # finish its try: it is not counted out here.)
            event.status = EventStatus.FAILED
            event.error = event.error or (
                f"gave up after {event.attempts} attempts: none of them finished"
            )
            log.error("event %s failed: %s", event_id, event.error)
            return Outcome(event_id, EventStatus.FAILED, error=event.error)
        event.status = EventStatus.STARTED
        event.started_at = utcnow()
        event.attempts += 1
        kind, article_id, previous = event.kind, event.article_id, event.previous
        log_event(event, EventStatus.STARTED)
    if kind == EventKind.REBUILD:
        try:
            start_rebuild(services, dispatcher, event_id)
        except Exception as error:
            _record_failure(services, event_id, error)
            raise
        return event_outcome(services, event_id)
    try:
        with transaction(services.sessions) as session:
            article = _locked_article(session, event_id, article_id)
            spread = services.related.apply_own(session, article)
            first = key_of(article)
            live = article.is_live
            inline = not live or (previous is not None and previous["key"] != first)
        own_page = {OutputSpec(Kind.ARTICLE, first)} if live else set()
        # The article's own page goes live first, as soon as its own rail is known: the
        # reverse update and the other pages (often most of the work) follow it.
        report = SyncReport()
        if own_page:
            report = services.publisher.build(services.sessions, own_page, event_id=event_id)
            _set_stage_time(services, event_id, "page_live_at")
        with transaction(services.sessions) as session:
            article = _locked_article(session, event_id, article_id)
            changed = services.related.spread_change(session, article.id, spread)
            specs = plan_change(
                session, services.settings, article, previous, changed, services.kinds
            )
        lists = {} if inline else _group_lists(services.kinds, specs)
        pages = specs - own_page - {spec for group in lists.values() for spec in group}
        report.add(
            services.publisher.build(services.sessions, pages, event_id=event_id, first_key=first)
        )
        queue = _hand_over_lists(services, event_id, lists, report)
    except Exception as error:
        _record_failure(services, event_id, error)
        raise
    if queue:
        dispatcher.dispatch_lists(queue)
    return event_outcome(services, event_id)


def _locked_article(session: Session, event_id: int, article_id: int | None) -> Article:
    # Events of one article (and duplicates of one event) go through the index one at a time:
    # two workers indexing the same article at once would both insert its related document,
    # and the second would fail on the duplicate key.
    session.execute(select(Article.id).where(Article.id == article_id).with_for_update())
    article = session.get(Article, article_id)
    assert article is not None, f"event {event_id} has no article"
    return article


def _set_stage_time(services: Services, event_id: int, column: str) -> None:
    with transaction(services.sessions) as session:
        session.execute(update(Event).where(Event.id == event_id).values({column: utcnow()}))


def log_event(event: Event, stage: str) -> None:
    """One structured line per stage an event reaches, with its timings (logged inside the
    transaction that recorded the stage, with no transaction of its own)."""
    reached = {
        EventStatus.RENDERED: event.rendered_at,
        EventStatus.LIVE: event.live_at,
    }.get(EventStatus(stage)) or utcnow()
    report = SyncReport.from_json(event.outputs)
    log.info(
        "event %s %s",
        event.id,
        stage,
        extra={
            "event_id": event.id,
            "kind": str(event.kind),
            "article_id": event.article_id,
            "version": event.article_version,
            "stage": stage,
            "duration_ms": round((reached - event.accepted_at).total_seconds() * 1000, 1),
            "outputs": report.written_total + report.deleted_total,
        },
    )


def _group_lists(kinds: Kinds, specs: set[OutputSpec]) -> dict[str, set[OutputSpec]]:
    groups: dict[str, set[OutputSpec]] = {}
    for spec in specs:
        group = kinds.group_of(spec)
        if group is not None:
            groups.setdefault(group, set()).add(spec)
    return groups


def _hand_over_lists(
    services: Services, event_id: int, lists: dict[str, set[OutputSpec]], report: SyncReport
) -> list[str]:
    """Record the event's own outputs and the lists it waits for; returns lists to queue."""
    with transaction(services.sessions) as session:
        queue = mark_dirty_lists(session, lists, event_id)
        values: dict[str, object] = {
            "rendered_at": utcnow(),
            "outputs": report.as_json(),
            "pending_lists": sorted(lists),
            "error": None,
        }
        if lists:
            values["status"] = EventStatus.RENDERED
        else:
            values.update(status=EventStatus.LIVE, live_at=utcnow())
        session.execute(update(Event).where(Event.id == event_id).values(**values))
        # The event's own stage: rendered, or live when no list waits (a list refresh logs
        # live).
        event = session.get(Event, event_id, populate_existing=True)
        if event is not None:
            log_event(event, EventStatus.RENDERED if lists else EventStatus.LIVE)
    return queue


def _set_stage(
    services: Services,
    event_id: int,
    stage: EventStatus,
    from_stages: tuple[EventStatus, ...] | None = None,
) -> None:
    values: dict[str, object] = {"status": stage}
    if stage != EventStatus.ACCEPTED:
        values[f"{stage.value}_at"] = utcnow()
    statement = update(Event).where(Event.id == event_id).values(**values)
    if from_stages is not None:
        statement = statement.where(Event.status.in_(from_stages))
    with transaction(services.sessions) as session:
        session.execute(statement)


def _record_failure(services: Services, event_id: int, error: Exception) -> None:
    """Keep the error on the event; a transient one leaves it to be retried, until the tries
    run out. Anything else (a poison article) fails it at once."""
    message = f"{type(error).__name__}: {error}"[:4000]
    with transaction(services.sessions) as session:
        event = session.get(Event, event_id)
        if event is None:
            return
        event.error = message
        if not is_transient(error) or event.attempts >= services.settings.max_attempts:
            event.status = EventStatus.FAILED
            log.error("event %s failed: %s", event_id, message)
        else:
            log.warning("event %s will be retried: %s", event_id, message)


def unfinished_events(services: Services, other_than: int | None = None) -> list[int]:
    query = select(Event.id).where(Event.status.in_(UNFINISHED)).order_by(Event.id)
    if other_than is not None:
        query = query.where(Event.id != other_than)
    with transaction(services.sessions) as session:
        return list(session.scalars(query))


def finish_unfinished(
    services: Services, dispatcher: Dispatcher, *, other_than: int | None = None
) -> list[Outcome]:
    """Events and list refreshes a crashed process left behind are finished first (all but
    the event `other_than`, which the caller sends on itself)."""
    outcomes = []
    for event_id in unfinished_events(services, other_than):
        try:
            outcomes.append(process_event(services, dispatcher, event_id))
        except Exception as error:
            # Recorded on the event row; carry on with the rest.
            outcomes.append(Outcome(event_id, EventStatus.FAILED, error=str(error)))
    for list_key in unfinished_lists(services):
        dispatcher.dispatch_lists([list_key])
    return outcomes
