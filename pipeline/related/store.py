"""The related index's own rows, read and written in one place.

Every write the index makes (document counts, documents and postings, embeddings, rail rows,
row locks) and the reads of its own documents go through `IndexStore`, so impact's preview
(pipeline/related/preview.py) can swap in a store that keeps the writes in memory and reads
through them, and run the same index code without writing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from pipeline.content.models import Article
from pipeline.content.upsert import increment_counts
from pipeline.related.merge import RailEntry
from pipeline.related.models import RelatedDocument, RelatedRail, RelatedTerm, TermFrequency

if TYPE_CHECKING:
    from pipeline.related.semantic import SemanticScorer

# The empty term, which no text yields, is a term every document has: its document count is
# the number of documents in the index, kept by the same upserts as every term's, because
# counting the documents table on every query would be linear in the archive.
ALL_DOCUMENTS = ""
# Rows per statement when bulk-inserting postings and when reading document counts.
POSTINGS_BATCH = 5000
COUNTS_BATCH = 500


class IndexStore:
    def __init__(self, semantic: SemanticScorer | None) -> None:
        # The optional embedding scorer: its vectors are rows of the index too.
        self.semantic = semantic

    # -- writes ----------------------------------------------------------------------------

    def add_counts(self, session: Session, deltas: dict[str, int]) -> None:
        """Document counts changed, by term."""
        increment_counts(session, deltas)

    def store_documents(
        self, session: Session, documents: list[dict[str, Any]], postings: list[dict[str, Any]]
    ) -> None:
        # Core bulk inserts: a rebuild indexes hundreds of thousands of postings, far too many
        # to build as ORM objects.
        if documents:
            session.execute(insert(RelatedDocument), documents)
        for start in range(0, len(postings), POSTINGS_BATCH):
            session.execute(insert(RelatedTerm), postings[start : start + POSTINGS_BATCH])

    def store_vectors(self, session: Session, articles: list[Article]) -> list[int]:
        """Vectors for the embedding scorer, in one batch; returns the ids (re)encoded."""
        return self.semantic.store(session, articles) if self.semantic is not None else []

    def drop(self, session: Session, article_id: int) -> list[str]:
        """Delete an article's document and postings; returns the vocabulary whose document
        counts the caller must take down."""
        if self.semantic is not None:
            self.semantic.remove(session, article_id)
        document = session.get(RelatedDocument, article_id)
        if document is None:
            return []
        vocabulary = [*document.vocabulary, ALL_DOCUMENTS]
        session.execute(delete(RelatedTerm).where(RelatedTerm.article_id == article_id))
        session.delete(document)
        session.flush()
        return vocabulary

    def lock_documents(self, session: Session, article_ids: list[int]) -> None:
        """Lock these articles' rails for writing: their document rows, in id order."""
        session.execute(
            select(RelatedDocument.article_id)
            .where(RelatedDocument.article_id.in_(article_ids))
            .order_by(RelatedDocument.article_id)
            .with_for_update()
        )

    def write_rails(self, session: Session, rails: dict[int, list[RailEntry]]) -> None:
        """Replace these articles' stored rails."""
        if not rails:
            return
        session.execute(delete(RelatedRail).where(RelatedRail.article_id.in_(list(rails))))
        rows = [
            {
                "article_id": article_id,
                "rank": rank,
                "neighbour_id": entry.neighbour_id,
                "score": entry.score,
                "terms": entry.terms,
            }
            for article_id, entries in sorted(rails.items())
            for rank, entry in enumerate(entries)
        ]
        if rows:
            session.execute(insert(RelatedRail), rows)

    # -- reads of the index's own documents ------------------------------------------------

    def document(self, session: Session, article_id: int) -> RelatedDocument | None:
        return session.get(RelatedDocument, article_id)

    def document_counts(self, session: Session, terms: list[str]) -> dict[str, int]:
        """How many indexed documents have each term (ALL_DOCUMENTS: how many there are)."""
        frequencies = dict.fromkeys(terms, 0)
        for start in range(0, len(terms), COUNTS_BATCH):
            frequencies.update(
                session.execute(
                    select(TermFrequency.term, TermFrequency.documents).where(
                        TermFrequency.term.in_(terms[start : start + COUNTS_BATCH])
                    )
                ).all()
            )
        return frequencies

    def term_weights_many(
        self, session: Session, article_ids: list[int]
    ) -> dict[int, dict[str, float]]:
        """Each indexed article's postings: term -> tf weight."""
        return dict(
            session.execute(
                select(RelatedDocument.article_id, RelatedDocument.term_weights).where(
                    RelatedDocument.article_id.in_(article_ids)
                )
            ).all()
        )
