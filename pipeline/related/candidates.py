"""A neighbour query's two stages, as SQL: the strongest terms find candidates through short
postings lists, then the candidates are scored exactly on every query term.

Two stages keep a query cheap however large the archive: the first reads a bounded range of
postings per term, the second a row per candidate.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Float, String, column, func, select, text, true, values
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause

from pipeline.content.models import Article
from pipeline.related.models import RelatedDocument, RelatedTerm

# The first stage's terms and how many candidates it hands on: enough for the two stages to
# rank as an exact query over every query term does, while reading a fraction of its postings.
CANDIDATE_TERMS = 40
CANDIDATES = 300
# The first stage ranks by raw dot product to a shortlist before dividing by the norms (a
# lookup per article): long documents get a head start there, so the shortlist is several
# times the candidates.
SHORTLIST = 1500
# The first stage reads at most this many postings per term, heaviest first (the term index
# keeps them in that order). A term shared by thousands of articles says little about any
# one of them; the cap keeps a query's cost flat as the archive grows instead of linear in it,
# and is high enough that the ranking stays the uncapped query's.
POSTINGS_PER_TERM = 400


def first_stage(article_id: int, strongest: dict[str, float]) -> Any:
    """Candidates by cosine over the heaviest postings of the strongest terms.

    One bounded index range per term, summed per article: the cost depends on the number
    of terms and the cap, not on the size of the archive. Written as SQL text because
    building the same 40-branch statement with the expression language every time cost
    more than running it."""
    terms = sorted(strongest.items())
    parameters: dict[str, Any] = {"me": article_id, "cap": POSTINGS_PER_TERM}
    for number, (term, query_weight) in enumerate(terms):
        parameters[f"t{number}"], parameters[f"w{number}"] = term, query_weight
    parameters["limit"], parameters["shortlist"] = CANDIDATES, SHORTLIST
    return _first_stage_sql(len(terms)).bindparams(**parameters)


@functools.lru_cache(maxsize=64)
def _first_stage_sql(term_count: int) -> TextClause:
    # A UNION ALL of LIMIT subqueries: PostgreSQL and SQLite both read each term's postings
    # backwards along (term, weight, article_id) and stop after the cap.
    branches = " UNION ALL ".join(
        f"SELECT * FROM (SELECT article_id AS other, weight * :w{number} AS part"
        f" FROM related_terms WHERE term = :t{number} AND article_id <> :me"
        f" ORDER BY weight DESC, article_id DESC LIMIT :cap) AS p{number}"
        for number in range(term_count)
    )
    # Only the best `shortlist` by dot product have their norm looked up: in a large archive
    # the capped postings belong to many thousands of distinct articles, and a primary-key
    # lookup for each would be most of the query's time.
    return text(
        "SELECT dots.other FROM (SELECT other, SUM(part) AS dot"
        f" FROM ({branches}) AS found GROUP BY other"
        " ORDER BY dot DESC, other LIMIT :shortlist) AS dots"
        " JOIN related_documents ON related_documents.article_id = dots.other"
        " ORDER BY dots.dot / related_documents.norm DESC, dots.other LIMIT :limit"
    )


def heaviest_postings(
    session: Session, terms: list[str], extra: int = 1
) -> Iterator[tuple[int, list[int], list[float]]]:
    """Each term's heaviest postings, as the first stage reads them: its number in `terms`,
    then its articles and their weights, heaviest first (ties by the higher id), at most
    POSTINGS_PER_TERM + `extra` of them: one more than a query reads, to stand in for the
    querying article when it is among the heaviest. Terms with no postings are left out.

    Many queries' first stages (pipeline/related/bulk.py) read them once, in a statement
    per TERMS_PER_STATEMENT terms."""
    cap = POSTINGS_PER_TERM + extra
    for start in range(0, len(terms), TERMS_PER_STATEMENT):
        batch = terms[start : start + TERMS_PER_STATEMENT]
        if session.get_bind().dialect.name == "postgresql":
            rows = session.execute(_HEAVIEST_LATERAL, {"terms": batch, "cap": cap})
            for number, articles, weights in rows:
                yield start + number - 1, articles, weights
            continue
        rows = session.execute(
            _heaviest_union(len(batch)),
            {"cap": cap} | {f"t{number}": term for number, term in enumerate(batch)},
        )
        for number, group in itertools.groupby(rows, key=lambda row: row[0]):
            postings = list(group)
            yield (
                start + number,
                [article for _, article, _ in postings],
                [weight for _, _, weight in postings],
            )


# Terms whose postings one statement reads: bounds the rows held at once (a few hundred
# per term) and stays under SQLite's limit on a compound SELECT's branches (500).
TERMS_PER_STATEMENT = 400
# PostgreSQL: one bounded index range per term, as the first stage's branches, each term's
# postings handed back as two arrays (one row per term: far fewer rows to convert).
_HEAVIEST_LATERAL = text(
    "SELECT query_terms.number, array_agg(heaviest.article_id ORDER BY heaviest.weight DESC,"
    " heaviest.article_id DESC), array_agg(heaviest.weight ORDER BY heaviest.weight DESC,"
    " heaviest.article_id DESC)"
    " FROM unnest(CAST(:terms AS text[])) WITH ORDINALITY AS query_terms(term, number)"
    " CROSS JOIN LATERAL (SELECT article_id, weight FROM related_terms"
    " WHERE related_terms.term = query_terms.term"
    " ORDER BY weight DESC, article_id DESC LIMIT :cap) AS heaviest"
    " GROUP BY query_terms.number ORDER BY query_terms.number"
)


@functools.lru_cache(maxsize=8)
def _heaviest_union(term_count: int) -> TextClause:
    # SQLite has no LATERAL: the first stage's UNION ALL of LIMIT subqueries, numbered.
    branches = " UNION ALL ".join(
        f"SELECT * FROM (SELECT {number} AS number, article_id, weight FROM related_terms"
        f" WHERE term = :t{number} ORDER BY weight DESC, article_id DESC LIMIT :cap) AS p{number}"
        for number in range(term_count)
    )
    return text(
        f"SELECT number, article_id, weight FROM ({branches})"
        " ORDER BY number, weight DESC, article_id DESC"
    )


def second_stage(
    session: Session,
    article_id: int,
    query_weights: dict[str, float],
    fetch: int,
    candidates: list[int],
) -> list[tuple[int, float, datetime]]:
    """The candidates scored on every query term, best first: (id, dot product over the
    candidate's norm, date); the caller divides by the query article's norm.

    Each candidate's weights are one row, scored here: a few hundred primary-key reads,
    where joining their postings would read every posting they share with the query, and
    PostgreSQL's planner, left to choose, reads the query terms' whole postings lists."""
    if not candidates:
        return []
    rows = session.execute(
        select(RelatedDocument.article_id, RelatedDocument.norm, RelatedDocument.term_weights)
        .where(RelatedDocument.article_id.in_(candidates))
    )  # fmt: skip
    dots, norms = {}, {}
    for other, norm, weights in rows:
        if other != article_id:
            # The shared terms alone (a set intersection, in C): a handful of the ~100.
            shared = weights.keys() & query_weights.keys()
            dots[other] = sum(query_weights[term] * weights[term] for term in shared)
            norms[other] = norm
    best = sorted(dots, key=lambda other: (-dots[other] / norms[other], other))[:fetch]
    dates = dict(
        session.execute(select(Article.id, Article.published_at).where(Article.id.in_(best))).all()
    )
    return [(other, dots[other] / norms[other], dates[other]) for other in best if other in dates]


def text_candidates(
    article_id: int,
    query_weights: dict[str, float],
    fetch: int,
    among: list[int] | None = None,
) -> Any:
    """Dot products over the postings of the query's terms, best by cosine first: the text
    scores of the embedding scorer's candidates.

    The query weights join as a VALUES list: the database looks each posting's weight
    up by term through the (term, article_id, weight) index instead of testing a long
    CASE per row, and aggregates per article before touching any other table."""
    query = (
        values(column("term", String), column("qw", Float), name="query_terms")
        .data(sorted(query_weights.items()))
        .cte("query_terms")
    )
    dot = (
        select(
            RelatedTerm.article_id.label("other"),
            func.sum(RelatedTerm.weight * query.c.qw).label("dot"),
        )
        .select_from(query)
        .join(RelatedTerm, RelatedTerm.term == query.c.term)
        .where(
            RelatedTerm.article_id != article_id,
            RelatedTerm.article_id.in_(among) if among is not None else true(),
        )
        .group_by(RelatedTerm.article_id)
        .subquery()
    )
    score = dot.c.dot / RelatedDocument.norm
    return (
        select(dot.c.other, score, Article.published_at)
        .join(RelatedDocument, RelatedDocument.article_id == dot.c.other)
        .join(Article, Article.id == dot.c.other)
        .order_by(score.desc(), dot.c.other)
        .limit(fetch)
    )
