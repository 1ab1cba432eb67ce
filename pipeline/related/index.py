""" "More like this": TF-IDF cosine over title, body and tags, with the index in the database.

The index is shared by every worker through the database: postings (article, term, weight),
document frequencies kept current on every publish and unpublish, and each article's norm.
No process holds the archive in memory; a query (query.py) reads only the postings of one
article's most telling terms. This module puts articles in the index and takes them out.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pipeline.content.models import Article, ArticleStatus
from pipeline.content.sanitize import html_to_text
from pipeline.content.text import term_counts
from pipeline.related.models import RelatedDocument, RelatedRail
from pipeline.related.store import ALL_DOCUMENTS, IndexStore

# Postings kept per article, strongest first: enough for nearly all of a news article's
# cosine mass, so a query over them ranks as exact kNN does. Common terms stay in: words like
# "film" or "market" are what tie a story to its beat.
STORED_TERMS = 400


def index_many(store: IndexStore, session: Session, articles: list[Article]) -> list[int]:
    """Index several articles at once: document frequencies are counted for all of them
    before any weight is computed, so a bulk load gets the same norms as a slow one.
    Returns the ids that were (re)indexed (a no-op for a version already in)."""
    indexed_versions = dict(
        session.execute(
            select(RelatedDocument.article_id, RelatedDocument.indexed_version).where(
                RelatedDocument.article_id.in_([article.id for article in articles])
            )
        ).all()
    )
    stale = [article for article in articles if indexed_versions.get(article.id) != article.version]
    bags, frequency_deltas = _recount(store, session, stale, set(indexed_versions))
    idf = idf_of(store, session, [term for term in frequency_deltas if term != ALL_DOCUMENTS])
    documents_rows, terms_rows = [], []
    for article in stale:
        document, postings = _vector(article, bags[article.id], idf)
        documents_rows.append(document)
        terms_rows.extend(postings)
    store.store_documents(session, documents_rows, terms_rows)
    fresh = {article.id for article in stale}
    fresh.update(store.store_vectors(session, articles))
    return [article.id for article in articles if article.id in fresh]


def _recount(
    store: IndexStore, session: Session, stale: list[Article], indexed: set[int]
) -> tuple[dict[int, Counter[str]], Counter[str]]:
    """Old versions (of the `indexed` among `stale`) out and new ones in, as one set of count
    changes written at once. Returns each article's bag of terms and the count changes."""
    frequency_deltas: Counter[str] = Counter()
    for article in stale:
        if article.id in indexed:
            frequency_deltas.subtract(store.drop(session, article.id))
    bags = {article.id: _bag(article) for article in stale}
    for bag in bags.values():
        frequency_deltas.update([*bag.keys(), ALL_DOCUMENTS])
    store.add_counts(session, dict(frequency_deltas))
    return bags, frequency_deltas


def _vector(
    article: Article, bag: Counter[str], idf: dict[str, float]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An article's document row and postings: its strongest terms, their weights."""
    weighted = {term: (1 + math.log(count)) * idf[term] for term, count in bag.items()}
    kept = sorted(weighted, key=lambda term: (-weighted[term], term))[:STORED_TERMS]
    norm = math.sqrt(sum(weighted[term] ** 2 for term in kept)) or 1.0
    weights = {term: 1 + math.log(bag[term]) for term in kept}
    document = {
        "article_id": article.id,
        "norm": norm,
        "indexed_version": article.version,
        "vocabulary": sorted(bag),
        "term_weights": weights,
    }
    postings = [
        {"article_id": article.id, "term": term, "weight": weight}
        for term, weight in weights.items()
    ]
    return document, postings


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
