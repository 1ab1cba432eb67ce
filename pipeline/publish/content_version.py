"""One counter of the commits that changed what pages are rendered from.

A build re-checks the outputs it wrote (versioned writes, pipeline/publish/build.py): when the data
moved on while they were rendered and uploaded, a render from older data may have landed
last, so they are rendered again. Reading this counter before rendering and again after
uploading says whether anything moved in between; when nothing did, the second render would
give the same bytes and is skipped (rendering every output twice would double a build's
rendering).

Every session from `make_session_factory` counts for itself: a commit that inserted, updated
or deleted rows of a table renders read adds one, as its last statement. Committers queue on
the row only for their commit, and one holding it waits on no other lock, so the counter adds
no deadlock. Reading it takes no lock.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from pipeline.publish.models import ContentVersion

# The tables renders read (pipeline/render/renderer.py, pipeline/site/lists.py).
RENDER_INPUTS = frozenset(
    {
        "articles",
        "article_tags",
        "article_authors",
        "sections",
        "tags",
        "redirects",
        "related_rails",
        "sitemap_months",
        "site_navigation",
    }
)
_CHANGED = "render_inputs_changed"


def track(factory: sessionmaker[Session]) -> None:
    """Count the commits of this factory's sessions that change render inputs."""
    event.listen(factory, "before_flush", _note_flush)
    event.listen(factory, "do_orm_execute", _note_statement)
    event.listen(factory, "before_commit", _count_commit)
    event.listen(factory, "after_rollback", _forget)


def current(session: Session) -> int | None:
    """The counter as this transaction sees it (None if the row is missing: never skip)."""
    return session.scalar(select(ContentVersion.version).where(ContentVersion.id == 1))


def bump(session: Session) -> int | None:
    """Move the counter on without a change of data, and return its new value (None if the
    row is missing). Taken as its transaction's last lock, as a commit's own count is."""
    return session.scalar(
        update(ContentVersion)
        .where(ContentVersion.id == 1)
        .values(version=ContentVersion.version + 1)
        .returning(ContentVersion.version)
    )


def _note_flush(session: Session, _context: Any, _instances: Any) -> None:
    for instance in (*session.new, *session.dirty, *session.deleted):
        if getattr(instance, "__tablename__", None) in RENDER_INPUTS:
            session.info[_CHANGED] = True
            return


def _note_statement(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in RENDER_INPUTS:
            state.session.info[_CHANGED] = True


def _count_commit(session: Session) -> None:
    session.flush()  # the commit's own flush comes after this hook: note its changes first
    if session.info.pop(_CHANGED, False):
        session.execute(
            update(ContentVersion)
            .where(ContentVersion.id == 1)
            .values(version=ContentVersion.version + 1)
        )


def _forget(session: Session) -> None:
    session.info.pop(_CHANGED, None)
