"""Rebuilds on PostgreSQL: the planner statistics the site's queries need, and pages rendered
in bulk.

A rebuild usually follows a bulk import. Until the tables are analyzed, PostgreSQL plans as if
they were nearly empty: an article page's "Latest articles" query then scans and sorts half
the archive instead of reading ten rows from the index. With autovacuum off (as on this
machine) that never mends by itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from pipeline.config import Settings
from pipeline.content import articles
from pipeline.content.inputs import parse_article
from pipeline.db import transaction
from pipeline.events.models import EventStatus
from pipeline.events.processing import dispatch_event
from pipeline.publish.rebuild import STATISTICS
from pipeline.render.renderer import LATEST_BEFORE, Rendered
from pipeline.services import Services, create_services
from pipeline.site.outputs import Kind, OutputSpec
from pipeline.site.planner import plan_everything
from tests.bulk import PAST_THE_END, assert_bulk_equals_one_by_one
from tests.conftest import SITE_URL, article_data
from tests.integration.conftest import database_url  # noqa: F401 (a fixture)
from workers.app import CeleryDispatcher, create_app


@pytest.fixture
def postgres_services(database_url: str, tmp_path: Path) -> Iterator[Services]:  # noqa: F811
    settings = Settings(
        database_url=database_url, storage_url=f"file://{tmp_path / 'site'}", site_url=SITE_URL
    )
    services = create_services(settings)
    yield services
    services.engine.dispose()


def analyzed_tables(services: Services) -> set[str]:
    with transaction(services.sessions) as session:
        rows = session.execute(
            text("SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL")
        )
        return {name for (name,) in rows}


def test_an_imported_archive_is_analyzed_by_its_rebuild(postgres_services: Services) -> None:
    records = [
        parse_article(article_data(slug=f"imported-{number}", tags=["budget"]))[0]
        for number in range(12)
    ]
    with transaction(postgres_services.sessions) as session:
        change = articles.import_articles(session, records, actor="test")
    # No ANALYZE has run on the freshly loaded tables (last_analyze counts no autovacuum).
    assert "articles" not in analyzed_tables(postgres_services)

    dispatcher = CeleryDispatcher(create_app(postgres_services.settings, lambda: postgres_services))
    outcome = dispatch_event(postgres_services, dispatcher, change.event_id)

    assert outcome.status == EventStatus.LIVE
    every_table = {table for tables in STATISTICS.values() for table in tables}
    assert every_table <= analyzed_tables(postgres_services)
    with transaction(postgres_services.sessions) as session:
        estimated = session.scalar(
            text("SELECT reltuples FROM pg_class WHERE relname = 'articles'")
        )
    assert estimated == 12


def test_pages_rendered_in_bulk_are_the_pages_rendered_one_by_one(
    postgres_services: Services,
) -> None:
    """A build reads its article pages' articles and rails in bulk first (on PostgreSQL the
    "Latest articles" rails too, with a LATERAL join): the bytes and what they show must be
    those of rendering each page on its own."""
    records = [
        parse_article(
            article_data(slug=f"bulk-{number}", section=("world", "sport")[number % 3 == 0])
        )[0]
        for number in range(14)
    ]
    with transaction(postgres_services.sessions) as session:
        change = articles.import_articles(session, records, actor="test")
    dispatcher = CeleryDispatcher(create_app(postgres_services.settings, lambda: postgres_services))
    assert dispatch_event(postgres_services, dispatcher, change.event_id).status == EventStatus.LIVE
    with transaction(postgres_services.sessions) as session:
        specs = sorted(
            spec for spec in plan_everything(session, postgres_services.settings)
            if spec.kind == Kind.ARTICLE
        )  # fmt: skip
        specs.append(OutputSpec(Kind.ARTICLE, "world/2020/01/01/gone/index.html"))
        one_by_one = [postgres_services.renderer.render(session, spec) for spec in specs]
        assert LATEST_BEFORE not in session.info  # nothing was prefetched
    with transaction(postgres_services.sessions) as session:
        postgres_services.renderer.prefetch(session, specs)
        bulk = [postgres_services.renderer.render(session, spec) for spec in specs]
        assert session.info[LATEST_BEFORE]  # the LATERAL read ran

    def shown(pages: list[Rendered | None]) -> list[object]:
        return [page and (page.body, page.versions, page.data_keys) for page in pages]

    assert sum(page is not None for page in one_by_one) == 14
    assert shown(bulk) == shown(one_by_one)


def test_lists_rendered_in_bulk_are_the_lists_rendered_one_by_one(
    database_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A build reads its list pages, list tops, list lengths and months' sitemaps in a few
    statements per kind of list (a window over each list's ranks): every output of the site,
    and pages past a list's end, must be those of rendering each output on its own."""
    settings = Settings(
        database_url=database_url,
        storage_url=f"file://{tmp_path / 'site'}",
        site_url=SITE_URL,
        page_size=3,
    )
    services = create_services(settings)
    try:
        assert_bulk_equals_one_by_one(services, extra_specs=PAST_THE_END)
    finally:
        services.engine.dispose()
