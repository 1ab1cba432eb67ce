"""Paging counted from the oldest item, read from whichever end is nearer."""

from __future__ import annotations

from pipeline.db import transaction
from pipeline.site.lists import ListRef, count, page, page_count, page_of
from tests.conftest import Newsroom


def test_pages_are_numbered_from_the_oldest() -> None:
    assert [page_of(position, 20) for position in (0, 19, 20, 39, 40)] == [1, 1, 2, 2, 3]
    assert [page_count(total, 20) for total in (0, 1, 20, 21, 40, 41)] == [0, 1, 1, 2, 2, 3]


def test_every_page_holds_its_block_whichever_end_it_is_read_from(newsroom: Newsroom) -> None:
    total, size = 23, 5
    for number in range(total):
        newsroom.publish(slug=f"item-{number}", section="paging", tags=[])
    ref = ListRef("section", "paging")
    oldest_first = [f"item-{number}" for number in range(total)]
    with transaction(newsroom.services.sessions) as session:
        assert count(session, ref) == total
        for number in range(1, page_count(total, size) + 1):
            block = oldest_first[(number - 1) * size : number * size]
            slugs = [item.slug for item in page(session, ref, number, size, total)]
            assert slugs == list(reversed(block)), number
        assert page(session, ref, page_count(total, size) + 1, size, total) == []
        assert page(session, ref, 0, size, total) == []


def test_a_position_counts_the_members_before_any_key(newsroom: Newsroom) -> None:
    """Counted from the newest end, a key's position is still the number of older members,
    for members, for keys between them (ties on the date broken by id) and beyond both ends."""
    from datetime import timedelta

    from sqlalchemy import select

    from pipeline.content.models import Article
    from pipeline.site.lists import SortKey, position

    for number in range(7):
        # Pairs share a date: the id breaks the tie.
        newsroom.publish(
            slug=f"pos-{number}", section="positions", published_at=f"2024-02-0{1 + number // 2}"
        )
    ref = ListRef("section", "positions")
    with transaction(newsroom.services.sessions) as session:
        members = session.execute(
            select(Article.published_at, Article.id).where(Article.slug.like("pos-%"))
        ).all()
        keys = {SortKey(when, article_id) for when, article_id in members}
        keys |= {SortKey(when, article_id + 1000) for when, article_id in members}
        keys |= {SortKey(when - timedelta(days=30), 0) for when, _ in members}
        keys |= {SortKey(when + timedelta(days=30), 0) for when, _ in members}
        for key in keys:
            older = sum((when, article_id) < (key.published_at, key.article_id)
                        for when, article_id in members)  # fmt: skip
            assert position(session, ref, key) == older, key
