"""Shared fixtures: each test gets its own SQLite file and site folder (the embedded default)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pipeline.config import Settings
from pipeline.content import articles, schedule
from pipeline.content.inputs import parse_article
from pipeline.content.models import Article
from pipeline.db import transaction
from pipeline.events import outbox
from pipeline.events.processing import Outcome, dispatch_event
from pipeline.render.renderer import key_of
from pipeline.schema import utcnow
from pipeline.services import Services, create_services
from pipeline.storage import TransientStorageError
from workers.app import CeleryDispatcher, create_app

SITE_URL = "https://news.example.com"
_clock = count()
_first_seen: dict[str, int] = {}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'pressrun.db'}",
        storage_url=f"file://{tmp_path / 'site'}",
        site_url=SITE_URL,
        site_name="The Test Gazette",
    )


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    built = create_services(settings)
    yield built
    built.engine.dispose()


def article_data(**overrides: Any) -> dict[str, Any]:
    """A valid article. A new slug is published a minute after the previous one; publishing
    a slug again keeps its date unless the test gives one."""
    number = next(_clock)
    slug = overrides.get("slug") or f"story-{number}"
    minute = _first_seen.setdefault(slug, number)
    data: dict[str, Any] = {
        "slug": slug,
        "title": f"Story number {number}",
        "standfirst": "A standfirst that sums the story up.",
        "body": "First paragraph of the story.\n\nSecond paragraph, with more detail.",
        "section": "politics",
        "tags": ["elections"],
        "authors": ["Ann Writer"],
        "published_at": (datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=minute)).isoformat(),
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


class Newsroom:
    """Drives the domain the way the CLI does: one transaction per change, through the write
    path (`schedule`), whose sessions dispatch its event once it has closed. `services` stay
    as given: what a test writes through them is not dispatched."""

    def __init__(self, services: Services) -> None:
        self.services = services
        app = create_app(services.settings, lambda: services)
        self.dispatcher = CeleryDispatcher(app)
        self.desk = services.dispatching(partial(dispatch_event, services, self.dispatcher))

    def publish(self, **overrides: Any) -> Outcome:
        data, _ = parse_article(article_data(**overrides))
        with outbox.writing(self.desk.sessions) as written:
            schedule.save_and_publish(written.session, data, actor="test", now=utcnow())
        return written.outcome

    def unpublish(self, slug: str) -> Outcome:
        with outbox.writing(self.desk.sessions) as written:
            schedule.unpublish_now(written.session, slug, actor="test", now=utcnow())
        return written.outcome

    def rebuild(self, *, force: bool = False) -> Outcome:
        with outbox.writing(self.desk.sessions) as written:
            articles.request_rebuild(written.session, actor="test", force=force)
        return written.outcome

    def key(self, slug: str) -> str:
        with transaction(self.services.sessions) as session:
            article = session.scalars(select(Article).where(Article.slug == slug)).one()
            return key_of(article)

    def read(self, key: str) -> str | None:
        body = self.services.storage.get(key)
        return body.decode("utf-8") if body is not None else None

    def stored_keys(self) -> set[str]:
        return set(self.services.storage.keys())


@pytest.fixture
def newsroom(services: Services) -> Newsroom:
    return Newsroom(services)


class FlakyCdn:
    """A CDN purger (pipeline.storage.CdnPurger) that can be down: what it purged, in order."""

    def __init__(self) -> None:
        self.purged: list[str] = []
        self.down = False

    def purge(self, paths: list[str]) -> list[str]:
        if self.down:
            raise TransientStorageError("503 on CloudFront invalidation: Service Unavailable")
        self.purged += paths
        return [f"I{len(self.purged)}"]
