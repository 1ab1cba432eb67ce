"""Bulk loads and concurrent publishes on PostgreSQL: an import written by COPY gives the rows
a one-at-a-time import gives, and the related index's document counts have no row that
every publish writes (two publishes indexing at once never wait on each other)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from pipeline.config import Settings
from pipeline.content import articles
from pipeline.content.inputs import ArticleInput, parse_article
from pipeline.content.models import Article, ArticleTag, Section, Tag
from pipeline.db import transaction
from pipeline.related.models import RelatedDocument, TermCountDelta, TermFrequency
from pipeline.related.store import ALL_DOCUMENTS
from pipeline.schema import utcnow
from pipeline.services import Services, create_services
from tests.conftest import SITE_URL, article_data
from tests.integration.conftest import database_url  # noqa: F401 (a fixture)
from tests.realstack import create_database, drop_database
from workers.app import create_app


def make_services(url: str, folder: Path) -> Services:
    return create_services(
        Settings(database_url=url, storage_url=f"file://{folder / 'site'}", site_url=SITE_URL)
    )


@pytest.fixture
def postgres_services(database_url: str, tmp_path: Path) -> Iterator[Services]:  # noqa: F811
    services = make_services(database_url, tmp_path)
    yield services
    services.engine.dispose()


def record(**overrides: Any) -> ArticleInput:
    return parse_article(article_data(**overrides))[0]


def story(number: int, words: str) -> ArticleInput:
    return record(
        id=f"story-{number}",
        slug=f"story-{number}",
        title=f"Harbour story {number}",
        body=f"The harbour council met on Tuesday. {words}",
        tags=["harbour", "council"],
    )


# -- no hot rows --------------------------------------------------------------------------


def imported(services: Services, records: list[ArticleInput]) -> list[int]:
    with transaction(services.sessions) as session:
        articles.import_articles(session, records, actor="test")
        return list(session.scalars(select(Article.id).order_by(Article.id)))


def index_in(session: Session, services: Services, article_id: int) -> None:
    article = session.get(Article, article_id)
    assert article is not None
    services.related.index_many(session, [article])


def counted(session: Session) -> dict[str, int]:
    """Document counts as a count of the index itself."""
    counts: dict[str, int] = {}
    for vocabulary in session.scalars(select(RelatedDocument.vocabulary)):
        for term in vocabulary:
            counts[term] = counts.get(term, 0) + 1
    counts[ALL_DOCUMENTS] = session.scalar(select(func.count()).select_from(RelatedDocument)) or 0
    return counts


def test_two_publishes_indexing_at_once_never_wait_on_each_others_counts(
    postgres_services: Services,
) -> None:
    """A indexes an article (terms every story shares, and the document count) and stays
    open; B indexes another and must commit at once. With counts upserted in place, B
    queued on A's row locks until A ended (here: lock_timeout)."""
    services = postgres_services
    first, second, third = imported(
        services, [story(1, "Ferries ran late."), story(2, "Ships ran late."), story(3, "")]
    )
    with transaction(services.sessions) as holding:
        index_in(holding, services, first)
        with transaction(services.sessions) as other:
            other.execute(text("SET LOCAL lock_timeout = '2s'"))
            index_in(other, services, second)
            # The holder's counts are not seen; the other's own are.
            assert services.related.store.document_counts(other, [ALL_DOCUMENTS]) == {
                ALL_DOCUMENTS: 1
            }
    with transaction(services.sessions) as session:
        index_in(session, services, third)
        expected = counted(session)
        assert services.related.store.document_counts(session, sorted(expected)) == expected
        assert session.scalar(select(func.count()).select_from(TermCountDelta)) > 0


def test_folding_the_deltas_keeps_every_count_and_one_folder_at_a_time(
    postgres_services: Services,
) -> None:
    services = postgres_services
    ids = imported(services, [story(number, f"word{number}") for number in range(4)])
    for article_id in ids:
        with transaction(services.sessions) as session:
            index_in(session, services, article_id)
    with transaction(services.sessions) as session:
        terms = sorted(counted(session))
        before = services.related.store.document_counts(session, terms)
    with transaction(services.sessions) as folding:
        assert services.related.fold_counts(folding)
        with transaction(services.sessions) as other:
            other.execute(text("SET LOCAL lock_timeout = '2s'"))
            # Another folder skips rather than waits; a reader sees the counts unchanged.
            assert not services.related.fold_counts(other)
            assert services.related.store.document_counts(other, terms) == before
    with transaction(services.sessions) as session:
        assert session.scalar(select(func.count()).select_from(TermCountDelta)) == 0
        folded = dict(session.execute(select(TermFrequency.term, TermFrequency.documents)).all())
        assert {term: folded[term] for term in terms} == before
        assert services.related.store.document_counts(session, terms) == before


# -- import by COPY ------------------------------------------------------------------------


def archive() -> list[ArticleInput]:
    """New articles that exercise every rule a one-at-a-time import applies: derived slugs
    (a repeated headline takes a suffix), given slugs, no external id, tags in the editor's
    order (a repeated tag once), html bodies sanitised, standfirsts, images, dates."""
    return [
        record(id="a1", slug=None, title="Storm hits coast", tags=["weather", "coast"]),
        record(id="a2", slug=None, title="Storm hits coast", tags=["coast", "weather", "coast"]),
        record(
            id="a3",
            slug="given-slug",
            body=None,
            body_html="<p>Body <script>x()</script><b>bold</b></p>",
            standfirst="  A standfirst.  ",
            image={"url": "https://img.example.com/a.jpg", "alt": " alt "},
        ),
        record(slug="no-id-story", title="No id", section="sport", published_at=None),
        record(id="a5", slug=None, title="Storm hits coast", section="sport", tags=[]),
    ]


def rows_of(session: Session) -> list[tuple[Any, ...]]:
    found = session.execute(
        select(
            Article.slug, Article.title, Article.standfirst, Article.body_html,
            Article.teaser_text, Article.image_url, Article.image_alt, Section.slug,
            Article.authors, Article.published_at, Article.updated_at, Article.status,
            Article.version, Article.external_id,
        )
        .join(Section)
        .order_by(Article.slug)
    ).all()  # fmt: skip
    tags = session.execute(
        select(Article.slug, Tag.slug, ArticleTag.position)
        .join(ArticleTag, ArticleTag.article_id == Article.id)
        .join(Tag, Tag.id == ArticleTag.tag_id)
        .order_by(Article.slug, ArticleTag.position)
    ).all()
    # An article without an external id is given a random one.
    return [(*row[:-1], row[-1] if len(row[-1]) < 32 else "random") for row in found] + [
        tuple(row) for row in tags
    ]


def test_an_import_by_copy_gives_the_rows_made_live_one_at_a_time_give(
    postgres_services: Services, tmp_path: Path
) -> None:
    # The same inputs for both (each test record takes the next minute of a shared clock).
    older, records, now = record(id="old", slug="storm-hits-coast"), archive(), utcnow()
    imported(postgres_services, [older])
    slow_url = create_database()
    slow = make_services(slow_url, tmp_path / "slow")
    try:
        imported(slow, [older])
        with transaction(slow.sessions) as session:
            for data in records:
                articles._make_live(session, data, now, unique_slug=True)
        with transaction(postgres_services.sessions) as session:
            assert articles._insert_new(session, records, now)
        with (
            transaction(slow.sessions) as one_by_one,
            transaction(postgres_services.sessions) as in_bulk,
        ):
            assert rows_of(in_bulk) == rows_of(one_by_one)
            assert [row[0] for row in rows_of(in_bulk)[:6]] == [
                "given-slug", "no-id-story", "storm-hits-coast", "storm-hits-coast-2",
                "storm-hits-coast-3", "storm-hits-coast-4",
            ]  # fmt: skip
    finally:
        slow.engine.dispose()
        drop_database(slow_url)


def test_an_import_that_updates_goes_one_at_a_time(postgres_services: Services) -> None:
    imported(postgres_services, [record(id="a1", slug="first", title="First")])
    with transaction(postgres_services.sessions) as session:
        assert not articles._insert_new(
            session, [record(id="a1", slug="first", title="Changed")], utcnow()
        )
    imported(postgres_services, [record(id="a1", slug="first", title="Changed")])
    with transaction(postgres_services.sessions) as session:
        article = session.scalars(select(Article)).one()
        assert (article.title, article.version) == ("Changed", 2)


def test_the_beat_folds_the_deltas_publishes_leave(postgres_services: Services) -> None:
    services = postgres_services
    ids = imported(services, [story(1, "Ferries ran late."), story(2, "")])
    for article_id in ids:
        with transaction(services.sessions) as session:
            index_in(session, services, article_id)
    app = create_app(services.settings, lambda: services)
    assert "pressrun.fold_counts" in {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert app.tasks["pressrun.fold_counts"]()
    with transaction(services.sessions) as session:
        assert session.scalar(select(func.count()).select_from(TermCountDelta)) == 0
        expected = counted(session)
        folded = dict(session.execute(select(TermFrequency.term, TermFrequency.documents)).all())
        assert {term: folded[term] for term in expected} == expected
