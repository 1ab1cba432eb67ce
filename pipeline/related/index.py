""" "More like this": TF-IDF cosine over title, body and tags, with the index in the database.

The index is shared by every worker through the database: postings (article, term, weight),
document frequencies kept current on every publish and unpublish, and each article's norm.
No process holds the archive in memory; a query (query.py) reads only the postings of one
article's most telling terms. This module puts articles in the index and takes them out.

A publish indexes its article at once (`index_many`). A rebuild indexes in two passes
(`count_many`, then `weigh_many` once every article is counted), so every vector it writes
is weighed with the same, final, document frequencies whatever order its chunks ran in.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pipeline.content.models import Article, ArticleStatus
from pipeline.content.sanitize import html_to_text
from pipeline.content.text import term_counts
from pipeline.related.models import RelatedDocument, RelatedRail
from pipeline.related.store import ALL_DOCUMENTS, UNWEIGHED, IndexStore

# Postings kept per article, strongest first: enough for nearly all of a news article's
# cosine mass, so a query over them ranks as exact kNN does. Common terms stay in: words like
# "film" or "market" are what tie a story to its beat.
STORED_TERMS = 400


def index_many(store: IndexStore, session: Session, articles: list[Article]) -> list[int]:
    """Index several articles at once: document frequencies are counted for all of them
    before any weight is computed, so a bulk load gets the same norms as a slow one.
    Returns the ids that were (re)indexed (a no-op for a version already in)."""
    indexed = _indexed(session, articles)
    stale = [article for article in articles if _is_stale(article, indexed)]
    bags = _recount(store, session, stale, set(indexed))
    idf = idf_of(store, session, _terms_of(bags.values()))
    documents_rows, terms_rows = [], []
    for article in stale:
        norm, weights = _weigh(bags[article.id], idf)
        documents_rows.append(_document(article, bags[article.id], norm, weights))
        terms_rows.extend(_postings(article.id, weights))
    store.store_documents(session, documents_rows, terms_rows)
    fresh = {article.id for article in stale}
    fresh.update(store.store_vectors(session, articles))
    return [article.id for article in articles if article.id in fresh]


def count_many(store: IndexStore, session: Session, articles: list[Article]) -> list[int]:
    """A rebuild's first pass over some articles: each new version's terms counted into the
    document frequencies and its bag stored, unweighed (see UNWEIGHED). Weights computed
    now would use the counts as far as the rebuild has got, which depends on the order its
    chunks run in; `weigh_many` computes them once every count is in. Returns the ids
    counted, with those an earlier try counted and no one has weighed yet."""
    indexed = _indexed(session, articles)
    stale = [article for article in articles if _is_stale(article, indexed)]
    bags = _recount(store, session, stale, set(indexed))
    store.store_documents(
        session,
        [_document(article, bags[article.id], UNWEIGHED, {}) for article in stale],
        [],
    )
    fresh = {article.id for article in stale}
    fresh.update(article_id for article_id, (_, norm) in indexed.items() if norm == UNWEIGHED)
    fresh.update(store.store_vectors(session, articles))
    return [article.id for article in articles if article.id in fresh]


def weigh_many(store: IndexStore, session: Session, article_ids: list[int]) -> list[int]:
    """A rebuild's second pass: the unweighed documents among these given their norms,
    weights and postings, with the document counts as they stand (final once the rebuild
    has counted every article). Returns the ids weighed."""
    bags = store.unweighed_bags(session, article_ids)
    idf = idf_of(store, session, _terms_of(bags.values()))
    documents_rows, terms_rows = [], []
    for article_id, bag in sorted(bags.items()):
        norm, weights = _weigh(bag, idf)
        documents_rows.append({"article_id": article_id, "norm": norm, "term_weights": weights})
        terms_rows.extend(_postings(article_id, weights))
    store.weigh_documents(session, documents_rows, terms_rows)
    return sorted(bags)


def _indexed(session: Session, articles: list[Article]) -> dict[int, tuple[int, float]]:
    """The version and norm of each of these articles' documents, by article."""
    rows = session.execute(
        select(
            RelatedDocument.article_id, RelatedDocument.indexed_version, RelatedDocument.norm
        ).where(RelatedDocument.article_id.in_([article.id for article in articles]))
    )
    return {article_id: (version, norm) for article_id, version, norm in rows}


def _is_stale(article: Article, indexed: dict[int, tuple[int, float]]) -> bool:
    return article.id not in indexed or indexed[article.id][0] != article.version


def _recount(
    store: IndexStore, session: Session, stale: list[Article], indexed: set[int]
) -> dict[int, Counter[str]]:
    """Old versions (of the `indexed` among `stale`) out and new ones in, as one set of count
    changes written at once. Returns each article's bag of terms."""
    frequency_deltas: Counter[str] = Counter()
    for article in stale:
        if article.id in indexed:
            frequency_deltas.subtract(store.drop(session, article.id))
    bags = {article.id: _bag(article) for article in stale}
    for bag in bags.values():
        frequency_deltas.update([*bag.keys(), ALL_DOCUMENTS])
    store.add_counts(session, dict(frequency_deltas))
    return bags


def _weigh(bag: Counter[str], idf: dict[str, float]) -> tuple[float, dict[str, float]]:
    """An article's vector: its norm, and its strongest terms with their tf weights."""
    weighted = {term: (1 + math.log(count)) * idf[term] for term, count in bag.items()}
    kept = sorted(weighted, key=lambda term: (-weighted[term], term))[:STORED_TERMS]
    norm = math.sqrt(sum(weighted[term] ** 2 for term in kept)) or 1.0
    return norm, {term: 1 + math.log(bag[term]) for term in kept}


def _document(
    article: Article, bag: Counter[str], norm: float, weights: dict[str, float]
) -> dict[str, Any]:
    return {
        "article_id": article.id,
        "norm": norm,
        "indexed_version": article.version,
        "vocabulary": dict(sorted(bag.items())),
        "term_weights": weights,
    }


def _postings(article_id: int, weights: dict[str, float]) -> list[dict[str, Any]]:
    return [
        {"article_id": article_id, "term": term, "weight": weight}
        for term, weight in weights.items()
    ]


def _terms_of(bags: Iterable[Mapping[str, int]]) -> list[str]:
    return sorted({term for bag in bags for term in bag})


def fold_counts(store: IndexStore, session: Session) -> bool:
    """Fold the document counts' pending deltas in (see IndexStore.fold_counts)."""
    return store.fold_counts(session)


def remove(store: IndexStore, session: Session, article_id: int) -> None:
    """Take an article out of the index, and its terms out of the document counts."""
    store.add_counts(session, dict.fromkeys(store.drop(session, article_id), -1))


def remove_unpublished(store: IndexStore, session: Session) -> None:
    """Take every article no longer published out of the index, with its rail."""
    gone = session.scalars(
        select(RelatedDocument.article_id)
        .join(Article, Article.id == RelatedDocument.article_id)
        .where(Article.status != ArticleStatus.PUBLISHED)
    )
    for article_id in list(gone):
        remove(store, session, article_id)
    session.execute(
        delete(RelatedRail).where(
            RelatedRail.article_id.in_(
                select(Article.id).where(Article.status != ArticleStatus.PUBLISHED)
            )
        )
    )


def has_stable(store: IndexStore, session: Session, fresh: set[int]) -> bool:
    """Whether any indexed article is not fresh: when every one is (a first build, an
    import) there are no older rails to enter and no query is spent looking for them.
    Fresh articles' own rails are all recomputed by the rebuild."""
    return store.document_counts(session, [ALL_DOCUMENTS])[ALL_DOCUMENTS] > len(fresh)


def idf_of(store: IndexStore, session: Session, terms: list[str]) -> dict[str, float]:
    """Smoothed inverse document frequency of each term."""
    frequencies = store.document_counts(session, [*terms, ALL_DOCUMENTS])
    total = frequencies[ALL_DOCUMENTS]
    return {term: math.log((1 + total) / (1 + frequencies[term])) + 1 for term in terms}


def _bag(article: Article) -> Counter[str]:
    return term_counts(
        article.title, html_to_text(article.body_html), [tag.slug for tag in article.tags]
    )
