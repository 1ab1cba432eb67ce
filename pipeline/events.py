"""Event processing: from an outbox row to live outputs, through the stages
accepted → dispatched → started → rendered → live (or failed, with the error)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select, update

from pipeline.build import SyncReport
from pipeline.db import transaction
from pipeline.models import UNFINISHED, Article, Event, EventKind, EventStatus, utcnow
from pipeline.planner import plan_change, plan_everything
from pipeline.services import Services

log = logging.getLogger("pressrun.events")


class Dispatcher(Protocol):
    """Hands an event to whatever runs it: a broker, or the calling process."""

    def dispatch(self, event_id: int) -> None: ...


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
        report = SyncReport(**event.outputs) if event.outputs else None
        return Outcome(event_id, event.status, report, event.error)


def process_event(services: Services, event_id: int) -> Outcome:
    """Render and sync what one event changed. Safe to run any number of times."""
    with transaction(services.sessions) as session:
        event = session.get(Event, event_id)
        if event is None or event.status in (EventStatus.LIVE, EventStatus.FAILED):
            return Outcome(event_id, event.status if event else EventStatus.FAILED)
        event.status = EventStatus.STARTED
        event.started_at = utcnow()
        event.attempts += 1
        kind, article_id, previous = event.kind, event.article_id, event.previous
        options = event.options or {}
    try:
        with transaction(services.sessions) as session:
            if kind == EventKind.REBUILD:
                services.related.rebuild(session, every_rail=bool(options.get("every_rail")))
                specs = plan_everything(session, services.settings)
            else:
                article = session.get(Article, article_id)
                assert article is not None, f"event {event_id} has no article"
                changed = services.related.apply_change(session, article)
                specs = plan_change(session, services.settings, article, previous, changed)
        report = services.publisher.build(
            services.sessions,
            specs,
            event_id=event_id,
            on_rendered=_stage_marker(services, event_id, EventStatus.RENDERED),
        )
    except Exception as error:
        _fail(services, event_id, error)
        raise
    with transaction(services.sessions) as session:
        session.execute(
            update(Event)
            .where(Event.id == event_id)
            .values(status=EventStatus.LIVE, live_at=utcnow(), outputs=report.as_json(), error=None)
        )
    return Outcome(event_id, EventStatus.LIVE, report)


def _stage_marker(services: Services, event_id: int, stage: EventStatus) -> Callable[[], None]:
    return lambda: _set_stage(services, event_id, stage)


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


def _fail(services: Services, event_id: int, error: Exception) -> None:
    message = f"{type(error).__name__}: {error}"
    log.error("event %s failed: %s", event_id, message)
    with transaction(services.sessions) as session:
        session.execute(
            update(Event)
            .where(Event.id == event_id)
            .values(status=EventStatus.FAILED, error=message[:4000])
        )


def unfinished_events(services: Services) -> list[int]:
    with transaction(services.sessions) as session:
        return list(
            session.scalars(select(Event.id).where(Event.status.in_(UNFINISHED)).order_by(Event.id))
        )


def finish_unfinished(services: Services) -> list[Outcome]:
    """Events a crashed process left behind are finished before anything else happens."""
    outcomes = []
    for event_id in unfinished_events(services):
        try:
            outcomes.append(process_event(services, event_id))
        except Exception as error:
            outcomes.append(Outcome(event_id, EventStatus.FAILED, error=str(error)))
    return outcomes
