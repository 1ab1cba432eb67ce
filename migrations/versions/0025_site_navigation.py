"""site navigation: the sections the navigation bar on every page links to, in order

Stored with the site's data (not a setting of one process) so every process renders the
same bar. Empty until `pressrun navigation` (or the demo) sets it.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 03:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "site_navigation",
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("section_slug", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_site_navigation")),
    )


def downgrade() -> None:
    op.drop_table("site_navigation")
