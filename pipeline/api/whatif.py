"""Questions of the form "what if it were published now?": the change is made for real, by
the same code, inside a transaction that is always rolled back. Nothing is written, no event
survives, nothing is dispatched.

Never call these inside another open transaction: on SQLite the rolled-back one needs the
write lock too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Literal

from sqlalchemy.orm import Session

from pipeline import articles, schedule
from pipeline.db import SessionFactory
from pipeline.models import Article, Event
from pipeline.outputs import OutputSpec
from pipeline.planner import FURNITURE, plan_change
from pipeline.render import key_of
from pipeline.services import Services

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


def impact(services: Services, slug: str, action: Action, now: datetime) -> list[OutputSpec]:
    """The outputs the change would re-render or delete right now, from the dependency table
    (site furniture, which no article changes, left out)."""
    with rolled_back(services.sessions) as session:
        if action == "publish":
            change = schedule.publish_now(session, slug, actor=ACTOR, now=now)
        else:
            change = schedule.unpublish_now(session, slug, actor=ACTOR, now=now)
        event = session.get(Event, change.event_id)
        article = session.get(Article, change.article_id)
        assert event is not None
        assert article is not None
        rails = services.related.apply_change(session, article)
        specs = plan_change(session, services.settings, article, event.previous, rails)
    return sorted(specs - FURNITURE)


def render_as_live(services: Services, slug: str, now: datetime) -> bytes:
    """The article page as it would be if the article went live now: its current content,
    its "Latest articles" and its "More like this" rails."""
    with rolled_back(services.sessions) as session:
        article = articles.article_by_slug(session, slug)
        if not article.is_live:
            schedule.publish_now(session, slug, actor=ACTOR, now=now)
        services.related.apply_change(session, article)
        return services.renderer.article_page(session, article, key_of(article)).body
