"""document count: the number of indexed documents kept as the empty term's count

Every related query counted the related_documents table for its inverse document
frequencies, a scan as long as the archive (10-30 ms at 100,000 articles). The empty term,
which no text yields, now carries that number, kept by the same upserts as every term's
document count.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 13:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DELETE FROM term_frequencies WHERE term = ''")
    op.execute(
        "INSERT INTO term_frequencies (term, documents) SELECT '', COUNT(*) FROM related_documents"
    )


def downgrade() -> None:
    op.execute("DELETE FROM term_frequencies WHERE term = ''")
