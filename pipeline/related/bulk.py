"""Neighbour queries for many articles at once, as a rebuild computes rails: the two stages of
query.py's query (candidates.py), each reading what the whole batch needs once and scoring
it in memory with sparse matrix products, instead of one SQL query per article.

    first stage   the heaviest postings of every query's strongest terms, read once however
                  many queries share a term, times the queries' weights: one sparse product
                  gives each query its dot product with every article it reaches
    second stage  the candidates' stored weights, read once for all the queries that share
                  them, times each query's weights over all its terms

The neighbours are those `query.neighbours` finds: the same postings, the same orderings and
ties, and in the first stage the same products summed in the same order (by query term, in
sorted order, as the SQL's branches), so the same candidates. Only the embedding scorer's
blend is left to the per-article query.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from scipy import sparse
from sqlalchemy import ARRAY, BigInteger, any_, bindparam, select
from sqlalchemy.orm import Session

from pipeline.content.models import Article

# The stages' constants are read from their module, where the tests can change them.
from pipeline.related import candidates as stages
from pipeline.related.candidates import CANDIDATE_TERMS, heaviest_postings
from pipeline.related.models import RelatedDocument
from pipeline.related.query import Neighbour
from pipeline.related.tuning import Tuning

# Queries multiplied at once in the first stage: each row of the product holds up to
# CANDIDATE_TERMS x POSTINGS_PER_TERM dot products, so this bounds the product's memory.
FIRST_STAGE_ROWS = 64
# Candidate documents whose weights the second stage holds at once: queries are scored in
# groups whose candidates stay under it (one group, when a batch's candidates overlap).
SECOND_STAGE_DOCUMENTS = 20_000
# Ids per statement when reading rows by id (under SQLite's limit on bound parameters).
IDS_PER_STATEMENT = 1000


def neighbours_many(
    tuning: Tuning, session: Session, queries: dict[int, dict[str, float]], limit: int
) -> dict[int, list[Neighbour]]:
    """Each article's best `limit` neighbours by its query weights (`queries`, strongest term
    first, as query.query_weights_many gives them), as `query.neighbours` finds them with
    the text scorer; an article not indexed, or with no query, has none."""
    owners = _owners(session, sorted(article for article, weights in queries.items() if weights))
    asked = {article: queries[article] for article in owners}
    shortlists = first_stage_many(session, asked)
    # Over-fetched by cosine alone, as `neighbours` does, before recency is blended in.
    scored = second_stage_many(session, asked, shortlists, max(limit * 4, 40))
    dates = _dates(session, sorted({other for found in scored.values() for other, _ in found}))
    found: dict[int, list[Neighbour]] = {article: [] for article in queries}
    for article, (norm, published_at) in owners.items():
        best = [
            Neighbour(
                other, score / norm * tuning.recency(published_at, dates[other]), dates[other]
            )
            for other, score in scored[article]
            if other in dates
        ]
        best.sort(key=lambda neighbour: (-round(neighbour.score, 9), neighbour.article_id))
        found[article] = best[:limit]
    return found


# -- the first stage ----------------------------------------------------------------------


@dataclass(frozen=True)
class HeaviestPostings:
    """The heaviest postings of many terms as one sparse matrix, articles as columns
    (`articles[column]`). Term k has two rows: 2k holds its first POSTINGS_PER_TERM
    postings, 2k + 1 the one after them, which only a query whose own article is among the
    first reads (the SQL excludes the querying article before it applies the cap).
    `heads` holds those (term number, article) pairs for the queried articles."""

    matrix: Any  # scipy.sparse.csr_array
    articles: np.ndarray
    heads: set[tuple[int, int]]

    @classmethod
    def read(cls, session: Session, terms: list[str], queried: set[int]) -> HeaviestPostings:
        counts = np.zeros(2 * len(terms), dtype=np.int64)
        ids: list[np.ndarray] = []
        weights: list[np.ndarray] = []
        heads: set[tuple[int, int]] = set()
        for number, articles, term_weights in heaviest_postings(session, terms):
            first = articles[: stages.POSTINGS_PER_TERM]
            counts[2 * number] = len(first)
            counts[2 * number + 1] = len(articles) - len(first)
            ids.append(np.asarray(articles, dtype=np.int64))
            weights.append(np.asarray(term_weights, dtype=np.float64))
            if len(articles) > stages.POSTINGS_PER_TERM:
                heads.update((number, article) for article in queried.intersection(first))
        everyone = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
        columns, indices = np.unique(everyone, return_inverse=True)
        indptr = np.concatenate([[0], np.cumsum(counts)])
        data = np.concatenate(weights) if weights else np.zeros(0)
        matrix = sparse.csr_array(
            (data, indices.astype(np.int32), indptr), shape=(len(counts), len(columns))
        )
        return cls(matrix, columns, heads)


def first_stage_many(
    session: Session, queries: dict[int, dict[str, float]]
) -> dict[int, list[int]]:
    """Each query's candidates, as candidates.first_stage picks them: the dot product over
    its CANDIDATE_TERMS strongest terms' capped postings (itself excluded), the SHORTLIST
    best by dot product, of those the CANDIDATES best by dot product over norm (ties by id)."""
    strongest = {
        article: sorted(list(weights.items())[:CANDIDATE_TERMS])
        for article, weights in queries.items()
    }
    terms = sorted({term for pairs in strongest.values() for term, _ in pairs})
    postings = HeaviestPostings.read(session, terms, set(queries))
    numbers = {term: number for number, term in enumerate(terms)}
    articles = list(queries)
    shortlists: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for start in range(0, len(articles), FIRST_STAGE_ROWS):
        group = articles[start : start + FIRST_STAGE_ROWS]
        query_matrix = _first_stage_queries(group, strongest, numbers, postings)
        products = sparse.csr_array(query_matrix @ postings.matrix)
        for row, article in enumerate(group):
            span = slice(products.indptr[row], products.indptr[row + 1])
            columns, dots = products.indices[span], products.data[span]
            others = postings.articles[columns] != article
            columns, dots = columns[others], dots[others]
            best = _best(postings.articles[columns], dots, stages.SHORTLIST)
            shortlists[article] = (columns[best], dots[best])
    norms = _column_norms(session, postings.articles, [c for c, _ in shortlists.values()])
    candidates = {}
    for article, (columns, dots) in shortlists.items():
        known = ~np.isnan(norms[columns])
        columns, scores = columns[known], dots[known] / norms[columns[known]]
        best = _best(postings.articles[columns], scores, stages.CANDIDATES)
        candidates[article] = postings.articles[columns[best]].tolist()
    return candidates


def _first_stage_queries(
    group: list[int],
    strongest: dict[int, list[tuple[str, float]]],
    numbers: dict[str, int],
    postings: HeaviestPostings,
) -> Any:
    """The group's first-stage weights, a row per query: its terms' columns ascending, so
    the product adds each article's parts in the SQL's order (by term)."""
    indptr, indices, data = [0], [], []
    for article in group:
        for term, weight in strongest[article]:
            number = numbers[term]
            indices.append(2 * number)
            data.append(weight)
            if (number, article) in postings.heads:
                indices.append(2 * number + 1)
                data.append(weight)
        indptr.append(len(indices))
    return sparse.csr_array(
        (np.asarray(data, dtype=np.float64), np.asarray(indices, dtype=np.int32), indptr),
        shape=(len(group), postings.matrix.shape[0]),
    )


def _column_norms(
    session: Session, articles: np.ndarray, shortlists: list[np.ndarray]
) -> np.ndarray:
    """The norms of the shortlisted columns' articles, by column (NaN for the others)."""
    norms = np.full(len(articles), np.nan)
    wanted = articles[np.unique(np.concatenate(shortlists))] if shortlists else articles[:0]
    statement = select(RelatedDocument.article_id, RelatedDocument.norm)
    for article, norm in _by_ids(session, statement, RelatedDocument.article_id, wanted.tolist()):
        norms[np.searchsorted(articles, article)] = norm
    return norms


# -- the second stage ---------------------------------------------------------------------


def second_stage_many(
    session: Session,
    queries: dict[int, dict[str, float]],
    candidates: dict[int, list[int]],
    fetch: int,
) -> dict[int, list[tuple[int, float]]]:
    """Each query's candidates scored on every query term, as candidates.second_stage
    scores them: the best `fetch`, (id, dot product over the candidate's norm), best first
    (ties by id)."""
    scored: dict[int, list[tuple[int, float]]] = {}
    for group in _groups(candidates, SECOND_STAGE_DOCUMENTS):
        documents = sorted({other for article in group for other in candidates[article]})
        vocabulary = {
            term: number
            for number, term in enumerate(
                sorted({term for article in group for term in queries[article]})
            )
        }
        weights, norms, rows = _document_weights(session, documents, vocabulary)
        query = np.zeros(len(vocabulary))
        for article in group:
            terms = [vocabulary[term] for term in queries[article]]
            query[terms] = list(queries[article].values())
            mine = [other for other in candidates[article] if other in rows and other != article]
            positions = np.asarray([rows[other] for other in mine], dtype=np.int64)
            scores = (weights[positions] @ query) / norms[positions]
            ids = np.asarray(mine, dtype=np.int64)
            best = _best(ids, scores, fetch)
            scored[article] = list(zip(ids[best].tolist(), scores[best].tolist(), strict=True))
            query[terms] = 0.0
    return scored


def _groups(candidates: dict[int, list[int]], bound: int) -> Iterator[list[int]]:
    """The queries in groups, in order, whose candidates number at most `bound` together (a
    query with more than that is a group of its own)."""
    group: list[int] = []
    seen: set[int] = set()
    for article, others in candidates.items():
        added = set(others) - seen
        if group and len(seen) + len(added) > bound:
            yield group
            group, seen, added = [], set(), set(others)
        group.append(article)
        seen |= added
    if group:
        yield group


def _document_weights(
    session: Session, documents: list[int], vocabulary: dict[str, int]
) -> tuple[Any, np.ndarray, dict[int, int]]:
    """The documents' stored weights on the vocabulary's terms (a row each, columns by
    `vocabulary`), their norms, and each document's row (those not indexed are left out).
    Each statement's weights become arrays before the next is read: as Python numbers,
    a group's would take several times the memory."""
    counts: list[int] = []
    indices: list[np.ndarray] = []
    data: list[np.ndarray] = []
    norms: list[float] = []
    rows: dict[int, int] = {}
    statement = select(
        RelatedDocument.article_id, RelatedDocument.norm, RelatedDocument.term_weights
    )
    for start in range(0, len(documents), IDS_PER_STATEMENT):
        batch = documents[start : start + IDS_PER_STATEMENT]
        terms: list[int] = []
        weights: list[float] = []
        for article, norm, term_weights in _by_ids(
            session, statement, RelatedDocument.article_id, batch
        ):
            # The terms some query has alone (a set intersection, then lookups, all in C).
            shared = term_weights.keys() & vocabulary.keys()
            terms.extend(map(vocabulary.__getitem__, shared))
            weights.extend(map(term_weights.__getitem__, shared))
            counts.append(len(shared))
            rows[article] = len(norms)
            norms.append(norm)
        indices.append(np.asarray(terms, dtype=np.int32))
        data.append(np.asarray(weights, dtype=np.float64))
    indptr = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
    matrix = sparse.csr_array(
        (
            np.concatenate([np.zeros(0), *data]),
            np.concatenate([np.zeros(0, dtype=np.int32), *indices]),
            indptr,
        ),
        shape=(len(norms), len(vocabulary)),
    )
    return matrix, np.asarray(norms, dtype=np.float64), rows


# -- shared -------------------------------------------------------------------------------


def _best(ids: np.ndarray, values: np.ndarray, count: int) -> np.ndarray:
    """Positions of the `count` highest values, best first, ties by the lower id (as the
    SQL's ORDER BY value DESC, id)."""
    if len(values) > count:
        threshold = np.partition(values, len(values) - count)[len(values) - count]
        keep = np.flatnonzero(values >= threshold)
    else:
        keep = np.arange(len(values))
    order = np.lexsort((ids[keep], -values[keep]))
    return keep[order[:count]]


def _owners(session: Session, article_ids: list[int]) -> dict[int, tuple[float, datetime]]:
    """The indexed articles among these: their norm and publication date."""
    statement = select(RelatedDocument.article_id, RelatedDocument.norm, Article.published_at).join(
        Article, Article.id == RelatedDocument.article_id
    )
    rows = _by_ids(session, statement, RelatedDocument.article_id, article_ids)
    return {article: (norm, published_at) for article, norm, published_at in rows}


def _dates(session: Session, article_ids: list[int]) -> dict[int, datetime]:
    statement = select(Article.id, Article.published_at)
    return dict(_by_ids(session, statement, Article.id, article_ids))


def _by_ids(session: Session, statement: Any, key: Any, ids: list[int]) -> Iterator[Any]:
    """The rows of `statement` whose `key` is one of `ids`, IDS_PER_STATEMENT ids at a time.
    PostgreSQL takes the ids as one array: a thousand parameters cost more to send than
    the rows they select."""
    postgresql = session.get_bind().dialect.name == "postgresql"
    for start in range(0, len(ids), IDS_PER_STATEMENT):
        batch = ids[start : start + IDS_PER_STATEMENT]
        among = (
            key == any_(bindparam(None, batch, ARRAY(BigInteger))) if postgresql else key.in_(batch)
        )
        yield from session.execute(statement.where(among))
