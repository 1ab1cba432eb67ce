"""sitemap months: each month's published count and newest update, one row per month

The sitemap index listed every month with its newest update by grouping every published
article on each publish (90-130 ms at 100,000 articles). Events now recount the months they
change (a month's articles alone) and the index reads these rows.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sitemap_months",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("lastmod", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("month", name=op.f("pk_sitemap_months")),
    )
    if op.get_bind().dialect.name == "postgresql":
        month = "to_char(timezone('UTC', published_at), 'YYYY-MM')"
    else:
        month = "strftime('%Y-%m', published_at)"
    op.execute(
        f"INSERT INTO sitemap_months (month, members, lastmod) SELECT {month}, COUNT(*),"
        f" MAX(updated_at) FROM articles WHERE status = 'published' GROUP BY {month}"
    )


def downgrade() -> None:
    op.drop_table("sitemap_months")
