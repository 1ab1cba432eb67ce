"""Lists rendered in bulk (SQLite): the same bytes as rendered one by one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from pipeline.config import Settings
from pipeline.services import create_services
from pipeline.site import lists
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


def test_a_list_shorter_than_its_count_is_read_on_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The count and the ranks are two statements: an unpublish committed between them leaves
    a list a rank short. Its pages are then read on their own, never a KeyError."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'bulk.db'}",
        storage_url=f"file://{tmp_path / 'site'}",
        site_url=SITE_URL,
        page_size=3,
    )
    services = create_services(settings)
    ranked_many = lists.ranked_many

    def one_short(session: Session, kind: str, wanted: dict[str, lists.Ranks]) -> Any:
        found = ranked_many(session, kind, wanted)
        for members in found.values():
            members.pop(max(members), None)
        return found

    monkeypatch.setattr(lists, "ranked_many", one_short)
    try:
        assert_bulk_equals_one_by_one(services, expect_bulk_pages=False)
    finally:
        services.engine.dispose()
