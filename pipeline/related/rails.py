"""Stored rails: each live article's "More like this" neighbours, with the terms that tie
them, as its page shows them. Read, computed, refreshed one by one or in batches.

A rail is recomputed or merged into under its article's document row lock (several taken in
id order, as every such writer takes them), so two writers never interleave on one rail.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from pipeline.content.models import Article, ArticleStatus
from pipeline.related.merge import RailEntry
from pipeline.related.models import RelatedDocument, RelatedRail
from pipeline.related.query import (
    Neighbour,
    explain,
    explain_many,
    neighbours,
    query_weights_many,
)
from pipeline.related.store import IndexStore
from pipeline.related.tuning import Tuning
from pipeline.site.lists import WITHOUT_TAGS


def rail(session: Session, article_id: int) -> list[RailEntry]:
    """An article's stored rail, in page order."""
    rows = session.scalars(
        select(RelatedRail).where(RelatedRail.article_id == article_id).order_by(RelatedRail.rank)
    )
    return [RailEntry(row.neighbour_id, row.score, list(row.terms)) for row in rows]


def entries_many(session: Session, article_ids: list[int]) -> dict[int, list[RailEntry]]:
    """Several stored rails, by article (an article with no rail is left out)."""
    rails: dict[int, list[RailEntry]] = {}
    rows = session.scalars(
        select(RelatedRail)
        .where(RelatedRail.article_id.in_(article_ids))
        .order_by(RelatedRail.article_id, RelatedRail.rank)
    )
    for row in rows:
        rails.setdefault(row.article_id, []).append(
            RailEntry(row.neighbour_id, row.score, list(row.terms))
        )
    return rails


def holders(session: Session, article_id: int) -> list[int]:
    """Articles whose stored rail shows this one."""
    return list(
        session.scalars(
            select(RelatedRail.article_id)
            .where(RelatedRail.neighbour_id == article_id)
            .order_by(RelatedRail.article_id)
        )
    )


def refresh_rails(
    store: IndexStore, tuning: Tuning, session: Session, article_ids: list[int]
) -> set[int]:
    """Recompute several stored rails in one transaction; returns those whose neighbours
    changed. Each rail costs its own neighbour query, but what is read or written per
    rail besides (its document and article, its query weights, the rail as stored, the
    new rows) is one statement for all of them, not one per rail.

    The queries run before any lock is taken, so a publish entering one of these rails
    meanwhile never waits for the whole batch. Then the rails are locked (their document
    rows, in id order, as every rail writer locks them) and read again: one that another
    writer changed meanwhile is computed again under the lock, so what a publish merged
    into it is never overwritten."""
    ids = sorted(set(article_ids))
    if not ids:
        return set()
    before = entries_many(session, ids)
    found = _best_many(store, tuning, session, ids)
    store.lock_documents(session, ids)
    stored = entries_many(session, ids)
    moved = [article_id for article_id in ids if stored.get(article_id) != before.get(article_id)]
    if moved:
        found.update(_best_many(store, tuning, session, moved))
    rails = {}
    for article_id, (weights, best) in found.items():
        shown = [entry.neighbour_id for entry in stored.get(article_id, [])]
        new = new_rail(tuning, session, weights, best, shown)
        if new is not None:
            rails[article_id] = new
    store.write_rails(session, rails)
    return set(rails)


def _best_many(
    store: IndexStore, tuning: Tuning, session: Session, article_ids: list[int]
) -> dict[int, tuple[dict[str, float], list[Neighbour]]]:
    """Each article's query weights and best neighbours, from its document and article as
    they are now: both are read (again) in one statement each, and `neighbours` finds
    them in the session."""
    fresh = {"populate_existing": True}
    session.scalars(
        select(RelatedDocument)
        .where(RelatedDocument.article_id.in_(article_ids))
        .options(defer(RelatedDocument.vocabulary))
        .execution_options(**fresh)
    ).all()
    session.scalars(
        select(Article)
        .where(Article.id.in_(article_ids))
        .options(WITHOUT_TAGS)
        .execution_options(**fresh)
    ).all()
    queries = query_weights_many(store, session, article_ids)
    found = {}
    for article_id in article_ids:
        weights = queries.get(article_id, {})
        best = (
            neighbours(store, tuning, session, article_id, tuning.size, weights) if weights else []
        )
        found[article_id] = (weights, best)
    return found


@dataclass(frozen=True)
class RailDraft:
    """A rail computed before it is locked, with what it was computed against: the rail as
    stored then and the version of the article's indexed document (None: not indexed)."""

    stored: list[RailEntry]
    version: int | None
    weights: dict[str, float]
    best: list[Neighbour]


def draft_rails(
    store: IndexStore, tuning: Tuning, session: Session, article_ids: list[int], limit: int
) -> dict[int, RailDraft]:
    """Many rails computed at once, taking no lock (a rebuild's chunk): each article's best
    `limit` neighbours, as `neighbours` finds them, scored in bulk (bulk.py); the embedding
    scorer's blend keeps the per-article query. `store_drafts` or `reverse.place` writes
    them."""
    ids = sorted(set(article_ids))
    before = entries_many(session, ids)
    versions = _versions(session, ids)
    queries = query_weights_many(store, session, ids)
    if store.semantic is None:
        from pipeline.related.bulk import neighbours_many  # numpy and scipy, rebuilds only

        best = neighbours_many(tuning, session, queries, limit)
    else:
        best = {
            article_id: neighbours(store, tuning, session, article_id, limit, weights)
            for article_id, weights in queries.items()
        }
    return {
        article_id: RailDraft(
            before.get(article_id, []),
            versions.get(article_id),
            queries.get(article_id, {}),
            best.get(article_id, []),
        )
        for article_id in ids
    }


def redrafted(
    session: Session, drafts: dict[int, RailDraft], article_ids: list[int]
) -> tuple[list[int], dict[int, list[RailEntry]]]:
    """Of these drafted rails (locked by the caller), those another writer changed since
    they were drafted, or whose article was indexed again, which must be computed again;
    and the rails as stored now."""
    stored = entries_many(session, article_ids)
    versions = _versions(session, article_ids)
    moved = [
        article_id
        for article_id in article_ids
        if stored.get(article_id, []) != drafts[article_id].stored
        or versions.get(article_id) != drafts[article_id].version
    ]
    return moved, stored


def store_drafts(
    store: IndexStore,
    tuning: Tuning,
    session: Session,
    drafts: dict[int, RailDraft],
    article_ids: list[int],
) -> set[int]:
    """Write drafted rails, as `refresh_rails` writes the rails it computes: locked (their
    document rows, in id order), any that moved since drafted computed again under the
    lock, stored where their neighbours changed. Returns those."""
    ids = sorted(set(article_ids))
    if not ids:
        return set()
    store.lock_documents(session, ids)
    moved, stored = redrafted(session, drafts, ids)
    found = {
        article_id: (drafts[article_id].weights, drafts[article_id].best) for article_id in ids
    }
    if moved:
        found.update(_best_many(store, tuning, session, moved))
    shown = {
        article_id: [entry.neighbour_id for entry in entries]
        for article_id, entries in stored.items()
    }
    rails = new_rails(tuning, session, found, shown)
    store.write_rails(session, rails)
    return set(rails)


def _versions(session: Session, article_ids: list[int]) -> dict[int, int]:
    return dict(
        session.execute(
            select(RelatedDocument.article_id, RelatedDocument.indexed_version).where(
                RelatedDocument.article_id.in_(article_ids)
            )
        ).all()
    )


def new_rails(
    tuning: Tuning,
    session: Session,
    found: dict[int, tuple[dict[str, float], list[Neighbour]]],
    shown: dict[int, list[int]],
) -> dict[int, list[RailEntry]]:
    """`new_rail` for many rails (article: its query weights and best neighbours), their
    reasons read in one statement: the rails whose neighbours changed."""
    kept = {
        article_id: [neighbour for neighbour in best if neighbour.score >= tuning.min_score]
        for article_id, (_, best) in found.items()
    }
    changed = {
        article_id: best
        for article_id, best in kept.items()
        if shown.get(article_id, []) != [neighbour.article_id for neighbour in best]
    }
    reasons = explain_many(
        session,
        {
            article_id: (found[article_id][0], [n.article_id for n in best])
            for article_id, best in changed.items()
        },
    )
    return {
        article_id: [
            RailEntry(n.article_id, n.score, reasons[article_id][n.article_id]) for n in best
        ]
        for article_id, best in changed.items()
    }


def store_rail(
    store: IndexStore,
    tuning: Tuning,
    session: Session,
    article_id: int,
    weights: dict[str, float],
    best: list[Neighbour],
) -> bool:
    """Store a rail unless its neighbours are the ones already stored; True if stored."""
    shown = [entry.neighbour_id for entry in rail(session, article_id)]
    new = new_rail(tuning, session, weights, best, shown)
    if new is None:
        return False
    store.write_rails(session, {article_id: new})
    return True


def new_rail(
    tuning: Tuning,
    session: Session,
    weights: dict[str, float],
    best: list[Neighbour],
    shown: list[int],
) -> list[RailEntry] | None:
    """The rail to store for `best` (those above the score floor, with their reasons), or
    None when they are the neighbours already `shown`: scores drift a little as document
    frequencies move, but the page would not change, so neither does the row."""
    best = [neighbour for neighbour in best if neighbour.score >= tuning.min_score]
    if shown == [neighbour.article_id for neighbour in best]:
        return None
    reasons = explain(session, weights, [neighbour.article_id for neighbour in best])
    return [RailEntry(n.article_id, n.score, reasons[n.article_id]) for n in best]


def rail_targets(
    session: Session, article_ids: list[int], fresh: set[int], every_rail: bool
) -> list[int]:
    """The rails among `article_ids` to recompute: the articles (re)indexed in this
    rebuild (`fresh`), those with no rail yet, and those whose rail shows an article no
    longer live. The rest stay as stored, so a rebuild of a consistent site rewrites
    nothing."""
    if every_rail:
        return sorted(article_ids)
    targets = set(article_ids) & fresh
    with_rail = set(
        session.scalars(
            select(RelatedRail.article_id).where(RelatedRail.article_id.in_(article_ids)).distinct()
        )
    )
    stale = session.scalars(
        select(RelatedRail.article_id)
        .join(Article, Article.id == RelatedRail.neighbour_id)
        .where(RelatedRail.article_id.in_(article_ids), Article.status != ArticleStatus.PUBLISHED)
    )
    return sorted(targets | (set(article_ids) - with_rail) | set(stale))


def placed_rails(targets: list[int], fresh: set[int], stable: bool) -> list[int]:
    """Of a rebuild's rails, those of fresh articles while older ones remain: each is placed
    (its own rail, and its entry in older articles' rails). Every other is recomputed."""
    return [article_id for article_id in targets if stable and article_id in fresh]
