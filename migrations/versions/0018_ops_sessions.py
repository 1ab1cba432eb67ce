"""ops sessions: the dashboard's cookie carries a random session id, not the API token

The cookie held the raw API token, so signing out could not invalidate a copy of it. A
session row (the id's sha256, its token, when it expires) is deleted at sign-out and when its
token is revoked.

Revision ID: 0018
Revises: 0017b
Create Date: 2026-12-06 20:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ops_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cookie_hash", sa.String(length=64), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["api_tokens.id"],
            name=op.f("fk_ops_sessions_token_id_api_tokens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_sessions")),
        sa.UniqueConstraint("cookie_hash", name=op.f("uq_ops_sessions_cookie_hash")),
    )
    with op.batch_alter_table("ops_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ops_sessions_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_ops_sessions_token_id"), ["token_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ops_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ops_sessions_token_id"))
        batch_op.drop_index(batch_op.f("ix_ops_sessions_expires_at"))
    op.drop_table("ops_sessions")
