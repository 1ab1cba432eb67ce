"""term count deltas: document counts changed by appending, folded in later

Every publish upserted, inside its own transaction, the `term_frequencies` row of each of
its terms and the document-count row: concurrent publishes queued on those row locks. Now a
publish appends its changes to `term_count_deltas` (no key, so no conflict and no lock to
wait on); a count is its row plus its deltas, folded into the row from time to time.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "term_count_deltas",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("term", sa.String(length=160), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_term_count_deltas")),
    )
    op.create_index(op.f("ix_term_count_deltas_term"), "term_count_deltas", ["term"])


def downgrade() -> None:
    # The deltas folded in first, so no count is lost with the table.
    op.execute(
        "INSERT INTO term_frequencies (term, documents)"
        " SELECT term, SUM(delta) FROM term_count_deltas WHERE true GROUP BY term"
        " ON CONFLICT (term) DO UPDATE SET documents ="
        " term_frequencies.documents + excluded.documents"
    )
    op.drop_index(op.f("ix_term_count_deltas_term"), table_name="term_count_deltas")
    op.drop_table("term_count_deltas")
