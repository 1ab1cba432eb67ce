"""The generated sample newsroom: deterministic, well-formed, and topical enough for the rail."""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime, timedelta
from statistics import mean

import pytest

from pipeline.cli.demo_content import generate_articles

SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
KEYS = {"slug", "title", "standfirst", "body", "section", "tags", "authors", "published_at"}
SECTIONS = {"politics", "business", "technology", "science", "sport", "culture", "world"}
COMMON_WORDS = (
    "a an and are as at be been but by for from had has have in is it its of on or that the "
    "their this to was were will with after about said says over more not than they"
)
STOPWORDS = frozenset(COMMON_WORDS.split())


@pytest.fixture(scope="module")
def articles() -> list[dict[str, object]]:
    return generate_articles(300)


def _words(article: dict[str, object]) -> set[str]:
    text = f"{article['title']} {article['body']}".lower()
    return set(re.findall(r"[a-z]+", text)) - STOPWORDS


def _strings(value: object) -> list[str]:
    assert isinstance(value, list)
    assert all(isinstance(item, str) for item in value)
    return value


def test_same_seed_gives_byte_identical_output() -> None:
    first = json.dumps(generate_articles(200, seed=7), ensure_ascii=False)
    assert first == json.dumps(generate_articles(200, seed=7), ensure_ascii=False)
    assert first != json.dumps(generate_articles(200, seed=8), ensure_ascii=False)
    assert generate_articles() == generate_articles(300, seed=2024)


@pytest.mark.parametrize("count", [0, 1, 10, 300, 1000])
def test_count_is_respected(count: int) -> None:
    assert len(generate_articles(count)) == count


def test_negative_count_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        generate_articles(-1)


def test_keys_are_exactly_the_article_fields(articles: list[dict[str, object]]) -> None:
    with_image = 0
    for article in articles:
        assert set(article) in (KEYS, KEYS | {"image"})
        image = article.get("image")
        if image is not None:
            with_image += 1
            assert isinstance(image, dict)
            assert set(image) == {"url", "alt"}
            assert image["url"] == f"/static/demo/{article['section']}.svg"
            assert isinstance(image["alt"], str)
            assert image["alt"].strip()
    assert 0.2 < with_image / len(articles) < 0.45


@pytest.mark.parametrize("count", [300, 3000])
def test_slugs_are_unique_and_well_formed(count: int) -> None:
    slugs = [str(article["slug"]) for article in generate_articles(count)]
    assert len(set(slugs)) == count
    for slug in slugs:
        assert SLUG.fullmatch(slug), slug
        assert len(slug) <= 80


def test_slug_comes_from_the_headline(articles: list[dict[str, object]]) -> None:
    for article in articles:
        title_words = re.findall(r"[a-z0-9]+", str(article["title"]).lower().replace("'", ""))
        assert str(article["slug"]).split("-")[0] == title_words[0]


def test_dates_are_distinct_sorted_and_spread_over_months(
    articles: list[dict[str, object]],
) -> None:
    stamps = [str(article["published_at"]) for article in articles]
    assert all(TIMESTAMP.fullmatch(stamp) for stamp in stamps)
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps)
    moments = [datetime.fromisoformat(stamp).astimezone(UTC) for stamp in stamps]
    assert datetime(2026, 3, 1, tzinfo=UTC) <= moments[0]
    assert moments[-1] < datetime(2026, 9, 1, tzinfo=UTC)
    assert len({moment.month for moment in moments}) == 6


def test_sections_tags_and_authors(articles: list[dict[str, object]]) -> None:
    assert {article["section"] for article in articles} == SECTIONS
    section_of_tag: dict[str, object] = {}
    for article in articles:
        tags = _strings(article["tags"])
        assert 1 <= len(tags) <= 3
        assert len(set(tags)) == len(tags)
        for tag in tags:
            assert SLUG.fullmatch(tag), tag
            assert section_of_tag.setdefault(tag, article["section"]) == article["section"]
        authors = _strings(article["authors"])
        assert 1 <= len(authors) <= 2
        assert len(set(authors)) == len(authors)
    assert len(section_of_tag) >= 6 * len(SECTIONS)
    assert len({name for article in articles for name in _strings(article["authors"])}) <= 20


def test_text_fields_read_like_news(articles: list[dict[str, object]]) -> None:
    for article in articles:
        title, standfirst = str(article["title"]), str(article["standfirst"])
        assert not title[0].islower()  # a capital, or a figure such as "£40m"
        assert not title.endswith(".")
        assert standfirst[0].isupper()
        assert standfirst.endswith(".")
        assert ". " not in standfirst  # one sentence
    assert len({article["title"] for article in articles}) == len(articles)


def test_bodies_are_plain_text_with_4_to_8_paragraphs_of_150_to_450_words() -> None:
    for article in generate_articles(1000, seed=11):
        body = str(article["body"])
        paragraphs = body.split("\n\n")
        assert 4 <= len(paragraphs) <= 8
        assert all(paragraph.strip() == paragraph and paragraph for paragraph in paragraphs)
        assert "\n" not in "".join(paragraphs)
        assert 150 <= len(body.split()) <= 450
        assert "<" not in body
        assert ">" not in body


def test_articles_on_one_topic_share_more_words_than_articles_across_sections(
    articles: list[dict[str, object]],
) -> None:
    words = [_words(article) for article in articles]
    same_tag, same_topic, same_section, other_section = [], [], [], []
    for (i, first), (j, second) in itertools.combinations(enumerate(articles), 2):
        shared = len(words[i] & words[j])
        first_tags, second_tags = _strings(first["tags"]), _strings(second["tags"])
        if set(first_tags) & set(second_tags):
            same_tag.append(shared)
        if first["section"] != second["section"]:
            other_section.append(shared)
        elif first_tags[0] == second_tags[0]:
            same_topic.append(shared)
        else:
            same_section.append(shared)
    assert mean(same_tag) > 2 * mean(other_section)
    # Within a section, the topic's own people, places and nouns still set stories apart.
    assert mean(same_topic) > 1.1 * mean(same_section)


@pytest.mark.parametrize(
    "until",
    [
        datetime(2026, 12, 7, 2, 5, 51, tzinfo=UTC),  # before the day's first story (06:00)
        datetime(2026, 12, 7, 14, 30, tzinfo=UTC),
        datetime(2027, 1, 1, 23, 59, tzinfo=UTC),
    ],
)
def test_dated_up_to_until_over_six_months(until: datetime) -> None:
    moments = [
        datetime.fromisoformat(str(article["published_at"]))
        for article in generate_articles(300, until=until)
    ]
    assert moments == sorted(moments)
    assert moments[-1] <= until
    assert until - moments[-1] < timedelta(days=3)  # the newest stories are recent
    assert until - moments[0] <= timedelta(days=184)
    assert len({(moment.year, moment.month) for moment in moments}) >= 6


def test_the_same_until_gives_the_same_articles() -> None:
    until = datetime(2026, 12, 7, 14, 30, tzinfo=UTC)
    assert generate_articles(50, until=until) == generate_articles(50, until=until)


def test_tags_stay_within_the_story_topic(articles: list[dict[str, object]]) -> None:
    """One topic tag a story, never two (no rugby story tagged tennis); the other tags name
    the place or organisation the story is about, and so appear in it."""
    topic_tags = {_strings(article["tags"])[0] for article in articles}
    for article in articles:
        tags = _strings(article["tags"])
        assert len(set(tags) & topic_tags) == 1, tags
        text = f"{article['title']} {article['standfirst']} {article['body']}".lower()
        for tag in tags[1:]:
            assert tag.replace("-", " ") in text.replace("'", "").replace("-", " "), tag
