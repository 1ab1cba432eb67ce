"""pending purges: CDN purges recorded with the manifest and retried until done

A purge used to run after the manifest's commit and be lost when it failed: a retry saw
nothing changed and purged nothing, and readers got the cached page for up to a day.

Revision ID: 0017b
Revises: 0017
Create Date: 2026-12-06 20:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017b"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pending_purges",
        sa.Column("path", sa.String(length=400), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("path", name=op.f("pk_pending_purges")),
    )
    with op.batch_alter_table("pending_purges", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pending_purges_next_attempt_at"), ["next_attempt_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("pending_purges")
