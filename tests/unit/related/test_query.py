"""Neighbour queries (pipeline/related/query.py): what makes two articles related."""

from __future__ import annotations

from tests.conftest import Newsroom
from tests.unit.related.topics import TOPICS, publish_topic, rail, rail_on_page


def test_related_articles_share_content_not_just_section(newsroom: Newsroom) -> None:
    for number in range(3):
        for topic in TOPICS:
            publish_topic(newsroom, f"{topic}-{number}", topic, extra=f"update {number}")
    for topic in TOPICS:
        neighbours = rail(newsroom, f"{topic}-0")
        assert set(neighbours[:2]) == {f"{topic}-1", f"{topic}-2"}, neighbours
        assert rail_on_page(newsroom, f"{topic}-0") == neighbours


def test_tags_make_articles_related(newsroom: Newsroom) -> None:
    newsroom.publish(slug="tag-a", title="Alpha", body="Unrelated words here.", tags=["mars"])
    newsroom.publish(slug="tag-b", title="Beta", body="Completely different text.", tags=["mars"])
    newsroom.publish(slug="tag-c", title="Gamma", body="Nothing in common at all.", tags=["opera"])
    assert rail(newsroom, "tag-a")[0] == "tag-b"
