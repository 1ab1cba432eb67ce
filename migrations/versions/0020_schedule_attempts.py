"""schedule attempts: failed tries counted on the schedule, backed off, then given up

A schedule whose change failed was tried again every 2 s for ever, and enough of them, due
first, filled every batch of the job so that no other schedule ran. Now each failure counts,
the next try waits twice as long as the last (`next_attempt_at`, which the job orders by),
and after a limit the row is marked failed with its error.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE schedules SET next_attempt_at = due_at")
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.alter_column(
            "next_attempt_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )
        batch_op.create_index("ix_schedules_next_attempt_at", ["next_attempt_at"])


def downgrade() -> None:
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.drop_index("ix_schedules_next_attempt_at")
        batch_op.drop_column("failed_at")
        batch_op.drop_column("last_error")
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("attempts")
