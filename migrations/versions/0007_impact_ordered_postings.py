"""impact-ordered postings: the term index sorts each term's postings by weight

A query reads at most a fixed number of postings per term, the heaviest first, so its cost
stays flat however many articles share a common term.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 16:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("related_terms", schema=None) as batch_op:
        batch_op.drop_index("ix_related_terms_term_article")
        batch_op.create_index(
            "ix_related_terms_term_weight", ["term", "weight", "article_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("related_terms", schema=None) as batch_op:
        batch_op.drop_index("ix_related_terms_term_weight")
        batch_op.create_index(
            "ix_related_terms_term_article", ["term", "article_id", "weight"], unique=False
        )
