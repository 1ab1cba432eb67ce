"""A rebuild's outcome does not depend on the order its chunks run in.

Two workers index chunks side by side, and a resumed rebuild runs what was left after what
was done: the related index a rebuild leaves (documents, norms, postings) and the rails and
pages built from it must be the same whatever the order. Two copies of one archive are
rebuilt on PostgreSQL with their chunks run in opposite orders (and in one, an index chunk
run again after its worker died having committed its work), and compared."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pipeline.cli.demo_content import generate_articles
from pipeline.config import Settings
from pipeline.content import articles
from pipeline.content.inputs import parse_article
from pipeline.db import transaction
from pipeline.events.models import Event, EventStatus
from pipeline.events.processing import process_event
from pipeline.publish import rebuild
from pipeline.publish.models import RebuildChunk
from pipeline.related.models import RelatedDocument, RelatedRail, RelatedTerm
from pipeline.services import Services, create_services
from tests.conftest import SITE_URL
from tests.dispatchers import Held
from tests.realstack import create_database, drop_database

IMPORTED_AT = datetime(2026, 9, 1, tzinfo=UTC)
ARCHIVE = 14

Order = Callable[[list[int]], list[int]]


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rebuild, "CHUNK_ARTICLES", 2)
    monkeypatch.setattr(rebuild, "CHUNK_OUTPUTS", 20)


@pytest.fixture
def two_sites(tmp_path: Path) -> Iterator[tuple[Services, Services]]:
    urls = [create_database(), create_database()]
    sites = tuple(
        create_services(
            Settings(database_url=url, storage_url=f"file://{tmp_path / str(n)}", site_url=SITE_URL)
        )
        for n, url in enumerate(urls)
    )
    yield sites  # type: ignore[misc]
    for services, url in zip(sites, urls, strict=True):
        services.engine.dispose()
        drop_database(url)


def rebuilt(services: Services, order: Order, *, died: bool = False) -> dict[str, Any]:
    """The archive imported, and the rebuild it requests run chunk by chunk in this process,
    each phase's chunks in `order`; returns what the rebuild left. `died`: the first index
    chunk's first try did its work and committed it, then its worker died before marking
    the chunk done, so the chunk runs again over its own work."""
    records = [parse_article(record)[0] for record in generate_articles(ARCHIVE, seed=16)]
    with transaction(services.sessions) as session:
        event_id = articles.import_articles(
            session, records, actor="test", now=IMPORTED_AT
        ).event_id
    queue = Held()
    assert process_event(services, queue, event_id).status == EventStatus.STARTED
    while chunks := [int(chunk) for chunk in queue.take("chunk")]:  # type: ignore[call-overload]
        if died:
            died = False
            with transaction(services.sessions) as session:
                payload = session.get_one(RebuildChunk, chunks[0]).payload
            rebuild._work(services, event_id, "index", payload, {})
        for chunk_id in order(chunks):
            rebuild.run_chunk(services, queue, chunk_id)
    with transaction(services.sessions) as session:
        event = session.get(Event, event_id)
        assert event is not None
        assert event.status == EventStatus.LIVE
        return {
            "documents": session.execute(
                select(
                    RelatedDocument.article_id,
                    RelatedDocument.norm,
                    RelatedDocument.indexed_version,
                    RelatedDocument.vocabulary,
                    RelatedDocument.term_weights,
                ).order_by(RelatedDocument.article_id)
            ).all(),
            "postings": session.execute(
                select(RelatedTerm.article_id, RelatedTerm.term, RelatedTerm.weight).order_by(
                    RelatedTerm.article_id, RelatedTerm.term
                )
            ).all(),
            "rails": session.execute(
                select(
                    RelatedRail.article_id,
                    RelatedRail.rank,
                    RelatedRail.neighbour_id,
                    RelatedRail.score,
                    RelatedRail.terms,
                ).order_by(RelatedRail.article_id, RelatedRail.rank)
            ).all(),
            "site": {key: services.storage.get(key) for key in sorted(services.storage.keys())},
        }


def test_a_rebuild_gives_the_same_index_rails_and_pages_whatever_order_its_chunks_run_in(
    two_sites: tuple[Services, Services], small_chunks: None
) -> None:
    first, second = two_sites
    forwards = rebuilt(first, sorted)
    backwards = rebuilt(second, lambda chunks: sorted(chunks, reverse=True), died=True)

    assert len(forwards["documents"]) == ARCHIVE
    assert len(forwards["postings"]) > ARCHIVE * 20
    assert len(forwards["rails"]) >= ARCHIVE
    for part in ("documents", "postings", "rails", "site"):
        assert forwards[part] == backwards[part], part
