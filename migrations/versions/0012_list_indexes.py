"""list indexes: a section's list and the sitemap index's months read from indexes alone

A publish counts its section's members and reads its newest pages, and rewrites the sitemap
index (the newest update of every month): both scanned the articles table, a cost that grew
with the archive on every publish.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 08:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.create_index(
            "ix_articles_section_listing", ["section_id", "status", "published_at", "id"]
        )
        batch_op.create_index(
            "ix_articles_status_published_updated", ["status", "published_at", "updated_at"]
        )


def downgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_index("ix_articles_status_published_updated")
        batch_op.drop_index("ix_articles_section_listing")
