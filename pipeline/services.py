"""The domain's services built once from settings: database, storage, renderer, index."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import Engine

from pipeline.config import Settings
from pipeline.db import SessionFactory, make_engine, make_session_factory, upgrade
from pipeline.events.outbox import Dispatch, dispatch_after_commit
from pipeline.publish.build import Publisher
from pipeline.related.facade import RelatedIndex
from pipeline.render.renderer import Renderer
from pipeline.site.kinds import KINDS, Kinds
from pipeline.storage import Storage, open_purger, open_storage


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: SessionFactory
    storage: Storage
    renderer: Renderer
    publisher: Publisher
    related: RelatedIndex

    def dispatching(self, dispatch: Dispatch) -> Services:
        """The same services, with sessions that hand each event their transaction commits
        to `dispatch` once it has closed (each entry point makes its own; a factory without
        one writes events for the relay alone)."""
        sessions = make_session_factory(self.engine)
        dispatch_after_commit(sessions, dispatch)
        return replace(self, sessions=sessions)

    @property
    def kinds(self) -> Kinds:
        """The registry of output kinds the site is built by (the renderer's)."""
        return self.renderer.kinds


def create_services(settings: Settings, *, migrate: bool = True) -> Services:
    engine = make_engine(settings.database_url)
    if migrate:
        upgrade(engine)
    storage = open_storage(settings)
    renderer = Renderer(settings, KINDS)
    return Services(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        storage=storage,
        renderer=renderer,
        publisher=Publisher(renderer, storage, open_purger(settings)),
        related=RelatedIndex(settings),
    )
