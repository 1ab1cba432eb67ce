"""The related index's own rows, read and written in one place.

Every write the index makes (document counts, documents and postings, embeddings, rail rows,
row locks) and the reads of its own documents go through `IndexStore`, so impact's preview
(pipeline/related/preview.py) can swap in a store that keeps the writes in memory and reads
through them, and run the same index code without writing.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, delete, func, insert, select, text, union_all, update
from sqlalchemy.orm import Session

from pipeline.content.models import Article
from pipeline.content.upsert import copy_rows, increment_counts, is_postgresql
from pipeline.related.merge import RailEntry
from pipeline.related.models import (
    RelatedDocument,
    RelatedRail,
    RelatedTerm,
    TermCountDelta,
    TermFrequency,
)

if TYPE_CHECKING:
    from pipeline.related.semantic import SemanticScorer

# The empty term, which no text yields, is a term every document has: its document count is
# the number of documents in the index, kept by the same writes as every term's, because
# counting the documents table on every query would be linear in the archive.
ALL_DOCUMENTS = ""
# The norm of a document a rebuild has counted but not weighed yet (pipeline/related/index.py,
# count_many): its bag is stored and its terms counted, its weights and postings are to come.
# A weighed document's norm is never 0 (an empty vector's is 1).
UNWEIGHED = 0.0
# Terms per statement when reading document counts.
COUNTS_BATCH = 500
# Only one transaction folds the deltas at a time (a PostgreSQL advisory lock's key); the
# others skip, since the one folding takes theirs too.
FOLD_LOCK_ID = 0x666F6C64
FOLD = text(
    "WITH moved AS (DELETE FROM term_count_deltas RETURNING term, delta)"
    " INSERT INTO term_frequencies (term, documents)"
    " SELECT term, SUM(delta) FROM moved GROUP BY term ORDER BY term"
    " ON CONFLICT (term) DO UPDATE"
    " SET documents = term_frequencies.documents + excluded.documents"
)


class IndexStore:
    def __init__(self, semantic: SemanticScorer | None) -> None:
        # The optional embedding scorer: its vectors are rows of the index too.
        self.semantic = semantic

    # -- writes ----------------------------------------------------------------------------

    def add_counts(self, session: Session, deltas: dict[str, int]) -> None:
        """Document counts changed, by term. On PostgreSQL the changes are appended as
        deltas, rows no other writer touches: concurrent publishes sharing common terms
        never wait on each other. SQLite lets one writer at a time into the whole file, so
        no row lock is ever waited on there: its counts are changed in place."""
        changed = sorted((term, delta) for term, delta in deltas.items() if delta)
        if is_postgresql(session):
            copy_rows(session, _table(TermCountDelta), ("term", "delta"), changed)
        else:
            increment_counts(session, dict(changed))

    def fold_counts(self, session: Session) -> bool:
        """Fold the deltas into the counts they change, unless another transaction is doing
        it (then False). Readers see the same counts before and after."""
        if not is_postgresql(session):
            return True
        if not session.scalar(select(func.pg_try_advisory_xact_lock(FOLD_LOCK_ID))):
            return False
        session.execute(FOLD)
        return True

    def store_documents(
        self, session: Session, documents: list[dict[str, Any]], postings: list[dict[str, Any]]
    ) -> None:
        # Streamed in bulk (COPY on PostgreSQL): a rebuild indexes hundreds of thousands of
        # postings, far too many for ORM objects or a statement each.
        copy_rows(
            session,
            _table(RelatedDocument),
            DOCUMENT_COLUMNS,
            ([row[name] for name in DOCUMENT_COLUMNS] for row in documents),
        )
        if postings:
            _store_postings(session, postings)

    def weigh_documents(
        self, session: Session, documents: list[dict[str, Any]], postings: list[dict[str, Any]]
    ) -> None:
        """Give counted documents (locked by the caller) their norms and weights, by article
        id, and their postings."""
        if documents:
            session.execute(update(RelatedDocument), documents)
        if postings:
            _store_postings(session, postings)

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

    def unweighed_bags(self, session: Session, article_ids: list[int]) -> dict[int, Counter[str]]:
        """The bags of terms of the unweighed documents among these, locked in id order: a
        publish re-indexing one of them meanwhile waits, then replaces it whole."""
        rows = session.execute(
            select(RelatedDocument.article_id, RelatedDocument.vocabulary)
            .where(RelatedDocument.article_id.in_(article_ids), RelatedDocument.norm == UNWEIGHED)
            .order_by(RelatedDocument.article_id)
            .with_for_update()
        )
        return {article_id: Counter(bag) for article_id, bag in rows}

    def document_counts(self, session: Session, terms: list[str]) -> dict[str, int]:
        """How many indexed documents have each term (ALL_DOCUMENTS: how many there are):
        its folded count plus its deltas, read in one statement (one snapshot), so a fold
        committing meanwhile is seen wholly or not at all."""
        frequencies = dict.fromkeys(terms, 0)
        for start in range(0, len(terms), COUNTS_BATCH):
            frequencies.update(
                session.execute(_counts_of(terms[start : start + COUNTS_BATCH])).all()
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


DOCUMENT_COLUMNS = ("article_id", "norm", "indexed_version", "vocabulary", "term_weights")


def _table(model: type[Any]) -> Table:
    table: Table = model.__table__
    return table


def _store_postings(session: Session, postings: list[dict[str, Any]]) -> None:
    copy_rows(
        session,
        _table(RelatedTerm),
        ("article_id", "term", "weight"),
        ((row["article_id"], row["term"], row["weight"]) for row in postings),
    )


def _counts_of(terms: list[str]) -> Any:
    folded = select(TermFrequency.term, TermFrequency.documents.label("n")).where(
        TermFrequency.term.in_(terms)
    )
    pending = select(TermCountDelta.term, TermCountDelta.delta.label("n")).where(
        TermCountDelta.term.in_(terms)
    )
    both = union_all(folded, pending).subquery()
    return select(both.c.term, func.sum(both.c.n)).group_by(both.c.term)
