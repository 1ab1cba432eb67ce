"""Publishing on time: now, or at a scheduled moment (an embargo), and unpublishing likewise
(an expiry).

A schedule is a row that a periodic job (`run_due`, every couple of seconds from beat)
carries out when due, never a far-future ETA task in the broker: Redis hands an ETA message
back after its visibility timeout (a second publish), a purged or restarted broker loses it,
and nobody can list or cancel it. A row can be listed and cancelled, and the job deletes it in
the same transaction that makes the change, so it is carried out once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, select
from sqlalchemy.orm import Session

from pipeline.content import articles
from pipeline.content.inputs import ArticleInput, InvalidInput
from pipeline.content.models import Article, ArticleStatus, Schedule, ScheduleAction, UndatedDraft
from pipeline.db import transaction
from pipeline.events import outbox
from pipeline.events.processing import Outcome
from pipeline.schema import utcnow
from pipeline.services import Services

log = logging.getLogger("pressrun.schedule")
DUE_BATCH = 100
# A schedule that fails is tried again after 10 s, then twice as long after each failure (at
# most 10 minutes apart); the 8th failure, about 20 minutes after the first, gives up.
MAX_ATTEMPTS = 8
BACKOFF_FIRST = timedelta(seconds=10)
BACKOFF_CAP = timedelta(minutes=10)


class ScheduleConflict(ValueError):
    """A schedule that contradicts the article's state (publishing what is live...)."""


class NothingScheduled(LookupError):
    def __init__(self, slug: str) -> None:
        super().__init__(f"nothing is scheduled for {slug!r}")


# -- saving and publishing now ----------------------------------------------------------------


def save(session: Session, data: ArticleInput, *, actor: str, now: datetime) -> articles.Saved:
    """Save content (a live article is republished); remember whether the editor gave the
    draft a date, so an undated one is dated when it goes live."""
    saved = articles.save_draft(session, data, actor=actor, now=now)
    undated = session.get(UndatedDraft, saved.article_id)
    if data.published_at is not None and undated is not None:
        session.delete(undated)
    elif data.published_at is None and saved.created:
        session.add(UndatedDraft(article_id=saved.article_id))
    session.flush()
    return saved


def save_and_publish(
    session: Session, data: ArticleInput, *, actor: str, now: datetime
) -> articles.ArticleChange:
    """Save content and make it live in one change, through the CLI's own `publish`."""
    existing = articles.find(session, data)
    undated = session.get(UndatedDraft, existing.id) if existing is not None else None
    if undated is not None and data.published_at is None:
        data = data.model_copy(update={"published_at": now})
    change = articles.publish(session, data, actor=actor, now=now)
    if undated is not None:
        session.delete(undated)
    _drop(session, change.article_id, ScheduleAction.PUBLISH)
    return change


def publish_now(
    session: Session, slug: str, *, actor: str, now: datetime, dated: datetime | None = None
) -> articles.ArticleChange:
    """Make a saved article live. An undated draft is dated `dated` (default: now); a pending
    scheduled publish is moot and goes, a pending unpublish (an expiry) stays."""
    article = articles.article_by_slug(session, slug)
    undated = session.get(UndatedDraft, article.id)
    change = articles.publish_saved(
        session,
        slug,
        actor=actor,
        now=now,
        published_at=publication_date(session, article, dated or now),
    )
    if undated is not None:
        session.delete(undated)
    _drop(session, article.id, ScheduleAction.PUBLISH)
    return change


def publication_date(session: Session, article: Article, moment: datetime) -> datetime | None:
    """The date publishing gives the article: `moment` for an undated draft, else its own."""
    return moment if session.get(UndatedDraft, article.id) is not None else None


def unpublish_now(
    session: Session, slug: str, *, actor: str, now: datetime
) -> articles.ArticleChange:
    """Take an article down; whatever was scheduled for it is moot."""
    change = articles.unpublish(session, slug, actor=actor, now=now)
    _drop(session, change.article_id, None)
    return change


def import_articles(
    session: Session, batches: Iterable[list[ArticleInput]], *, actor: str, now: datetime
) -> articles.ArticleChange:
    """Bulk load (articles.import_batches): an imported article is live, so a publish
    scheduled for it is moot and it is no longer an undated draft, as after `publish_now`."""
    change = articles.import_batches(session, batches, actor=actor, now=now)
    live = select(Article.id).where(Article.status == ArticleStatus.PUBLISHED)
    session.execute(
        delete(Schedule).where(
            Schedule.action == ScheduleAction.PUBLISH, Schedule.article_id.in_(live)
        )
    )
    session.execute(delete(UndatedDraft).where(UndatedDraft.article_id.in_(live)))
    return change


def _drop(session: Session, article_id: int, action: ScheduleAction | None) -> None:
    statement = delete(Schedule).where(Schedule.article_id == article_id)
    if action is not None:
        statement = statement.where(Schedule.action == action)
    session.execute(statement)


# -- scheduling -------------------------------------------------------------------------------


def pending(session: Session, article_id: int) -> list[Schedule]:
    return list(
        session.scalars(
            select(Schedule).where(Schedule.article_id == article_id).order_by(Schedule.due_at)
        )
    )


def _pending(session: Session, article_id: int, action: ScheduleAction) -> Schedule | None:
    return session.scalar(
        select(Schedule).where(Schedule.article_id == article_id, Schedule.action == action)
    )


def schedule_publish(
    session: Session, article: Article, due_at: datetime, *, actor: str, now: datetime
) -> Schedule:
    """Publish at `due_at` (a later call moves the time); the article shows as scheduled."""
    if due_at <= now:
        raise InvalidInput("publish_at", "must be in the future")
    if article.is_live:
        raise ScheduleConflict(f"{article.slug!r} is already published")
    expiry = _pending(session, article.id, ScheduleAction.UNPUBLISH)
    if expiry is not None and due_at >= expiry.due_at:
        raise InvalidInput("publish_at", "must be before the scheduled unpublish")
    row = _pending(session, article.id, ScheduleAction.PUBLISH)
    restore = articles.mark_scheduled(session, article, now=now)
    if row is None:
        row = Schedule(
            article_id=article.id,
            action=ScheduleAction.PUBLISH,
            restore_status=str(restore),
            created_at=now,
        )
        session.add(row)
    _set_due(row, due_at, actor)
    session.flush()
    return row


def schedule_unpublish(
    session: Session, article: Article, due_at: datetime, *, actor: str, now: datetime
) -> Schedule:
    """Unpublish at `due_at`: a live article, or one whose publish is scheduled earlier."""
    if due_at <= now:
        raise InvalidInput("unpublish_at", "must be in the future")
    embargo = _pending(session, article.id, ScheduleAction.PUBLISH)
    if not article.is_live and embargo is None:
        raise ScheduleConflict(f"{article.slug!r} is not published and no publish is scheduled")
    if embargo is not None and due_at <= embargo.due_at:
        raise InvalidInput("unpublish_at", "must be after the scheduled publish")
    row = _pending(session, article.id, ScheduleAction.UNPUBLISH)
    if row is None:
        row = Schedule(article_id=article.id, action=ScheduleAction.UNPUBLISH, created_at=now)
        session.add(row)
    _set_due(row, due_at, actor)
    session.flush()
    return row


def _set_due(row: Schedule, due_at: datetime, actor: str) -> None:
    """A new time starts afresh: the failed tries of the old one (if any) no longer count."""
    row.due_at, row.next_attempt_at, row.actor = due_at, due_at, actor
    row.attempts, row.last_error, row.failed_at = 0, None, None


def cancel(
    session: Session, article: Article, action: ScheduleAction | None, *, now: datetime
) -> list[Schedule]:
    """Cancel what is pending (one action, or all); a cancelled publish gives the article
    back the status it had. Raises NothingScheduled when there was nothing to cancel."""
    rows = [row for row in pending(session, article.id) if action in (None, row.action)]
    if not rows:
        raise NothingScheduled(article.slug)
    for row in rows:
        if row.action == ScheduleAction.PUBLISH:
            restore = ArticleStatus(row.restore_status or ArticleStatus.DRAFT)
            articles.unmark_scheduled(session, article, restore, now=now)
        session.delete(row)
    session.flush()
    return rows


# -- the periodic job -------------------------------------------------------------------------


@dataclass
class DueReport:
    outcomes: list[Outcome] = field(default_factory=list)


def run_due(services: Services, *, now: datetime | None = None) -> DueReport:
    """Carry out the schedules whose next try is due, each in its own transaction, whose
    event `services`' sessions dispatch like any change's (the outcomes are reported). Safe
    to run from several processes. A failure is counted on its row and tried again later, so
    rows that keep failing wait behind the ones that are due and never fill the batch."""
    now = now or utcnow()
    report = DueReport()
    for schedule_id in _due(services, now):
        try:
            # Dispatched outside this try: the schedule was carried out once it committed.
            with outbox.writing(services.sessions, later=True) as written:
                _carry_out(written.session, schedule_id, now)
        except Exception as error:
            # One bad row must not block the rest.
            log.exception("schedule %s could not be carried out", schedule_id)
            _record_failure(services, schedule_id, error, now)
            continue
        report.outcomes += written.dispatch()
    return report


def _due(services: Services, now: datetime) -> list[int]:
    with transaction(services.sessions) as session:
        return list(
            session.scalars(
                select(Schedule.id)
                .where(_is_due(now))
                .order_by(Schedule.next_attempt_at, Schedule.id)
                .limit(DUE_BATCH)
            )
        )


def _is_due(now: datetime) -> Any:
    return and_(Schedule.failed_at.is_(None), Schedule.next_attempt_at <= now)


def _record_failure(services: Services, schedule_id: int, error: Exception, now: datetime) -> None:
    """Count the failed try; the next waits twice as long as the last. After MAX_ATTEMPTS the
    row gives up: it stays, marked failed with its error, for the editor to see in the
    article (and ops on the dashboard), to cancel or to move to a new time."""
    with transaction(services.sessions) as session:
        row = session.get(Schedule, schedule_id, with_for_update=True)
        if row is None:
            return
        row.attempts += 1
        row.last_error = f"{type(error).__name__}: {error}"[:2000]
        if row.attempts >= MAX_ATTEMPTS:
            row.failed_at = now
            log.error("schedule %s gave up after %s tries", schedule_id, row.attempts)
        else:
            row.next_attempt_at = now + backoff(row.attempts)


def backoff(attempts: int) -> timedelta:
    """How long after its `attempts`-th failure a schedule is tried again."""
    factor: int = 2 ** (attempts - 1)
    return min(BACKOFF_CAP, BACKOFF_FIRST * factor)


def _carry_out(session: Session, schedule_id: int, now: datetime) -> None:
    # SKIP LOCKED: a row another process is carrying out right now is its business; and
    # due again, not since put off by that process's failure.
    row = session.scalar(
        select(Schedule)
        .where(Schedule.id == schedule_id, _is_due(now))
        .with_for_update(skip_locked=True)
    )
    if row is None:
        return
    article = session.get(Article, row.article_id)
    assert article is not None  # the schedule goes with its article (ON DELETE CASCADE)
    actor, action = f"schedule ({row.actor})", row.action
    if action == ScheduleAction.PUBLISH:
        # Dated by the embargo, not by when the job happened to run.
        change = publish_now(session, article.slug, actor=actor, now=now, dated=row.due_at)
    else:
        change = unpublish_now(session, article.slug, actor=actor, now=now)
    session.execute(delete(Schedule).where(Schedule.id == schedule_id))
    log.info("schedule %s: %s %s, event %s", schedule_id, action, article.slug, change.event_id)
