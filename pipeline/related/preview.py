"""The related index asked "what if?" (impact): the code a change runs, with what it would
write kept in memory instead, so the answer takes no lock and writes nothing.

It is exact but for one case: the rails that already show an article whose postings the
change replaces are counted as changed without being recomputed (that needs the new postings
in the database). An impact may then name a page that would render the same; it never
leaves one out.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from pipeline.content.models import Article
from pipeline.related import reverse
from pipeline.related.facade import RelatedIndex
from pipeline.related.merge import RailEntry
from pipeline.related.models import RelatedDocument
from pipeline.related.reverse import PendingSpread
from pipeline.related.store import ALL_DOCUMENTS, IndexStore

if TYPE_CHECKING:
    from pipeline.related.semantic import SemanticScorer


class KeptWrites(IndexStore):
    """The index's store with every write kept in memory and every read of its own rows
    seeing those writes."""

    def __init__(self, semantic: SemanticScorer | None) -> None:
        super().__init__(semantic)
        self.count_deltas: Counter[str] = Counter()
        # Documents the change would write (None: delete), by article.
        self.documents: dict[int, RelatedDocument | None] = {}

    # -- writes, kept ---------------------------------------------------------------------

    def add_counts(self, session: Session, deltas: dict[str, int]) -> None:
        self.count_deltas.update(deltas)

    def fold_counts(self, session: Session) -> bool:
        return True  # folding changes no count, so there is nothing to keep

    def drop(self, session: Session, article_id: int) -> list[str]:
        document = self.document(session, article_id)
        self.documents[article_id] = None
        return [*document.vocabulary, ALL_DOCUMENTS] if document is not None else []

    def store_documents(
        self, session: Session, documents: list[dict[str, Any]], postings: list[dict[str, Any]]
    ) -> None:
        for row in documents:  # never added to the session: nothing to flush
            self.documents[row["article_id"]] = RelatedDocument(**row)

    def store_vectors(self, session: Session, articles: list[Article]) -> list[int]:
        # Not encoded: the embedding scorer scores the article by its text alone, as it does
        # any article not encoded yet.
        return []

    def lock_documents(self, session: Session, article_ids: list[int]) -> None:
        pass  # nothing is written, so nothing needs locking

    def write_rails(self, session: Session, rails: dict[int, list[RailEntry]]) -> None:
        pass  # the caller learns which rails change from the return values

    # -- reads, with the kept writes over them --------------------------------------------

    def document_counts(self, session: Session, terms: list[str]) -> dict[str, int]:
        counts = super().document_counts(session, terms)
        return {term: count + self.count_deltas[term] for term, count in counts.items()}

    def document(self, session: Session, article_id: int) -> RelatedDocument | None:
        if article_id in self.documents:
            return self.documents[article_id]
        return super().document(session, article_id)

    def term_weights_many(
        self, session: Session, article_ids: list[int]
    ) -> dict[int, dict[str, float]]:
        found = super().term_weights_many(session, article_ids)
        for article_id in set(article_ids) & set(self.documents):
            document = self.documents[article_id]
            if document is None:
                found.pop(article_id, None)
            else:
                found[article_id] = document.term_weights
        return found


class RailPreview(RelatedIndex):
    def __init__(self, index: RelatedIndex) -> None:
        # The index's settings and scorer as they are, not built (or loaded) again.
        self.tuning = index.tuning
        self.kept = KeptWrites(index.semantic)
        self.store = self.kept

    def spread_change(self, session: Session, article_id: int, pending: PendingSpread) -> set[int]:
        if article_id not in self.kept.documents:
            return super().spread_change(session, article_id, pending)
        # Its postings change: the rails showing it would be recomputed against postings
        # only a write puts in the database. Left, they all change; re-indexed, counted as
        # changed (see the module's docstring).
        entered = reverse.enter(self.store, self.tuning, session, article_id, pending.candidates)
        return pending.changed | entered | (pending.holders - {article_id})
