"""The reverse update: when an article changes, the rails it enters or leaves.

A live article gets its own rail and enters the rails of its top candidates where it now
ranks (bounded by `related_candidates`), by merging (merge.py) rather than recomputing them.
Every rail that showed it (it may have been retitled, or have left the site) is recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.content.models import Article
from pipeline.related import index, rails
from pipeline.related.merge import RailEntry, entry_for, merged
from pipeline.related.models import RelatedDocument, RelatedRail
from pipeline.related.query import (
    EXPLAIN_TERMS,
    Neighbour,
    neighbours,
    query_weights_many,
    query_weights_of,
)
from pipeline.related.rails import RailDraft
from pipeline.related.store import IndexStore
from pipeline.related.tuning import Tuning


@dataclass(frozen=True)
class PendingSpread:
    """What `apply_own` leaves to `spread_change`: the rails that showed the article before,
    the rails already changed, and the candidates whose rails the article may enter."""

    holders: set[int]
    changed: set[int]
    candidates: list[Neighbour]


def apply_own(
    store: IndexStore, tuning: Tuning, session: Session, article: Article
) -> PendingSpread:
    """The first half of a change: the article indexed (or removed) and its own rail stored,
    so its page can be rendered; `spread_change` does the rest."""
    holders = set(rails.holders(session, article.id))
    if not article.is_live:
        index.remove(store, session, article.id)
        store.write_rails(session, {article.id: []})
        return PendingSpread(holders, set(), [])
    index.index_many(store, session, [article])
    changed, others = place_own(store, tuning, session, article.id, skip=holders)
    return PendingSpread(holders, changed, others)


def spread_change(
    store: IndexStore, tuning: Tuning, session: Session, article_id: int, pending: PendingSpread
) -> set[int]:
    """The second half: the reverse update into candidates' rails, and every rail that
    showed the article recomputed. Returns every rail the change moved."""
    changed = pending.changed | enter(store, tuning, session, article_id, pending.candidates)
    return changed | rails.refresh_rails(
        store, tuning, session, sorted(pending.holders - {article_id})
    )


def place(
    store: IndexStore,
    tuning: Tuning,
    session: Session,
    article_id: int,
    skip: set[int],
    draft: RailDraft | None = None,
) -> set[int]:
    """Recompute a fresh article's own rail and enter it in the rails of its top
    `related_candidates` (bar `skip`) that it now belongs in. One neighbour query serves
    both: the `draft`'s (drafted with `placing_reach` neighbours) unless its rail or its
    document moved since. Returns the rails that changed."""
    changed, others = place_own(store, tuning, session, article_id, skip, draft)
    return changed | enter(store, tuning, session, article_id, others)


def placing_reach(tuning: Tuning) -> int:
    """The neighbours a placing query finds: its own rail's and the candidates it enters."""
    return max(tuning.size, tuning.candidates)


def place_own(
    store: IndexStore,
    tuning: Tuning,
    session: Session,
    article_id: int,
    skip: set[int],
    draft: RailDraft | None = None,
) -> tuple[set[int], list[Neighbour]]:
    """An article's own rail; returns whether it changed and the candidates whose rails
    it may enter (the reverse update's half, which `enter` does)."""
    store.lock_documents(session, [article_id])
    if draft is not None and not rails.redrafted(session, {article_id: draft}, [article_id])[0]:
        weights, candidates = draft.weights, draft.best
    else:
        weights = query_weights_of(store, session, article_id)
        reach = placing_reach(tuning)
        candidates = (
            neighbours(store, tuning, session, article_id, reach, weights) if weights else []
        )
    changed = set()
    if rails.store_rail(store, tuning, session, article_id, weights, candidates[: tuning.size]):
        changed.add(article_id)
    others = [
        candidate
        for candidate in candidates[: tuning.candidates]
        if candidate.score >= tuning.min_score and candidate.article_id not in skip
    ]
    return changed, others


def enter(
    store: IndexStore,
    tuning: Tuning,
    session: Session,
    article_id: int,
    candidates: list[Neighbour],
) -> set[int]:
    """Put the article in each candidate's rail where it now ranks (see merge.py); returns
    the rails that changed."""
    if not candidates:
        return set()
    if store.semantic is not None:
        # Blended scores mix in embeddings this merge does not compute: recompute.
        displaced = _displaced(tuning, session, candidates)
        return rails.refresh_rails(store, tuning, session, sorted(displaced))
    entries = _entries(store, tuning, session, article_id, candidates)
    if not entries:
        return set()
    # Lock the rails to change (in id order, as every writer does), then read them as
    # they stand: a rail another worker just rewrote is merged into, never overwritten.
    store.lock_documents(session, sorted(entries))
    stored = rails.entries_many(session, sorted(entries))
    changed = {}
    for holder, entry in entries.items():
        rail = merged(stored.get(holder, []), entry, tuning.size)
        if rail is not None:
            changed[holder] = rail
    store.write_rails(session, changed)
    return set(changed)


def _entries(
    store: IndexStore,
    tuning: Tuning,
    session: Session,
    article_id: int,
    candidates: list[Neighbour],
) -> dict[int, RailEntry]:
    """The article's entry in each candidate's rail, scored as the candidate's own query
    would score it, for the candidates where it clears the score floor."""
    holders = sorted(candidate.article_id for candidate in candidates)
    own = store.document(session, article_id)
    own_article = session.get(Article, article_id)
    assert own is not None
    assert own_article is not None
    postings: dict[str, float] = own.term_weights
    queries = query_weights_many(store, session, holders)
    facts = {
        holder: (norm, published_at)
        for holder, norm, published_at in session.execute(
            select(RelatedDocument.article_id, RelatedDocument.norm, Article.published_at)
            .join(Article, Article.id == RelatedDocument.article_id)
            .where(RelatedDocument.article_id.in_(holders))
        )
    }
    entries = {}
    for holder in holders:
        if holder not in facts or holder not in queries:
            continue
        norm, published_at = facts[holder]
        scale = tuning.recency(published_at, own_article.published_at) / (own.norm * norm)
        entry = entry_for(queries[holder], postings, scale, article_id, EXPLAIN_TERMS)
        if entry is not None and entry.score >= tuning.min_score:
            entries[holder] = entry
    return entries


def _displaced(tuning: Tuning, session: Session, candidates: list[Neighbour]) -> set[int]:
    """Candidates whose rail this article belongs in by its own scores: it beats their
    weakest neighbour, or their rail is not full (the embedding blend's reverse update)."""
    stored = {
        holder: (int(length), float(weakest))
        for holder, length, weakest in session.execute(
            select(RelatedRail.article_id, func.count(), func.min(RelatedRail.score))
            .where(RelatedRail.article_id.in_([c.article_id for c in candidates]))
            .group_by(RelatedRail.article_id)
        )
    }
    entered = set()
    for candidate in candidates:
        length, weakest = stored.get(candidate.article_id, (0, 0.0))
        if length < tuning.size or candidate.score > weakest:
            entered.add(candidate.article_id)
    return entered
