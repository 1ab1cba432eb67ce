"""article teaser text: the plain text teasers are cut from, kept with the article

Every list page, feed and rail that showed an article parsed its whole body again to cut a
teaser: a 480 KB body made each of them take seconds, on every publish that refreshed them.
The text is now computed once when the article is written. Existing rows are filled here.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pipeline.content.sanitize import teaser_text

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500


def upgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("teaser_text", sa.Text(), nullable=False, server_default=""))
    _fill_teaser_texts()
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.alter_column("teaser_text", server_default=None)


def _fill_teaser_texts() -> None:
    """In batches by id, so an archive of any size is never held in memory at once."""
    connection = op.get_bind()
    read = sa.text(
        "SELECT id, standfirst, body_html FROM articles WHERE id > :after ORDER BY id LIMIT :n"
    )
    write = sa.text("UPDATE articles SET teaser_text = :text WHERE id = :id")
    after = 0
    while rows := connection.execute(read, {"after": after, "n": BATCH}).all():
        connection.execute(
            write,
            [{"id": row.id, "text": teaser_text(row.standfirst, row.body_html)} for row in rows],
        )
        after = rows[-1].id


def downgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_column("teaser_text")
