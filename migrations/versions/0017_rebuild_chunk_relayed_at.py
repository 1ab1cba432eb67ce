"""rebuild chunk relayed_at: when the relay last sent a chunk again

Like an event, an unfinished rebuild chunk is re-sent once per stuck period instead of every
relay round, so a rebuild waiting behind a backlog does not multiply it.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 20:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("rebuild_chunks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("relayed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rebuild_chunks", schema=None) as batch_op:
        batch_op.drop_column("relayed_at")
