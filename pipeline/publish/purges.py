"""CDN purges as an outbox. The paths a build changed are recorded in the manifest's own
transaction, purged right after its commit, and forgotten once the CDN took the purge. A
purge that fails (the CDN is down or throttling, the worker died) stays recorded and the
relay tries it again with backoff until it is done: a reader never keeps a cached page the
store has replaced for longer than the CDN is unreachable. `/metrics` and the dashboard show
how many are pending and since when."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from pipeline.db import SessionFactory, transaction
from pipeline.publish.models import PendingPurge
from pipeline.schema import utcnow
from pipeline.storage import CdnPurger

# The requester purges at once; the relay takes a request over after this many seconds...
FIRST_RETRY_SECONDS = 10
# ...then waits twice as long after each failure, up to this.
MAX_RETRY_SECONDS = 300
# Paths the relay purges in one round (one invalidation: CloudFront takes up to 3,000).
RETRY_BATCH = 1000
# SQLite caps bound parameters: IN lists of (path, requests) pairs stay well under it.
CHUNK = 250

log = logging.getLogger("pressrun.purges")
Tickets = dict[str, int]


@dataclass(frozen=True)
class Backlog:
    """Purges not done yet: how many, the oldest request, and the last error."""

    pending: int
    oldest: datetime | None
    error: str | None = None

    def age(self, now: datetime) -> float:
        return (now - self.oldest).total_seconds() if self.oldest is not None else 0.0


def retry_delay(attempts: int) -> timedelta:
    return timedelta(seconds=min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2**attempts))


def request(session: Session, paths: Iterable[str]) -> Tickets:
    """Record `paths` as to purge, in the caller's transaction (the manifest's); returns
    each path's request number, which `purge` needs. Rows are written in path order, so
    concurrent builds wait for each other instead of deadlocking."""
    now = utcnow()
    wanted = sorted(set(paths))
    if not wanted:
        return {}
    table = PendingPurge.__table__
    statement = _insert(session)(table)
    due = now + retry_delay(0)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c.path],
            set_={"requests": table.c.requests + 1, "next_attempt_at": due},
        ),
        [
            {"path": path, "requests": 1, "requested_at": now, "next_attempt_at": due,
             "attempts": 0}
            for path in wanted
        ],
    )  # fmt: skip
    tickets: Tickets = {}
    for start in range(0, len(wanted), CHUNK):
        rows = session.execute(
            select(PendingPurge.path, PendingPurge.requests).where(
                PendingPurge.path.in_(wanted[start : start + CHUNK])
            )
        )
        tickets.update(rows.all())
    return tickets


def purge(purger: CdnPurger, factory: SessionFactory, tickets: Tickets) -> bool:
    """Purge these paths now. Done, the requests are forgotten (a path asked again meanwhile
    is kept: that later write needs its own purge); failed, they are kept with the error
    and the time of the next try. Never raises: the pages are stored, and the relay will
    finish the purge."""
    if not tickets:
        return True
    try:
        purger.purge(sorted(tickets))
    except Exception as error:  # the CDN is down or refuses: try again later
        _failed(factory, tickets, f"{type(error).__name__}: {error}"[:4000])
        log.warning("CDN purge of %d paths failed, will retry: %s", len(tickets), error)
        return False
    _done(factory, tickets)
    return True


def retry_due(purger: CdnPurger, factory: SessionFactory) -> int:
    """The relay's share: purge the requests whose time has come (their first purge failed,
    or its worker died); returns how many paths were purged."""
    with transaction(factory) as session:
        rows = session.execute(
            select(PendingPurge.path, PendingPurge.requests)
            .where(PendingPurge.next_attempt_at <= utcnow())
            .order_by(PendingPurge.next_attempt_at, PendingPurge.path)
            .limit(RETRY_BATCH)
        )
        tickets: Tickets = dict(rows.all())
    return len(tickets) if tickets and purge(purger, factory, tickets) else 0


def backlog(session: Session, *, with_error: bool = False) -> Backlog:
    """What is pending, in one statement (two `with_error`)."""
    pending, oldest = session.execute(
        select(func.count(), func.min(PendingPurge.requested_at))
    ).one()
    error = None
    if with_error and pending:
        error = session.scalar(
            select(PendingPurge.error)
            .where(PendingPurge.error.is_not(None))
            .order_by(PendingPurge.next_attempt_at.desc())
            .limit(1)
        )
    return Backlog(int(pending or 0), oldest, error)


def _done(factory: SessionFactory, tickets: Tickets) -> None:
    pairs = sorted(tickets.items())
    with transaction(factory) as session:
        for start in range(0, len(pairs), CHUNK):
            session.execute(
                delete(PendingPurge).where(
                    tuple_(PendingPurge.path, PendingPurge.requests).in_(
                        pairs[start : start + CHUNK]
                    )
                )
            )


def _failed(factory: SessionFactory, tickets: Tickets, message: str) -> None:
    now = utcnow()
    paths = sorted(tickets)
    with transaction(factory) as session:
        for start in range(0, len(paths), CHUNK):
            rows = session.scalars(
                select(PendingPurge)
                .where(PendingPurge.path.in_(paths[start : start + CHUNK]))
                .order_by(PendingPurge.path)
                .with_for_update()
            )
            for row in rows:
                row.attempts += 1
                row.error = message
                row.next_attempt_at = now + retry_delay(row.attempts)


def _insert(session: Session) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
