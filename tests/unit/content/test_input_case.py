"""Sections, tags and slugs are lower-cased, as a newsroom's tools send them (`World`,
`Rugby`): one section page whatever the spelling. What is still wrong after that is refused,
never rewritten."""

from __future__ import annotations

import pytest

from pipeline.content.inputs import InvalidInput, parse_article


def test_sections_tags_and_slugs_are_lower_cased() -> None:
    parsed, _ = parse_article(
        {"slug": "Allies-Resume-Talks", "title": "Allies resume talks", "body": "Text.",
         "section": "World", "tags": ["Rugby", " Six-Nations "]}
    )  # fmt: skip
    assert parsed.section == "world"
    assert parsed.tags == ["rugby", "six-nations"]
    assert parsed.slug == "allies-resume-talks"


@pytest.mark.parametrize("section", ["World News", "../World", "WORLD_NEWS", "World--News"])
def test_what_is_still_wrong_once_lower_cased_is_refused(section: str) -> None:
    with pytest.raises(InvalidInput, match=r"^section: must be lower-case letters"):
        parse_article({"title": "A story", "body": "Text.", "section": section})
