"""Rails in bulk on PostgreSQL, whose postings are read with a LATERAL join (SQLite's with a
UNION ALL): the neighbours and rails are the per-article query's
(tests/unit/related/test_bulk.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.config import Settings
from pipeline.related import bulk, candidates
from pipeline.services import Services, create_services
from tests.integration.conftest import database_url  # noqa: F401 (a fixture)
from tests.unit.related.test_bulk import (
    CUTS,
    assert_bulk_finds_the_per_article_neighbours,
    assert_drafted_rails_are_the_refreshed_rails,
    indexed_corpus,
)


@pytest.fixture
def postgres_services(database_url: str, tmp_path: Path) -> Iterator[Services]:  # noqa: F811
    settings = Settings(database_url=database_url, storage_url=f"file://{tmp_path / 'site'}")
    services = create_services(settings)
    yield services
    services.engine.dispose()


@pytest.mark.parametrize(("cap", "shortlist", "fetched"), CUTS)
def test_bulk_neighbours_are_the_per_article_neighbours_on_postgresql(
    postgres_services: Services,
    monkeypatch: pytest.MonkeyPatch,
    cap: int,
    shortlist: int,
    fetched: int,
) -> None:
    monkeypatch.setattr(candidates, "POSTINGS_PER_TERM", cap)
    monkeypatch.setattr(candidates, "SHORTLIST", shortlist)
    monkeypatch.setattr(candidates, "CANDIDATES", fetched)
    # Several statements and groups, as a large chunk reads them.
    monkeypatch.setattr(candidates, "TERMS_PER_STATEMENT", 50)
    monkeypatch.setattr(bulk, "IDS_PER_STATEMENT", 30)
    ids = indexed_corpus(postgres_services)
    assert_bulk_finds_the_per_article_neighbours(postgres_services, ids)


def test_drafted_rails_are_the_refreshed_rails_on_postgresql(postgres_services: Services) -> None:
    ids = indexed_corpus(postgres_services)
    assert_drafted_rails_are_the_refreshed_rails(postgres_services, ids)
