"""rebuild chunks: fleet-wide, resumable full rebuilds

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 13:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rebuild_chunks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("phase", sa.String(length=20), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_rebuild_chunks_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rebuild_chunks")),
    )
    with op.batch_alter_table("rebuild_chunks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rebuild_chunks_event_id"), ["event_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rebuild_chunks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rebuild_chunks_event_id"))
    op.drop_table("rebuild_chunks")
