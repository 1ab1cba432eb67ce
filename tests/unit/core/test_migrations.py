"""The Alembic chain creates exactly the schema the models describe."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text

import pipeline.api.models  # noqa: F401 - its tables are part of the metadata
from pipeline.config import Settings
from pipeline.content import articles
from pipeline.content.inputs import parse_article
from pipeline.content.sanitize import teaser_text
from pipeline.db import alembic_config, make_engine, transaction, upgrade
from pipeline.services import create_services
from pipeline.tables import metadata
from tests.conftest import article_data
from tests.integration.conftest import database_url  # noqa: F401 (a fixture)


def test_migrations_match_the_models(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'schema.db'}")
    upgrade(engine)
    upgrade(engine)  # a second run is a no-op
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"render_as_batch": True})
        assert compare_metadata(context, metadata) == []
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'pressrun.db'}"
    return str(request.getfixturevalue("database_url"))


def test_0019_fills_the_teaser_text_of_existing_articles(
    any_database_url: str, tmp_path: Path
) -> None:
    site = f"file://{tmp_path / 'site'}"
    services = create_services(Settings(database_url=any_database_url, storage_url=site))
    bodies = {
        "plain": {"body": "First paragraph.\n\nSecond one.", "standfirst": ""},
        "markup": {
            "body_html": "<p>A <b>bold</b> &amp; " + "long " * 80 + "</p>",
            "standfirst": "",
        },
        "standfirst": {"body_html": "<p>Body.</p>", "standfirst": "Sums it up."},
    }
    try:
        for slug, fields in bodies.items():
            data, _ = parse_article(article_data(**{"slug": slug, "body": None, **fields}))
            with transaction(services.sessions) as session:
                articles.publish(session, data, actor="test")
        _migrate(services.engine, "downgrade", "0016")
        upgrade(services.engine)  # 0019 again: its column, filled from the rows
        with services.engine.connect() as connection:
            rows = connection.execute(
                text("SELECT slug, standfirst, body_html, teaser_text FROM articles")
            ).all()
    finally:
        services.engine.dispose()
    assert {row.slug: row.teaser_text for row in rows} == {
        row.slug: teaser_text(row.standfirst, row.body_html) for row in rows
    }
    assert {row.slug: row.teaser_text[:20] for row in rows} == {
        "plain": "First paragraph. Sec",
        "markup": "A bold & long long l",
        "standfirst": "Sums it up.",
    }


def test_0023_fills_the_author_slugs_of_existing_bylines(
    any_database_url: str, tmp_path: Path
) -> None:
    site = f"file://{tmp_path / 'site'}"
    services = create_services(Settings(database_url=any_database_url, storage_url=site))
    bylines = {
        "solo": ["Ann Writer"],
        "pair": ["Zoë Brontë", "Ann Writer", "ann  writer"],
        "none": [],
    }
    try:
        for slug, names in bylines.items():
            data, _ = parse_article(article_data(slug=slug, authors=names))
            with transaction(services.sessions) as session:
                articles.publish(session, data, actor="test")
        _migrate(services.engine, "downgrade", "0022")
        upgrade(services.engine)  # 0023 again: its table, filled from the bylines
        with services.engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT articles.slug, article_authors.position, article_authors.author_slug"
                    " FROM article_authors"
                    " JOIN articles ON articles.id = article_authors.article_id"
                    " ORDER BY articles.slug, article_authors.position"
                )
            ).all()
    finally:
        services.engine.dispose()
    # Two spellings of one name are one author, named once.
    assert [tuple(row) for row in rows] == [
        ("pair", 0, "zoe-bronte"),
        ("pair", 1, "ann-writer"),
        ("solo", 0, "ann-writer"),
    ]


def _migrate(engine: Engine, direction: str, revision: str) -> None:
    with engine.connect() as connection:
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        getattr(command, direction)(config, revision)
        connection.commit()
