"""Lists rendered in bulk (SQLite): the same bytes as rendered one by one."""

from __future__ import annotations

from pathlib import Path

from pipeline.config import Settings
from pipeline.services import create_services
from tests.bulk import PAST_THE_END, assert_bulk_equals_one_by_one
from tests.conftest import SITE_URL


def test_lists_rendered_in_bulk_are_the_lists_rendered_one_by_one(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'bulk.db'}",
        storage_url=f"file://{tmp_path / 'site'}",
        site_url=SITE_URL,
        page_size=3,
    )
    services = create_services(settings)
    try:
        assert_bulk_equals_one_by_one(services, extra_specs=PAST_THE_END)
    finally:
        services.engine.dispose()
