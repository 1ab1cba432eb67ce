"""output unsettled_version: a key whose failed upload may have landed unchecked

A PUT can take effect and still answer an error (a 500 or a reset after the request reached
the store): the build raises before it records the manifest or re-checks what it wrote, so
an older render may sit in storage after a newer one whose hash the manifest holds, and the
next build skips the key as unchanged. The failed build now marks its keys with the content
version of the failure; a marked key is written by the next build that renders it, and only
a build that rendered after the mark clears it.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outputs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unsettled_version", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outputs", schema=None) as batch_op:
        batch_op.drop_column("unsettled_version")
