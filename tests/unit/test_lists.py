"""Paging counted from the oldest item."""

from __future__ import annotations

from pipeline.lists import page_count, page_of


def test_pages_are_numbered_from_the_oldest() -> None:
    assert [page_of(position, 20) for position in (0, 19, 20, 39, 40)] == [1, 1, 2, 2, 3]
    assert [page_count(total, 20) for total in (0, 1, 20, 21, 40, 41)] == [0, 1, 1, 2, 2, 3]
