"""Full rebuilds shared by the fleet: the work is split into chunks on the `rebuild` queue.

Four phases, in order: `index` (every live article's terms counted into the related index's
document frequencies, its bag of terms stored), `weigh` (the articles the index phase
counted given their vectors, with the final frequencies: whatever order the index chunks ran
in, the same vectors), `rails` (the "More like this" rails whose inputs changed), `render`
(every output the site should have, plus what the manifest holds, so orphans go).
Chunks of a phase run on any worker; the one that finishes a phase opens the next. A crashed
rebuild resumes: chunks not done are sent again (by the relay, or by the next `pressrun`).
A chunk is tried like an event: an error a retry cannot cure, or `max_attempts` starts that
never finished, fail the chunk and its rebuild; the failed rebuild's other chunks stop, and
`pressrun events retry` resumes it with fresh tries.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import func, or_, select, text, update

from pipeline.content.models import Article, ArticleStatus
from pipeline.db import transaction
from pipeline.events.models import UNFINISHED, Event, EventStatus
from pipeline.publish.build import SyncReport
from pipeline.publish.models import RebuildChunk
from pipeline.related.rails import placed_rails
from pipeline.schema import utcnow
from pipeline.services import Services
from pipeline.site import lists
from pipeline.site.outputs import OutputSpec
from pipeline.site.planner import plan_everything
from pipeline.transient import is_transient

log = logging.getLogger("pressrun.rebuild")
PHASES = ("index", "weigh", "rails", "render")
CHUNK_ARTICLES = 250
CHUNK_OUTPUTS = 400
# Rails recomputed in one transaction: their locks, reads and writes are shared statements.
RAILS_PER_TRANSACTION = 25
# A chunk in these states is never run again (a failed one only once its rebuild is retried).
OVER = ("done", "failed")


class ChunkDispatcher(Protocol):
    def dispatch_chunk(self, chunk_id: int) -> None: ...


@dataclass(frozen=True)
class Progress:
    phase: str
    done: int
    total: int
    finished: bool


# Tables each phase reads in bulk, whose planner statistics are refreshed (PostgreSQL) before
# it opens. A rebuild usually follows a bulk load (an import, a restore): until statistics
# see the new rows the planner believes the tables nearly empty and picks plans linear in the
# archive: without statistics, an article page's "Latest articles" query scans half the
# archive and sorts it rather than reading its few rows from the index.
# Autovacuum would get there in the end, or never where it is off; a rebuild cannot wait.
STATISTICS = {
    "index": ("articles", "article_tags", "tags", "sections", "sitemap_months"),
    "weigh": ("related_documents", "term_frequencies"),
    "rails": ("related_terms", "related_documents", "term_frequencies"),
    "render": ("related_rails",),
    "done": ("outputs", "output_dependencies", "related_rails"),
}


def start_rebuild(services: Services, dispatcher: ChunkDispatcher, event_id: int) -> None:
    """Open the first phase (or, when resuming, send again what is not done)."""
    with transaction(services.sessions) as session:
        existing = session.scalar(select(func.count()).where(RebuildChunk.event_id == event_id))
        if existing:
            _fresh_tries(session, event_id)
            pending = _unfinished_chunks(session, event_id)
        else:
            services.related.remove_unpublished(session)
            pending = _open_phase(session, services, event_id, "index")
    for chunk_id in pending:
        dispatcher.dispatch_chunk(chunk_id)
    if not pending:
        advance(services, dispatcher, event_id)


def _fresh_tries(session: Any, event_id: int) -> None:
    """A failed rebuild that is started again (retried) runs its failed chunks again, each
    with a fresh count of tries."""
    session.execute(
        update(RebuildChunk)
        .where(RebuildChunk.event_id == event_id, RebuildChunk.state == "failed")
        .values(state="pending", attempts=0, relayed_at=None, updated_at=utcnow())
    )


def _unfinished_chunks(session: Any, event_id: int) -> list[int]:
    return list(
        session.scalars(
            select(RebuildChunk.id)
            .where(RebuildChunk.event_id == event_id, RebuildChunk.state != "done")
            .order_by(RebuildChunk.id)
        )
    )


def _open_phase(session: Any, services: Services, event_id: int, phase: str) -> list[int]:
    # The counts the last phase changed, folded in: the next reads them without deltas.
    services.related.fold_counts(session)
    refresh_statistics(services, phase)
    payloads: list[list[Any]]
    if phase == "render":
        # Every month recounted (the events keep the months they touch) before the plan
        # reads them; the report-only reconcile plans from the rows as they stand.
        lists.recount_months(session)
        specs = sorted(plan_everything(session, services.settings, services.kinds))
        payloads = [
            [
                [str(spec.kind), spec.subject, spec.page]
                for spec in specs[start : start + CHUNK_OUTPUTS]
            ]
            for start in range(0, len(specs), CHUNK_OUTPUTS)
        ]
    else:
        ids = _phase_articles(session, event_id, phase)
        payloads = [
            ids[start : start + CHUNK_ARTICLES] for start in range(0, len(ids), CHUNK_ARTICLES)
        ]
    chunks = [
        RebuildChunk(event_id=event_id, phase=phase, number=number, payload=payload)
        for number, payload in enumerate(payloads)
    ]
    session.add_all(chunks)
    session.flush()
    return [chunk.id for chunk in chunks]


def refresh_statistics(services: Services, phase: str) -> None:
    """Fresh planner statistics for the tables `phase` reads (PostgreSQL; SQLite plans from
    its indexes alone). The related index is also vacuumed: a fresh visibility map lets the
    planner answer a term's heaviest postings from the index alone, without touching the
    table. VACUUM cannot run inside a transaction, hence its own connection."""
    if services.engine.dialect.name != "postgresql":
        return
    command = "VACUUM ANALYZE" if phase == "rails" else "ANALYZE"
    with services.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f"{command} {', '.join(STATISTICS[phase])}"))


def run_chunk(services: Services, dispatcher: ChunkDispatcher, chunk_id: int) -> None:
    """Do one chunk (a no-op if another worker did it, or if its rebuild is over: failed,
    or live without it), then open the next phase if this was the last of its phase."""
    with transaction(services.sessions) as session:
        chunk = session.get(RebuildChunk, chunk_id, with_for_update=True)
        if chunk is None or chunk.state in OVER:
            return
        event = session.get(Event, chunk.event_id)
        if event is None or event.status not in UNFINISHED:
            return
        if chunk.state == "running" and chunk.attempts >= services.settings.max_attempts:
            # Every try started and none finished: each killed its process, and Celery hands
            # such a message back at once. Without this bound it would kill workers forever.
            give_up(
                session, chunk, f"gave up after {chunk.attempts} attempts: none of them finished"
            )
            return
        chunk.state, chunk.attempts, chunk.updated_at = "running", chunk.attempts + 1, utcnow()
        event_id, phase, payload = chunk.event_id, chunk.phase, list(chunk.payload)
        options = event.options or {}
    try:
        result = _work(services, event_id, phase, payload, options)
    except Exception as error:
        _record_failure(services, chunk_id, error)
        raise
    with transaction(services.sessions) as session:
        session.execute(
            update(RebuildChunk)
            .where(RebuildChunk.id == chunk_id)
            .values(state="done", result=result, updated_at=utcnow())
        )
    advance(services, dispatcher, event_id)


def _record_failure(services: Services, chunk_id: int, error: Exception) -> None:
    """A transient error leaves the chunk to be retried (by the task, then the relay) until
    its tries run out; anything else fails it, and its rebuild, at once."""
    message = f"{type(error).__name__}: {error}"[:4000]
    with transaction(services.sessions) as session:
        chunk = session.get(RebuildChunk, chunk_id, with_for_update=True)
        if chunk is None or chunk.state in OVER:
            return
        if not is_transient(error):
            give_up(session, chunk, f"failed: {message}")
        elif chunk.attempts >= services.settings.max_attempts:
            give_up(session, chunk, f"failed after {chunk.attempts} attempts: {message}")
        else:
            log.warning("rebuild chunk %s will be retried: %s", chunk_id, message)


def give_up(session: Any, chunk: RebuildChunk, reason: str) -> None:
    """Fail a chunk (locked by the caller) and its rebuild, with the reason on the event (as
    `pressrun events list --failed` and the dashboard show it). The rebuild's other chunks
    see it failed and stop."""
    chunk.state, chunk.updated_at = "failed", utcnow()
    message = f"rebuild chunk {chunk.id} ({chunk.phase} {chunk.number}) {reason}"
    session.execute(
        update(Event)
        .where(Event.id == chunk.event_id, Event.status.in_(UNFINISHED))
        .values(status=EventStatus.FAILED, error=message[:4000])
    )
    log.error("rebuild %s failed: %s", chunk.event_id, message)


def _work(
    services: Services, event_id: int, phase: str, payload: list[Any], options: dict[str, Any]
) -> dict[str, Any]:
    if phase == "render":
        specs = {OutputSpec(kind, subject, int(page)) for kind, subject, page in payload}
        report = services.publisher.build(
            services.sessions, specs, event_id=event_id, force=bool(options.get("force"))
        )
        return {
            "written": len(report.written),
            "deleted": len(report.deleted),
            "unchanged": report.unchanged,
        }
    with transaction(services.sessions) as session:
        if phase == "index":
            return {"fresh": index_chunk(services, session, list(payload))}
        if phase == "weigh":
            return {"weighed": len(weigh_chunk(services, session, list(payload)))}
        fresh = _fresh_articles(session, event_id)
        every_rail = bool(options.get("every_rail"))
        targets = services.related.rail_targets(session, list(payload), fresh, every_rail)
        stable = services.related.has_stable(session, fresh)
    # The chunk's rails are computed together, in bulk and taking no lock, then written in
    # short transactions: chunks on other workers refresh neighbouring rails at the same
    # time, and long transactions over many rails deadlock each other. A placed article
    # writes older articles' rails too: one per transaction. A recomputed rail writes only
    # itself, locked in id order with the others of its batch. A rail that moved between
    # the two is computed again under its lock.
    placing = placed_rails(targets, fresh, stable)
    changed: set[int] = set()
    if placing:
        with transaction(services.sessions) as session:
            placed = services.related.draft_rails(session, placing, placing=True)
        for article_id in placing:
            with transaction(services.sessions) as session:
                draft = placed[article_id]
                changed |= services.related.place(session, article_id, fresh, draft)
    recomputing = sorted(set(targets) - set(placing))
    if recomputing:
        with transaction(services.sessions) as session:
            drafts = services.related.draft_rails(session, recomputing)
    for start in range(0, len(recomputing), RAILS_PER_TRANSACTION):
        with transaction(services.sessions) as session:
            batch = recomputing[start : start + RAILS_PER_TRANSACTION]
            changed |= services.related.store_drafts(session, drafts, batch)
    return {"rails": len(targets), "changed": len(changed)}


def _phase_articles(session: Any, event_id: int, phase: str) -> list[int]:
    """The articles a phase's chunks share out: those the index phase counted for the weigh
    phase, every live article for the others."""
    if phase == "weigh":
        return sorted(_fresh_articles(session, event_id))
    return list(
        session.scalars(
            select(Article.id).where(Article.status == ArticleStatus.PUBLISHED).order_by(Article.id)
        )
    )


def index_chunk(services: Services, session: Any, article_ids: list[int]) -> list[int]:
    """The index phase's work for one chunk: returns the articles (re)counted, which the
    weigh phase weighs. The earlier chunks' count deltas are folded in first (unless another
    chunk is folding them): reading a count sums its deltas, which would otherwise pile up
    over the whole phase."""
    services.related.fold_counts(session)
    live = list(session.scalars(select(Article).where(Article.id.in_(article_ids))))
    return services.related.count_many(session, live)


def weigh_chunk(services: Services, session: Any, article_ids: list[int]) -> list[int]:
    """The weigh phase's work for one chunk: the counted articles' vectors, from the counts
    the whole index phase left (folded in when the phase opened). Returns those weighed."""
    return services.related.weigh_many(session, article_ids)


def _fresh_articles(session: Any, event_id: int) -> set[int]:
    results = session.scalars(
        select(RebuildChunk.result).where(
            RebuildChunk.event_id == event_id, RebuildChunk.phase == "index"
        )
    )
    return {article_id for result in results if result for article_id in result["fresh"]}


def advance(services: Services, dispatcher: ChunkDispatcher, event_id: int) -> None:
    """Open the next phase once the current one is done; finish the event after the last.
    The event row's lock makes the last two finishers of a phase agree on who opens it."""
    with transaction(services.sessions) as session:
        event = session.get(Event, event_id, with_for_update=True, populate_existing=True)
        if event is None or event.status in (EventStatus.LIVE, EventStatus.FAILED):
            return
        states = dict(
            session.execute(
                select(RebuildChunk.phase, func.count())
                .where(RebuildChunk.event_id == event_id, RebuildChunk.state != "done")
                .group_by(RebuildChunk.phase)
            ).all()
        )
        if states:
            return
        opened = {
            phase
            for (phase,) in session.execute(
                select(RebuildChunk.phase).where(RebuildChunk.event_id == event_id).distinct()
            )
        }
        following = [phase for phase in PHASES if phase not in opened]
        pending: list[int] = []
        while following and not pending:
            pending = _open_phase(session, services, event_id, following.pop(0))
        if not pending:
            # The render phase wrote a row per output, which publishes look up from now on.
            refresh_statistics(services, "done")
            _finish(session, event)
    for chunk_id in pending:
        dispatcher.dispatch_chunk(chunk_id)


def _finish(session: Any, event: Event) -> None:
    results = session.scalars(
        select(RebuildChunk.result).where(
            RebuildChunk.event_id == event.id, RebuildChunk.phase == "render"
        )
    )
    report = SyncReport(written_count=0, deleted_count=0)
    for result in results:
        if result:
            report.unchanged += int(result.get("unchanged", 0))
            report.written_count = report.written_total + int(result.get("written", 0))
            report.deleted_count = report.deleted_total + int(result.get("deleted", 0))
    now = utcnow()
    event.status, event.rendered_at, event.live_at = EventStatus.LIVE, now, now
    event.outputs = report.as_json()
    log.info(
        "rebuild %s done: %d written, %d deleted",
        event.id,
        report.written_total,
        report.deleted_total,
    )


def progress(services: Services, event_id: int) -> Progress:
    with transaction(services.sessions) as session:
        rows = session.execute(
            select(RebuildChunk.phase, RebuildChunk.state, func.count())
            .where(RebuildChunk.event_id == event_id)
            .group_by(RebuildChunk.phase, RebuildChunk.state)
        ).all()
        event = session.get(Event, event_id)
        finished = event is not None and event.status in (EventStatus.LIVE, EventStatus.FAILED)
    opened = [phase for phase in PHASES if any(row[0] == phase for row in rows)]
    phase = opened[-1] if opened else PHASES[0]
    total = sum(count for name, _, count in rows if name == phase)
    done = sum(count for name, state, count in rows if name == phase and state == "done")
    return Progress(phase, done, total, finished)


def stale_chunks(services: Services, stuck_before: Any) -> tuple[list[int], list[int]]:
    """Chunks of running rebuilds, pending or running since before `stuck_before` (their
    message or their worker was lost) and not sent again since: returns those to send again,
    and the rebuilds failed because such a chunk had used up its tries."""
    limit = services.settings.max_attempts
    with transaction(services.sessions) as session:
        rows = session.execute(
            select(RebuildChunk.id, RebuildChunk.event_id, RebuildChunk.attempts)
            .join(Event, Event.id == RebuildChunk.event_id)
            .where(
                Event.status.in_(UNFINISHED),
                RebuildChunk.state.not_in(OVER),
                RebuildChunk.updated_at < stuck_before,
                # Once per stuck period, as events: a chunk merely waiting behind a backlog
                # on the rebuild queue would otherwise be queued again every round.
                or_(RebuildChunk.relayed_at.is_(None), RebuildChunk.relayed_at < stuck_before),
            )
            .order_by(RebuildChunk.id)
            .limit(services.settings.relay_batch)
        ).all()
        stopped: set[int] = set()
        for chunk_id, event_id, attempts in rows:
            if attempts < limit:
                continue
            chunk = session.get(RebuildChunk, chunk_id, with_for_update=True)
            if chunk is not None and chunk.state not in OVER:
                give_up(session, chunk, f"gave up after {attempts} attempts")
                stopped.add(event_id)
    resend = [chunk_id for chunk_id, event_id, _ in rows if event_id not in stopped]
    return resend, sorted(stopped)
