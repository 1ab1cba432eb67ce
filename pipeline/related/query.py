"""Neighbour queries: the articles most like one article, their scores and the terms they
share with it.

An article's query is its strongest terms, weighted tf x idf^2 (the documents carry tf
alone), so a score is the cosine of the two TF-IDF vectors. The query runs in two stages
(candidates.py), then blends in recency and, when it is on, the embedding scorer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.content.models import Article
from pipeline.related.candidates import (
    CANDIDATE_TERMS,
    first_stage,
    second_stage,
    text_candidates,
)
from pipeline.related.index import idf_of
from pipeline.related.models import RelatedDocument
from pipeline.related.store import IndexStore
from pipeline.related.tuning import Tuning

# Terms a query reads postings for, strongest first: with the postings each article keeps
# (index.STORED_TERMS), enough for the query to rank as exact kNN does.
QUERY_TERMS = 150
# Terms given as the reason an article is a neighbour.
EXPLAIN_TERMS = 3
# Documents read per statement when explaining many rails at once.
EXPLAINED_PER_STATEMENT = 1000


@dataclass(frozen=True)
class Neighbour:
    article_id: int
    score: float
    published_at: datetime


def neighbours(
    store: IndexStore,
    tuning: Tuning,
    session: Session,
    article_id: int,
    limit: int,
    query_weights: dict[str, float] | None = None,
) -> list[Neighbour]:
    """The articles most like this one, best first (ties by id)."""
    document = store.document(session, article_id)
    if document is None:
        return []
    if query_weights is None:
        query_weights = query_weights_of(store, session, article_id)
    if not query_weights:
        return []
    # Over-fetch by cosine alone, then blend in recency on the short list.
    fetch = max(limit * 4, 40)
    strongest = dict(list(query_weights.items())[:CANDIDATE_TERMS])
    candidates = list(session.scalars(first_stage(article_id, strongest)))
    rows = second_stage(session, article_id, query_weights, fetch, candidates)
    found = {other: (score / document.norm, when) for other, score, when in rows}
    if store.semantic is not None:
        found = _blend_semantic(store, session, article_id, query_weights, document, found, fetch)
    own = session.get(Article, article_id)
    assert own is not None
    scored = [
        Neighbour(other_id, score * tuning.recency(own.published_at, published_at), published_at)
        for other_id, (score, published_at) in found.items()
    ]
    scored.sort(key=lambda neighbour: (-round(neighbour.score, 9), neighbour.article_id))
    return scored[:limit]


def _blend_semantic(
    store: IndexStore,
    session: Session,
    article_id: int,
    query_weights: dict[str, float],
    document: RelatedDocument,
    found: dict[int, tuple[float, datetime]],
    fetch: int,
) -> dict[int, tuple[float, datetime]]:
    """The embedding scorer's hook (pipeline/related/semantic.py): blended scores over the text
    candidates and the `fetch` nearest articles by embedding, with their dates."""
    assert store.semantic is not None

    def text_scores(others: list[int]) -> dict[int, float]:
        statement = text_candidates(article_id, query_weights, len(others)).where(
            RelatedDocument.article_id.in_(others)
        )
        return {other: float(dot) / document.norm for other, dot, _ in session.execute(statement)}

    blended = store.semantic.blend(
        session,
        article_id,
        {other: score for other, (score, _) in found.items()},
        fetch,
        text_scores,
    )
    dates = {other: when for other, (_, when) in found.items()}
    missing = [other for other in blended if other not in dates]
    if missing:
        rows = session.execute(
            select(Article.id, Article.published_at).where(Article.id.in_(missing))
        ).all()
        dates.update(dict(rows))
    return {other: (score, dates[other]) for other, score in blended.items()}


def query_weights_of(store: IndexStore, session: Session, article_id: int) -> dict[str, float]:
    """An article's query (empty when it is not indexed)."""
    return query_weights_many(store, session, [article_id]).get(article_id, {})


def query_weights_many(
    store: IndexStore, session: Session, article_ids: list[int]
) -> dict[int, dict[str, float]]:
    """Each article's query: its strongest terms, weighted tf x idf^2 (the document side
    carries tf alone), in two queries however many articles (their weights rows, then
    the document counts)."""
    postings = {
        article_id: weights
        for article_id, weights in store.term_weights_many(session, article_ids).items()
        if weights
    }
    idf = idf_of(store, session, sorted({term for terms in postings.values() for term in terms}))
    queries = {}
    for article_id, weights in postings.items():
        strongest = sorted(weights, key=lambda term: (-weights[term] * idf[term], term))
        queries[article_id] = {
            term: weights[term] * idf[term] ** 2 for term in strongest[:QUERY_TERMS]
        }
    return queries


def explain(
    session: Session, query_weights: dict[str, float], others: list[int]
) -> dict[int, list[str]]:
    """For each other article, the terms that add most to its score, strongest first."""
    return explain_many(session, {0: (query_weights, others)})[0]


def explain_many(
    session: Session, asked: dict[int, tuple[dict[str, float], list[int]]]
) -> dict[int, dict[int, list[str]]]:
    """`explain` for several queries (by article: its query weights and the others), the
    others' weights read in one statement."""
    wanted = sorted({other for _, others in asked.values() for other in others})
    postings: dict[int, dict[str, float]] = {}
    for start in range(0, len(wanted), EXPLAINED_PER_STATEMENT):
        postings.update(
            session.execute(
                select(RelatedDocument.article_id, RelatedDocument.term_weights).where(
                    RelatedDocument.article_id.in_(wanted[start : start + EXPLAINED_PER_STATEMENT])
                )
            ).all()
        )
    return {
        article_id: {other: _reasons(query_weights, postings.get(other, {})) for other in others}
        for article_id, (query_weights, others) in asked.items()
    }


def _reasons(query_weights: dict[str, float], weights: dict[str, float]) -> list[str]:
    terms = {
        term: weight * query_weights[term]
        for term, weight in weights.items()
        if term in query_weights
    }
    return sorted(terms, key=lambda term: (-terms[term], term))[:EXPLAIN_TERMS]
