"""The related index as one object (`Services.related`): its settings, its store, and the
operations the rest of the pipeline calls, each one of the package's functions.

    index.py   articles into and out of the index (documents, postings, document counts)
    query.py   neighbour queries, their weights and reasons (candidates.py: their SQL)
    rails.py   stored rails: read, computed, refreshed in batches
    reverse.py what a change does to its own rail and to the rails it enters or leaves
    store.py   every read and write of the index's own rows (preview.py keeps them in memory)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from pipeline.config import Settings
from pipeline.content.models import Article
from pipeline.related import index, query, rails, reverse
from pipeline.related.merge import RailEntry
from pipeline.related.query import Neighbour
from pipeline.related.reverse import PendingSpread
from pipeline.related.store import IndexStore
from pipeline.related.tuning import Tuning

if TYPE_CHECKING:
    from pipeline.related.semantic import SemanticScorer


class RelatedIndex:
    def __init__(self, settings: Settings) -> None:
        self.tuning = Tuning.from_settings(settings)
        semantic: SemanticScorer | None = None
        if settings.related_semantic_weight > 0:
            # The optional embedding scorer, imported only when asked for: the default
            # install never loads numpy, torch or the model.
            from pipeline.related.semantic import SemanticScorer

            semantic = SemanticScorer(settings.related_semantic_weight)
        self.store = IndexStore(semantic)

    @property
    def semantic(self) -> SemanticScorer | None:
        return self.store.semantic

    @semantic.setter
    def semantic(self, scorer: SemanticScorer | None) -> None:
        self.store.semantic = scorer

    # -- the index -------------------------------------------------------------------------

    def index_many(self, session: Session, articles: list[Article]) -> list[int]:
        return index.index_many(self.store, session, articles)

    def count_many(self, session: Session, articles: list[Article]) -> list[int]:
        return index.count_many(self.store, session, articles)

    def weigh_many(self, session: Session, article_ids: list[int]) -> list[int]:
        return index.weigh_many(self.store, session, article_ids)

    def fold_counts(self, session: Session) -> bool:
        return index.fold_counts(self.store, session)

    def remove_unpublished(self, session: Session) -> None:
        index.remove_unpublished(self.store, session)

    def has_stable(self, session: Session, fresh: set[int]) -> bool:
        return index.has_stable(self.store, session, fresh)

    # -- queries and rails -----------------------------------------------------------------

    def neighbours(self, session: Session, article_id: int, limit: int) -> list[Neighbour]:
        return query.neighbours(self.store, self.tuning, session, article_id, limit)

    def rail(self, session: Session, article_id: int) -> list[RailEntry]:
        return rails.rail(session, article_id)

    def holders(self, session: Session, article_id: int) -> list[int]:
        return rails.holders(session, article_id)

    def refresh_rails(self, session: Session, article_ids: list[int]) -> set[int]:
        return rails.refresh_rails(self.store, self.tuning, session, article_ids)

    def draft_rails(
        self, session: Session, article_ids: list[int], placing: bool = False
    ) -> dict[int, rails.RailDraft]:
        """Rails computed in bulk, nothing locked: for `store_drafts`, or for `place` when
        `placing` (with the neighbours a placed article enters)."""
        limit = reverse.placing_reach(self.tuning) if placing else self.tuning.size
        return rails.draft_rails(self.store, self.tuning, session, article_ids, limit)

    def store_drafts(
        self, session: Session, drafts: dict[int, rails.RailDraft], article_ids: list[int]
    ) -> set[int]:
        return rails.store_drafts(self.store, self.tuning, session, drafts, article_ids)

    def rail_targets(
        self, session: Session, article_ids: list[int], fresh: set[int], every_rail: bool
    ) -> list[int]:
        return rails.rail_targets(session, article_ids, fresh, every_rail)

    # -- the reverse update ----------------------------------------------------------------

    def place(
        self,
        session: Session,
        article_id: int,
        skip: set[int],
        draft: rails.RailDraft | None = None,
    ) -> set[int]:
        return reverse.place(self.store, self.tuning, session, article_id, skip, draft)

    def apply_change(self, session: Session, article: Article) -> set[int]:
        """Bring the index and every affected rail up to date; returns the rails that
        changed (see reverse.py)."""
        return self.spread_change(session, article.id, self.apply_own(session, article))

    def apply_own(self, session: Session, article: Article) -> PendingSpread:
        return reverse.apply_own(self.store, self.tuning, session, article)

    def spread_change(self, session: Session, article_id: int, pending: PendingSpread) -> set[int]:
        return reverse.spread_change(self.store, self.tuning, session, article_id, pending)
