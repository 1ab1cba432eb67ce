"""The related index asked "what if?" (impact): the code a change runs, with what it would
write kept in memory instead, so the answer takes no lock and writes nothing.

It is exact but for one case: the rails that already show an article whose postings the
change replaces are counted as changed without being recomputed (that needs the new postings
in the database). An impact may then name a page that would render the same; it never
leaves one out.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy.orm import Session

from pipeline.content.models import Article
from pipeline.related.index import ALL_DOCUMENTS, PendingSpread, RelatedIndex
from pipeline.related.merge import Entry
from pipeline.related.models import RelatedDocument


class RailPreview(RelatedIndex):
    def __init__(self, index: RelatedIndex) -> None:
        # The index's settings and scorer as they are, not built (or loaded) again.
        vars(self).update(vars(index))
        self._count_deltas: Counter[str] = Counter()
        # Documents the change would write (None: delete), by article.
        self._documents: dict[int, RelatedDocument | None] = {}

    # -- writes, kept ---------------------------------------------------------------------

    def _add_counts(self, session: Session, deltas: dict[str, int]) -> None:
        self._count_deltas.update(deltas)

    def _drop(self, session: Session, article_id: int) -> list[str]:
        document = self._document(session, article_id)
        self._documents[article_id] = None
        return [*document.vocabulary, ALL_DOCUMENTS] if document is not None else []

    def _store_documents(
        self, session: Session, documents: list[dict[str, Any]], postings: list[dict[str, Any]]
    ) -> None:
        for row in documents:  # never added to the session: nothing to flush
            self._documents[row["article_id"]] = RelatedDocument(**row)

    def _store_vectors(self, session: Session, articles: list[Article]) -> list[int]:
        # Not encoded: the embedding scorer scores the article by its text alone, as it does
        # any article not encoded yet.
        return []

    def _lock_documents(self, session: Session, article_ids: list[int]) -> None:
        pass  # nothing is written, so nothing needs locking

    def _write_rails(self, session: Session, rails: dict[int, list[Entry]]) -> None:
        pass  # the caller learns which rails change from the return values

    # -- reads, with the kept writes over them --------------------------------------------

    def _document_counts(self, session: Session, terms: list[str]) -> dict[str, int]:
        counts = super()._document_counts(session, terms)
        return {term: count + self._count_deltas[term] for term, count in counts.items()}

    def _document(self, session: Session, article_id: int) -> RelatedDocument | None:
        if article_id in self._documents:
            return self._documents[article_id]
        return super()._document(session, article_id)

    def _term_weights_many(
        self, session: Session, article_ids: list[int]
    ) -> dict[int, dict[str, float]]:
        found = super()._term_weights_many(session, article_ids)
        for article_id in set(article_ids) & set(self._documents):
            document = self._documents[article_id]
            if document is None:
                found.pop(article_id, None)
            else:
                found[article_id] = document.term_weights
        return found

    def spread_change(self, session: Session, article_id: int, pending: PendingSpread) -> set[int]:
        if article_id not in self._documents:
            return super().spread_change(session, article_id, pending)
        # Its postings change: the rails showing it would be recomputed against postings
        # only a write puts in the database. Left, they all change; re-indexed, counted as
        # changed (see the module's docstring).
        changed = pending.changed | self._enter(session, article_id, pending.candidates)
        return changed | (pending.holders - {article_id})
