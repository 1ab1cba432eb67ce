"""Event processing: from an outbox row to live outputs, through the stages
accepted → dispatched → started → (the article's own page live) → rendered → live, or failed
with the error."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import case, or_, select, update
from sqlalchemy.orm import Session

from pipeline.config import Settings
from pipeline.content.models import Article
from pipeline.db import transaction
from pipeline.events.models import UNFINISHED, Event, EventKind, EventStatus
from pipeline.publish.build import SyncReport
from pipeline.publish.rebuild import start_rebuild
from pipeline.publish.refresh import (
    ListWork,
    claim_queued,
    lock_lists,
    mark_dirty_lists,
    part_of,
    refresh_taken,
    take_dirty_lists,
    unfinished_lists,
)
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
    """Send a committed event on. Call it only after the writing transaction has closed.

    Sent first, its stage recorded after (with the outcome read in the same transaction):
    no transaction of its own stands between the commit and the worker. The stage's time is
    taken before the send, so it never follows the worker's start."""
    sent_at = utcnow()
    try:
        dispatcher.dispatch(event_id)
    except Exception as error:
        log.warning("event %s not dispatched: %s", event_id, error)
        return Outcome(event_id, EventStatus.ACCEPTED, error=str(error))
    return event_outcome(services, event_id, dispatched_at=sent_at)


def event_outcome(
    services: Services, event_id: int, *, dispatched_at: datetime | None = None
) -> Outcome:
    """The event as it stands; with `dispatched_at`, recorded as sent then first."""
    with transaction(services.sessions) as session:
        if dispatched_at is not None:
            _record_dispatched(session, event_id, dispatched_at)
        event = session.get(Event, event_id)
        assert event is not None
        report = SyncReport.from_json(event.outputs) if event.outputs else None
        return Outcome(event_id, event.status, report, event.error)


def process_event(services: Services, dispatcher: Dispatcher, event_id: int) -> Outcome:
    """Render and sync what one event changed. Safe to run any number of times.

    Pages (the article, rails that show it) are written by the event itself, the article
    first; the lists it enters are refreshed after them: here too when no refresh of them is
    queued or running (one hop for the whole event on an idle fleet), otherwise by the
    coalesced list task already on its way. A change that takes an article out of lists
    (unpublish, a move) refreshes them with its pages, before its old page is deleted, so no
    list ever links to a missing page.

    When publishes are waiting on the queue (a burst), the event takes up to
    `event_batch` of them along and they are processed together (`_process_batch`).
    """
    with transaction(services.sessions) as session:
        # Locked: another worker's batch claims waiting events with SKIP LOCKED, so a row
        # this delivery is starting is never also taken into a batch.
        event = session.get(Event, event_id, with_for_update=True)
        if event is None or event.status in (EventStatus.LIVE, EventStatus.FAILED):
            return Outcome(event_id, event.status if event else EventStatus.FAILED)
        if _taken_by_batch(services, event):
            # Another event's batch is processing it (or has, and waits for its lists): this
            # message, sent for it alone, has nothing left to do.
            return Outcome(event_id, event.status)
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
        if event.options and BATCH in event.options:
            event.options = None  # its own try now, no longer a batch's
        kind, article_id, previous = event.kind, event.article_id, event.previous
        log_event(event, EventStatus.STARTED)
        leader = _Member(event_id, article_id, previous)
        members = _claim_batch(session, services.settings, event) if kind in BATCHED else []
        if kind != EventKind.REBUILD:
            # Read here, in the transaction that starts the event: its page is built next.
            _read_articles(session, [leader, *members])
    if kind == EventKind.REBUILD:
        try:
            start_rebuild(services, dispatcher, event_id)
        except Exception as error:
            _record_failure(services, event_id, error)
            raise
        return event_outcome(services, event_id)
    if members:
        _process_batch(services, dispatcher, leader, members)
    else:
        _process_started(services, dispatcher, leader)
    return event_outcome(services, event_id)


def _process_started(services: Services, dispatcher: Dispatcher, started: _Member) -> None:
    """One started event, alone: its own page, then the other pages, then its lists.

    The page goes live first, as the database stands: with its stored rail (an update), or
    with none yet (a new article). Indexing, the article's own neighbour query and the
    reverse update follow it, and the page is written again only if its rail moved."""
    event_id, article_id, previous = started.event_id, started.article_id, started.previous
    if started.live is None:
        with transaction(services.sessions) as session:
            _read_articles(session, [started])
    try:
        own_page = {OutputSpec(Kind.ARTICLE, started.first)} if started.live else set()
        report = SyncReport()
        if own_page:
            report = services.publisher.build(
                services.sessions,
                own_page,
                event_id=event_id,
                on_record=_stamp([event_id], "page_live_at"),
                # Taken down meanwhile: its page goes after its lists, below, not here.
                writes_only=True,
            )
        with transaction(services.sessions) as session:
            article = _locked_article(session, event_id, article_id)
            changed = services.related.apply_change(session, article)
            specs = plan_change(
                session, services.settings, article, previous, changed, services.kinds
            )
            first = key_of(article)
            inline = not article.is_live or (previous is not None and previous["key"] != first)
            if article.is_live and first == started.first and article.id not in changed:
                # Its page, as written above, already shows its rail.
                specs -= own_page
        lists = {} if inline else _group_lists(services.kinds, specs)
        pages = specs - {spec for group in lists.values() for spec in group}
        rest = services.publisher.build(
            services.sessions, pages, event_id=event_id, first_key=first
        )
        report = _with_own_page(report, rest, own_page, pages)
        taken, queue = _hand_over_lists(services, event_id, lists, report)
    except Exception as error:
        _record_failure(services, event_id, error)
        raise
    if queue:
        dispatcher.dispatch_lists(queue)
    refresh_taken(services, dispatcher, taken)


def _read_articles(session: Session, members: list[_Member]) -> None:
    """Each member's article as it stands: its page's key and whether it is live."""
    ids = [member.article_id for member in members if member.article_id is not None]
    found = {
        article.id: article
        for article in session.scalars(select(Article).where(Article.id.in_(ids)))
    }
    for member in members:
        article = found.get(member.article_id) if member.article_id is not None else None
        member.live = article is not None and article.is_live
        member.first = key_of(article) if article is not None else ""


def _with_own_page(
    own: SyncReport, rest: SyncReport, own_page: set[OutputSpec], rest_specs: set[OutputSpec]
) -> SyncReport:
    """The event's report from its own page's build and the rest's, the page counted once
    when the rest built it again (its rail moved)."""
    combined = SyncReport(list(own.written), list(own.deleted), own.unchanged)
    again = own_page & rest_specs
    for key in [*rest.written, *rest.deleted]:
        if key not in combined.written and key not in combined.deleted:
            (combined.written if key in rest.written else combined.deleted).append(key)
    combined.unchanged += rest.unchanged
    for spec in again:
        if spec.key in own.written and spec.key in rest.written:
            combined.rewritten += 1
        done = spec.key in combined.written or spec.key in combined.deleted
        # Unchanged in both builds, or unchanged in one and written in the other.
        counted = int(spec.key not in own.written) + int(
            spec.key not in rest.written and spec.key not in rest.deleted
        )
        combined.unchanged -= counted if done else counted - 1
    return combined


# -- bursts: events processed together ------------------------------------------------------

# The mark a batch leaves on the events it took: {"batch": the event that took them}.
BATCH = "batch"
BATCHED = (EventKind.PUBLISH, EventKind.UPDATE)


@dataclass
class _Member:
    """An event of a batch, as the batch works on it."""

    event_id: int
    article_id: int | None
    previous: dict[str, Any] | None
    spread: Any = None
    first: str = ""
    # Whether the article was live when the event started (None: not read yet).
    live: bool | None = None
    specs: set[OutputSpec] = field(default_factory=set)
    lists: dict[str, set[OutputSpec]] = field(default_factory=dict)


def _taken_by_batch(services: Services, event: Event) -> bool:
    """The event was taken by another event's batch lately: that batch finishes it (or, if
    its worker died, the relay sends the event again once it has been stuck for a while)."""
    if not event.options or BATCH not in event.options or event.started_at is None:
        return False
    if event.status not in (EventStatus.STARTED, EventStatus.RENDERED):
        return False
    stuck = timedelta(seconds=services.settings.relay_stuck_seconds)
    return bool(event.started_at > utcnow() - stuck)


def _claim_batch(session: Session, settings: Settings, leader: Event) -> list[_Member]:
    """Take publishes and updates waiting on the queue (dispatched, nobody's yet), the oldest
    first, one per article and none of the leader's article: they are started here, marked
    as this batch's, and their own messages will find nothing to do."""
    if settings.event_batch <= 1:
        return []
    rows = session.execute(
        select(Event.id, Event.article_id)
        .where(
            Event.status == EventStatus.DISPATCHED,
            Event.kind.in_(BATCHED),
            Event.id != leader.id,
            Event.article_id.is_not(None),
        )
        .order_by(Event.id)
        .limit(settings.event_batch - 1)
        .with_for_update(skip_locked=True)
    ).all()
    articles = {leader.article_id}
    chosen = []
    for event_id, article_id in rows:
        if article_id not in articles:
            articles.add(article_id)
            chosen.append(event_id)
    if not chosen:
        return []
    now = utcnow()
    members = []
    for event in session.scalars(select(Event).where(Event.id.in_(chosen)).order_by(Event.id)):
        event.status, event.started_at = EventStatus.STARTED, now
        event.attempts += 1
        event.options = {BATCH: leader.id}
        log_event(event, EventStatus.STARTED)
        members.append(_Member(event.id, event.article_id, event.previous))
    return members


def _process_batch(
    services: Services, dispatcher: Dispatcher, leader: _Member, members: list[_Member]
) -> None:
    """A burst's events processed together, in the order a single event keeps: every
    article's own page (written in one build), then the other pages all of them touch (one
    build: a page two of them touch is rendered once), then their lists, handed over in one
    transaction and refreshed as one. Changes that take an article out of lists (or move it)
    go on alone afterwards.

    If anything fails, the other events go back to the queue to be processed alone (where a
    poison article fails by itself) and the leader goes on alone."""
    together = [leader, *members]
    try:
        alone, taken = _run_batch(services, together)
    except Exception as error:
        log.warning("batch of event %s failed, its events go on alone: %s", leader.event_id, error)
        _release(services, dispatcher, members)
        leader.live = None  # read again: the batch may have left it anywhere
        _process_started(services, dispatcher, leader)
        return
    refresh_taken(services, dispatcher, taken)
    for member in alone:
        member.live = None
        _process_started(services, dispatcher, member)


def _run_batch(
    services: Services, together: list[_Member]
) -> tuple[list[_Member], dict[str, ListWork]]:
    """Returns the events left to go alone and the lists claimed to refresh now."""
    leader_id = together[0].event_id
    # Every live, unmoved article's page first, as the database stands (see
    # `_process_started`); their rails come next.
    ready = [member for member in together if member.live and not _moves(member)]
    own_report = SyncReport()
    if ready:
        own_report = services.publisher.build(
            services.sessions,
            {OutputSpec(Kind.ARTICLE, member.first) for member in ready},
            event_id=leader_id,
            on_record=_stamp([member.event_id for member in ready], "page_live_at"),
            writes_only=True,
        )
    work, alone = [], []
    for member in together:
        with transaction(services.sessions) as session:
            article = _locked_article(session, member.event_id, member.article_id)
            first = key_of(article)
            if member not in ready or first != member.first or not article.is_live:
                alone.append(member)
                continue
            member.spread = services.related.apply_own(session, article)
        work.append(member)
    if not work:
        return alone, {}
    # Every member's reverse update in one transaction: the pages they move are known only
    # to this call, so a failure halfway must leave no member's moved rails committed with
    # their pages unwritten (a member that goes alone after it finds its rails as it left
    # them, and would not rewrite those pages).
    with transaction(services.sessions) as session:
        # Every member's article locked first, in id order, as other writers lock articles.
        session.execute(
            select(Article.id)
            .where(Article.id.in_([member.article_id for member in work]))
            .order_by(Article.id)
            .with_for_update()
        )
        for member in work:
            article = _locked_article(session, member.event_id, member.article_id)
            changed = services.related.spread_change(session, article.id, member.spread)
            member.specs = plan_change(
                session, services.settings, article, member.previous, changed, services.kinds
            )
            if article.is_live and article.id not in changed:
                # Its page, as written above, already shows its rail.
                member.specs -= {OutputSpec(Kind.ARTICLE, member.first)}
    for member in work:
        member.lists = _group_lists(services.kinds, member.specs)
        member.specs -= {spec for group in member.lists.values() for spec in group}
    pages = set().union(*(member.specs for member in work))
    pages_report = services.publisher.build(services.sessions, pages, event_id=leader_id)
    queue: set[str] = set()
    with transaction(services.sessions) as session:
        # Every member's lists locked at once, in key order, as every other writer locks
        # them: member by member, one member's lists after another's would not be in order
        # (an author's list sorts before `latest`), and could deadlock with a refresh.
        lock_lists(session, set().union(*(member.lists for member in work)))
        for member in work:
            own_page = {OutputSpec(Kind.ARTICLE, member.first)}
            report = _with_own_page(
                part_of(own_report, own_page),
                part_of(pages_report, member.specs),
                own_page,
                member.specs,
            )
            queue.update(_record_hand_over(session, member.event_id, member.lists, report))
        # Claimed once every member has marked its lists: one refresh covers them all.
        taken = claim_queued(session, sorted(queue))
    return alone, taken


def _moves(member: _Member) -> bool:
    """The change moves the article's page (its old key is deleted after the lists)."""
    return member.previous is not None and member.previous["key"] != member.first


def _release(services: Services, dispatcher: Dispatcher, members: list[_Member]) -> None:
    """A failed batch's other events, back on the queue to go alone."""
    ids = [member.event_id for member in members]
    with transaction(services.sessions) as session:
        session.execute(
            update(Event)
            .where(Event.id.in_(ids), Event.status == EventStatus.STARTED)
            .values(status=EventStatus.DISPATCHED, options=None)
        )
    for event_id in ids:
        try:
            dispatcher.dispatch(event_id)
        except Exception as error:
            # The relay sends it once it has waited a stuck period.
            log.warning("event %s not dispatched again: %s", event_id, error)


def _locked_article(session: Session, event_id: int, article_id: int | None) -> Article:
    # Events of one article (and duplicates of one event) go through the index one at a time:
    # two workers indexing the same article at once would both insert its related document,
    # and the second would fail on the duplicate key.
    session.execute(select(Article.id).where(Article.id == article_id).with_for_update())
    article = session.get(Article, article_id)
    assert article is not None, f"event {event_id} has no article"
    return article


def _stamp(event_ids: list[int], column: str) -> Callable[[Session], None]:
    """A stage time recorded in a transaction that runs anyway (a build's manifest)."""

    def stamp(session: Session) -> None:
        session.execute(update(Event).where(Event.id.in_(event_ids)).values({column: utcnow()}))

    return stamp


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
) -> tuple[dict[str, ListWork], list[str]]:
    """Record the event's own outputs and the lists it waits for; returns the lists it
    claimed to refresh itself (on an idle fleet: those no refresh was queued or running
    for) and those it queued a refresh task for (while other events wait)."""
    with transaction(services.sessions) as session:
        if _others_waiting(session, event_id):
            # A burst: one coalesced refresh task takes the lists of every event that comes
            # meanwhile, where refreshing them here would render them once per event.
            queue = mark_dirty_lists(session, lists, event_id)
            _record_event_outputs(session, event_id, lists, report)
            return {}, queue
        # The list rows locked before the event's, as a refresh marking events live does.
        taken = take_dirty_lists(session, lists, event_id)
        _record_event_outputs(session, event_id, lists, report)
        return taken, []


def _others_waiting(session: Session, event_id: int) -> bool:
    """Other events are waiting for a worker: the fleet is not idle."""
    waiting = session.scalar(
        select(Event.id)
        .where(
            Event.status.in_([EventStatus.ACCEPTED, EventStatus.DISPATCHED]),
            Event.id != event_id,
        )
        .limit(1)
    )
    return waiting is not None


def _record_hand_over(
    session: Session, event_id: int, lists: dict[str, set[OutputSpec]], report: SyncReport
) -> list[str]:
    """`_hand_over_lists` in a batch's transaction: returns the lists it queued."""
    queue = mark_dirty_lists(session, lists, event_id)
    _record_event_outputs(session, event_id, lists, report)
    return queue


def _record_event_outputs(
    session: Session, event_id: int, lists: dict[str, set[OutputSpec]], report: SyncReport
) -> None:
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
    # The event's own stage: rendered, or live when no list waits (a list refresh logs live).
    event = session.get(Event, event_id, populate_existing=True)
    if event is not None:
        log_event(event, EventStatus.RENDERED if lists else EventStatus.LIVE)


def _record_dispatched(session: Session, event_id: int, sent_at: datetime) -> None:
    """The event was sent at `sent_at`: dispatched, unless a worker has moved it on already
    (it may have, the stage being recorded after the send); then only its time is kept, if
    it has none (the embedded default runs the whole event inside the send)."""
    waiting = Event.status.in_([EventStatus.ACCEPTED, EventStatus.DISPATCHED])
    session.execute(
        update(Event)
        .where(Event.id == event_id)
        .values(
            status=case((Event.status == EventStatus.ACCEPTED, EventStatus.DISPATCHED),
                        else_=Event.status),
            dispatched_at=case((or_(waiting, Event.dispatched_at.is_(None)), sent_at),
                               else_=Event.dispatched_at),
        )
    )  # fmt: skip


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
