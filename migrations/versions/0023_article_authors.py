"""article authors: each byline's author slugs, what author pages are read by

An author's page lists the live articles whose byline names them. The names stay on the
article (a JSON list); this table keeps their slugs, one row per author of an article, so
an author's list is counted and paged from an index like a tag's. Existing articles get
their rows from their bylines here, slugged as the application slugs them.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pipeline.content.sanitize import author_slugs

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000


def upgrade() -> None:
    table = op.create_table(
        "article_authors",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("author_slug", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name=op.f("fk_article_authors_article_id_articles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("article_id", "position", name=op.f("pk_article_authors")),
    )
    op.create_index(
        "ix_article_authors_slug_article", "article_authors", ["author_slug", "article_id"]
    )
    _fill_from_bylines(table)


def _fill_from_bylines(table: sa.Table) -> None:
    articles = sa.table("articles", sa.column("id", sa.Integer()), sa.column("authors", sa.JSON()))
    connection = op.get_bind()
    rows = connection.execute(sa.select(articles.c.id, articles.c.authors).order_by(articles.c.id))
    batch: list[dict[str, object]] = []
    for article_id, names in rows:
        for position, slug in enumerate(author_slugs(list(names or []))):
            batch.append({"article_id": article_id, "position": position, "author_slug": slug})
        if len(batch) >= BATCH:
            op.bulk_insert(table, batch)
            batch = []
    if batch:
        op.bulk_insert(table, batch)


def downgrade() -> None:
    op.drop_index("ix_article_authors_slug_article", table_name="article_authors")
    op.drop_table("article_authors")
