"""Questions of the form "what if it were published now?".

Impact is a read: the article's change is applied in memory only (never flushed), the
related index keeps what it would write (pipeline/related/preview.py), and the planner reads the
lists as they stand. Its transaction is read-only (PostgreSQL and SQLite refuse any write),
so it takes no write lock and no publish ever waits for it.

A preview's page is rendered from the change made for real, by the same code, inside a
transaction that is always rolled back: nothing is written, no event survives, nothing is
dispatched. Never call it inside another open transaction: on SQLite the rolled-back one
needs the write lock too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Literal

from sqlalchemy.orm import Session

from pipeline.content import articles, schedule
from pipeline.db import SessionFactory
from pipeline.related.preview import RailPreview
from pipeline.render.renderer import key_of
from pipeline.services import Services
from pipeline.site.outputs import OutputSpec
from pipeline.site.planner import move_of, plan_move

Action = Literal["publish", "unpublish"]
ACTOR = "what-if"


@contextmanager
def rolled_back(factory: SessionFactory) -> Iterator[Session]:
    with factory() as session:
        session.begin()
        try:
            yield session
        finally:
            session.rollback()


@contextmanager
def read_only(factory: SessionFactory) -> Iterator[Session]:
    """A transaction the database itself keeps from writing, that never flushes."""
    with factory() as session, session.no_autoflush:
        session.begin()
        connection = session.connection()
        sqlite = connection.dialect.name == "sqlite"
        connection.exec_driver_sql(
            "PRAGMA query_only = ON" if sqlite else "SET TRANSACTION READ ONLY"
        )
        try:
            yield session
        finally:
            if sqlite:  # a connection setting: the pool's next user writes again
                connection.exec_driver_sql("PRAGMA query_only = OFF")
            session.rollback()


def impact(services: Services, slug: str, action: Action, now: datetime) -> list[OutputSpec]:
    """The outputs the change would re-render or delete right now, from the dependency table
    (site furniture, which no article changes, left out)."""
    with read_only(services.sessions) as session:
        article = articles.article_by_slug(session, slug)
        previous = articles.snapshot(article)
        if action == "publish":
            dated = schedule.publication_date(session, article, now)
            articles.go_live(article, now=now, published_at=dated)
        else:
            articles.take_down(article, now=now)
        rails = RailPreview(services.related).apply_change(session, article)
        move = move_of(article, previous)
        kinds = services.kinds
        specs = plan_move(session, services.settings, move, rails, written=False, kinds=kinds)
    return sorted(specs - kinds.furniture)


def render_as_live(services: Services, slug: str, now: datetime) -> bytes:
    """The article page as it would be if the article went live now: its current content,
    its "Latest articles" and its "More like this" rails."""
    with rolled_back(services.sessions) as session:
        article = articles.article_by_slug(session, slug)
        if not article.is_live:
            schedule.publish_now(session, slug, actor=ACTOR, now=now)
        services.related.apply_change(session, article)
        return services.renderer.article_page(session, article, key_of(article)).body
