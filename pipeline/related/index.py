""" "More like this": TF-IDF cosine over title, body and tags, with the index in the database.

The index is shared by every worker through the database: postings (article, term, weight),
document frequencies kept current on every publish and unpublish, and each article's norm.
No process holds the archive in memory; a query reads only the postings of one article's
most telling terms.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Float,
    String,
    column,
    delete,
    func,
    insert,
    select,
    text,
    true,
    values,
)
from sqlalchemy.orm import Session, defer
from sqlalchemy.sql.elements import TextClause

from pipeline.config import Settings
from pipeline.content.models import Article, ArticleStatus
from pipeline.content.sanitize import html_to_text
from pipeline.content.text import term_counts
from pipeline.content.upsert import increment_counts
from pipeline.related.merge import Entry, entry_for, merged
from pipeline.related.models import RelatedDocument, RelatedRail, RelatedTerm, TermFrequency
from pipeline.site.lists import WITHOUT_TAGS

if TYPE_CHECKING:
    from pipeline.related.semantic import SemanticScorer

# Postings kept per article, strongest first: enough for nearly all of a news article's
# cosine mass (measured on BBC: 400 stored / 150 queried matches exact kNN's precision@5 of
# 0.93; 120 / 48 loses 2 points, and dropping common terms from queries loses more, since
# words like "film" or "market" are what tie a story to its beat).
STORED_TERMS = 400
# Terms a query reads postings for, strongest first.
QUERY_TERMS = 150
# Two stages keep a query cheap however large the archive: the strongest (rarest, most
# telling) terms find candidates through short postings lists, then the candidates are scored
# exactly on all query terms. On BBC, 40 terms / 300 candidates keeps precision@5 at exact
# kNN's 0.93 (30 / 200 measured 0.929 from the rendered pages) while reading a fraction of
# the postings a one-stage query over 150 terms reads.
CANDIDATE_TERMS = 40
CANDIDATES = 300
# The first stage ranks by raw dot product to a shortlist before dividing by the norms (a
# lookup per article): long documents get a head start there, so the shortlist is several
# times the candidates.
SHORTLIST = 1500
# The first stage reads at most this many postings per term, heaviest first (the term index
# keeps them in that order). A term shared by thousands of articles says little about any
# one of them; the cap keeps a query's cost flat as the archive grows instead of linear in it.
# On BBC (2,225 articles) it leaves precision@5 where the uncapped query had it.
POSTINGS_PER_TERM = 400
EXPLAIN_TERMS = 3
# The empty term, which no text yields, is a term every document has: its document count is
# the number of documents in the index, kept by the same upserts as every term's (counting
# the documents table on every query was linear in the archive: 10-30 ms at 100,000).
ALL_DOCUMENTS = ""


@dataclass(frozen=True)
class Neighbour:
    article_id: int
    score: float
    published_at: datetime


@dataclass(frozen=True)
class PendingSpread:
    """What `apply_own` leaves to `spread_change`: the rails that showed the article before,
    the rails already changed, and the candidates whose rails the article may enter."""

    holders: set[int]
    changed: set[int]
    candidates: list[Neighbour]


@dataclass(frozen=True)
class RailEntry:
    neighbour_id: int
    score: float
    terms: list[str]


class RelatedIndex:
    def __init__(self, settings: Settings) -> None:
        self.size = settings.related_size
        self.candidates = settings.related_candidates
        self.min_score = settings.related_min_score
        self.recency_weight = settings.related_recency_weight
        self.half_life_days = settings.related_recency_half_life_days
        self.semantic: SemanticScorer | None = None
        if settings.related_semantic_weight > 0:
            # The optional embedding scorer, imported only when asked for: the default
            # install never loads numpy, torch or the model.
            from pipeline.related.semantic import SemanticScorer

            self.semantic = SemanticScorer(settings.related_semantic_weight)

    # -- the index -------------------------------------------------------------------------

    def index(self, session: Session, article: Article) -> None:
        """Put an article's current text in the index (a no-op when this version is in)."""
        self.index_many(session, [article])

    def index_many(self, session: Session, articles: list[Article]) -> list[int]:
        """Index several articles at once: document frequencies are counted for all of them
        before any weight is computed, so a bulk load gets the same norms as a slow one.
        Returns the ids that were (re)indexed."""
        documents = {
            document.article_id: document
            for document in session.scalars(
                select(RelatedDocument).where(
                    RelatedDocument.article_id.in_([article.id for article in articles])
                )
            )
        }
        stale = [
            article
            for article in articles
            if article.id not in documents
            or documents[article.id].indexed_version != article.version
        ]
        # Old versions out and new ones in as one set of count changes: one sorted pass takes
        # the counters' row locks in the same order as every other writer (two passes, as
        # remove-then-add, can each wait on the other's second pass: a deadlock).
        frequency_deltas: Counter[str] = Counter()
        for article in stale:
            if article.id in documents:
                frequency_deltas.subtract(self._drop(session, article.id))
        bags = {article.id: _bag(article) for article in stale}
        for bag in bags.values():
            frequency_deltas.update([*bag.keys(), ALL_DOCUMENTS])
        self._add_counts(session, dict(frequency_deltas))
        idf = self._idf(session, [term for term in frequency_deltas if term != ALL_DOCUMENTS])
        documents_rows, terms_rows = [], []
        for article in stale:
            document, postings = self._vector(article, bags[article.id], idf)
            documents_rows.append(document)
            terms_rows.extend(postings)
        self._store_documents(session, documents_rows, terms_rows)
        fresh = {article.id for article in stale}
        fresh.update(self._store_vectors(session, articles))
        return [article.id for article in articles if article.id in fresh]

    def _store_documents(
        self, session: Session, documents: list[dict[str, Any]], postings: list[dict[str, Any]]
    ) -> None:
        # Core bulk inserts: a rebuild indexes hundreds of thousands of postings, far too many
        # to build as ORM objects.
        if documents:
            session.execute(insert(RelatedDocument), documents)
        for start in range(0, len(postings), 5000):
            session.execute(insert(RelatedTerm), postings[start : start + 5000])

    def _store_vectors(self, session: Session, articles: list[Article]) -> list[int]:
        """Vectors for the embedding scorer, in one batch; returns the ids (re)encoded."""
        return self.semantic.store(session, articles) if self.semantic is not None else []

    def _add_counts(self, session: Session, deltas: dict[str, int]) -> None:
        """Document counts changed. The index writes through these few methods (and reads
        its own documents through `_document` and `_term_weights_many`): impact's preview
        (pipeline/related/preview.py) keeps the writes in memory instead."""
        increment_counts(session, deltas)

    def _vector(
        self, article: Article, bag: Counter[str], idf: dict[str, float]
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

    def remove(self, session: Session, article_id: int) -> None:
        self._add_counts(session, dict.fromkeys(self._drop(session, article_id), -1))

    def _drop(self, session: Session, article_id: int) -> list[str]:
        """Delete an article's document and postings; returns the vocabulary whose document
        counts the caller must take down."""
        if self.semantic is not None:
            self.semantic.remove(session, article_id)
        document = session.get(RelatedDocument, article_id)
        if document is None:
            return []
        vocabulary = [*document.vocabulary, ALL_DOCUMENTS]
        session.execute(delete(RelatedTerm).where(RelatedTerm.article_id == article_id))
        session.delete(document)
        session.flush()
        return vocabulary

    def remove_unpublished(self, session: Session) -> None:
        gone = session.scalars(
            select(RelatedDocument.article_id)
            .join(Article, Article.id == RelatedDocument.article_id)
            .where(Article.status != ArticleStatus.PUBLISHED)
        )
        for article_id in list(gone):
            self.remove(session, article_id)
        session.execute(
            delete(RelatedRail).where(
                RelatedRail.article_id.in_(
                    select(Article.id).where(Article.status != ArticleStatus.PUBLISHED)
                )
            )
        )

    def has_stable(self, session: Session, fresh: set[int]) -> bool:
        """Whether any indexed article is not fresh: when every one is (a first build, an
        import) there are no older rails to enter and no query is spent looking for them.
        Fresh articles' own rails are all recomputed by the rebuild."""
        return self._document_counts(session, [ALL_DOCUMENTS])[ALL_DOCUMENTS] > len(fresh)

    def rail_targets(
        self, session: Session, article_ids: list[int], fresh: set[int], every_rail: bool
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
                select(RelatedRail.article_id)
                .where(RelatedRail.article_id.in_(article_ids))
                .distinct()
            )
        )
        stale = session.scalars(
            select(RelatedRail.article_id)
            .join(Article, Article.id == RelatedRail.neighbour_id)
            .where(
                RelatedRail.article_id.in_(article_ids), Article.status != ArticleStatus.PUBLISHED
            )
        )
        return sorted(targets | (set(article_ids) - with_rail) | set(stale))

    def _idf(self, session: Session, terms: list[str]) -> dict[str, float]:
        """Smoothed inverse document frequency."""
        frequencies = self._document_counts(session, [*terms, ALL_DOCUMENTS])
        total = frequencies[ALL_DOCUMENTS]
        return {term: math.log((1 + total) / (1 + frequencies[term])) + 1 for term in terms}

    def _document_counts(self, session: Session, terms: list[str]) -> dict[str, int]:
        """How many indexed documents have each term (ALL_DOCUMENTS: how many there are)."""
        frequencies = dict.fromkeys(terms, 0)
        for start in range(0, len(terms), 500):
            frequencies.update(
                session.execute(
                    select(TermFrequency.term, TermFrequency.documents).where(
                        TermFrequency.term.in_(terms[start : start + 500])
                    )
                ).all()
            )
        return frequencies

    # -- queries ---------------------------------------------------------------------------

    def neighbours(
        self,
        session: Session,
        article_id: int,
        limit: int,
        query_weights: dict[str, float] | None = None,
    ) -> list[Neighbour]:
        """The articles most like this one, best first (ties by id)."""
        document = self._document(session, article_id)
        if document is None:
            return []
        if query_weights is None:
            query_weights = self._query_weights(session, article_id)
        if not query_weights:
            return []
        # Over-fetch by cosine alone, then blend in recency on the short list.
        fetch = max(limit * 4, 40)
        strongest = dict(list(query_weights.items())[:CANDIDATE_TERMS])
        candidates = list(session.scalars(self._first_stage(article_id, strongest)))
        rows = self._second_stage(session, article_id, query_weights, fetch, candidates)
        found = {other: (score / document.norm, when) for other, score, when in rows}
        if self.semantic is not None:
            found = self._blend_semantic(session, article_id, query_weights, document, found, fetch)
        own = session.get(Article, article_id)
        assert own is not None
        scored = [
            Neighbour(
                other_id,
                score * self._recency(own.published_at, published_at),
                published_at,
            )
            for other_id, (score, published_at) in found.items()
        ]
        scored.sort(key=lambda neighbour: (-round(neighbour.score, 9), neighbour.article_id))
        return scored[:limit]

    def _first_stage(self, article_id: int, strongest: dict[str, float]) -> Any:
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

    def _second_stage(
        self,
        session: Session,
        article_id: int,
        query_weights: dict[str, float],
        fetch: int,
        candidates: list[int],
    ) -> list[tuple[int, float, datetime]]:
        """The candidates scored on every query term, best first: (id, dot product over the
        candidate's norm, date); the caller divides by the query article's norm.

        Each candidate's weights are one row, scored here: a few hundred primary-key reads,
        where joining their postings read 26,000 rows (35 ms at 100,000 articles), and
        PostgreSQL's planner, left to choose, read the query terms' whole postings lists."""
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
            session.execute(
                select(Article.id, Article.published_at).where(Article.id.in_(best))
            ).all()
        )
        return [
            (other, dots[other] / norms[other], dates[other]) for other in best if other in dates
        ]

    def _candidates(
        self,
        article_id: int,
        query_weights: dict[str, float],
        fetch: int,
        among: list[int] | None = None,
    ) -> Any:
        """Dot products over the postings of the query's terms, best by cosine first.

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

    def _blend_semantic(
        self,
        session: Session,
        article_id: int,
        query_weights: dict[str, float],
        document: RelatedDocument,
        found: dict[int, tuple[float, datetime]],
        fetch: int,
    ) -> dict[int, tuple[float, datetime]]:
        """The embedding scorer's hook (pipeline/related/semantic.py): blended scores over the text
        candidates and the `fetch` nearest articles by embedding, with their dates."""
        assert self.semantic is not None

        def text_scores(others: list[int]) -> dict[int, float]:
            statement = self._candidates(article_id, query_weights, len(others)).where(
                RelatedDocument.article_id.in_(others)
            )
            return {
                other: float(dot) / document.norm for other, dot, _ in session.execute(statement)
            }

        blended = self.semantic.blend(
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

    def _query_weights(self, session: Session, article_id: int) -> dict[str, float]:
        return self._query_weights_many(session, [article_id]).get(article_id, {})

    def _query_weights_many(
        self, session: Session, article_ids: list[int]
    ) -> dict[int, dict[str, float]]:
        """Each article's query: its strongest terms, weighted tf x idf^2 (the document side
        carries tf alone), in two queries however many articles (their weights rows, then
        the document counts)."""
        postings = {
            article_id: weights
            for article_id, weights in self._term_weights_many(session, article_ids).items()
            if weights
        }
        idf = self._idf(session, sorted({term for terms in postings.values() for term in terms}))
        queries = {}
        for article_id, weights in postings.items():
            strongest = sorted(weights, key=lambda term: (-weights[term] * idf[term], term))
            queries[article_id] = {
                term: weights[term] * idf[term] ** 2 for term in strongest[:QUERY_TERMS]
            }
        return queries

    def _document(self, session: Session, article_id: int) -> RelatedDocument | None:
        return session.get(RelatedDocument, article_id)

    def _term_weights_many(
        self, session: Session, article_ids: list[int]
    ) -> dict[int, dict[str, float]]:
        return dict(
            session.execute(
                select(RelatedDocument.article_id, RelatedDocument.term_weights).where(
                    RelatedDocument.article_id.in_(article_ids)
                )
            ).all()
        )

    def _recency(self, first: datetime, second: datetime) -> float:
        if self.recency_weight <= 0:
            return 1.0
        days = abs((first - second).total_seconds()) / 86400
        fade = 0.5 ** (days / self.half_life_days) if self.half_life_days > 0 else 1.0
        return (1 - self.recency_weight) + self.recency_weight * fade

    def explain(
        self, session: Session, query_weights: dict[str, float], others: list[int]
    ) -> dict[int, list[str]]:
        """For each other article, the terms that add most to its score, strongest first."""
        contributions: dict[int, dict[str, float]] = {other: {} for other in others}
        rows = session.execute(
            select(RelatedDocument.article_id, RelatedDocument.term_weights).where(
                RelatedDocument.article_id.in_(others)
            )
        )
        for other, weights in rows:
            contributions[other] = {
                term: weight * query_weights[term]
                for term, weight in weights.items()
                if term in query_weights
            }
        return {
            other: sorted(terms, key=lambda term: (-terms[term], term))[:EXPLAIN_TERMS]
            for other, terms in contributions.items()
        }

    # -- rails -----------------------------------------------------------------------------

    def rail(self, session: Session, article_id: int) -> list[RailEntry]:
        rows = session.scalars(
            select(RelatedRail)
            .where(RelatedRail.article_id == article_id)
            .order_by(RelatedRail.rank)
        )
        return [RailEntry(row.neighbour_id, row.score, list(row.terms)) for row in rows]

    def refresh_rails(self, session: Session, article_ids: list[int]) -> set[int]:
        """Recompute several stored rails in one transaction; returns those whose neighbours
        changed. Each rail costs its own neighbour query, but what is read or written per
        rail besides (its document and article, its query weights, the rail as stored, the
        new rows) is one statement for all of them: a rebuild's rails phase spent a fifth of
        its time there.

        The queries run before any lock is taken, so a publish entering one of these rails
        meanwhile never waits for the whole batch. Then the rails are locked (their document
        rows, in id order, as every rail writer locks them) and read again: one that another
        writer changed meanwhile is computed again under the lock, so what a publish merged
        into it is never overwritten."""
        ids = sorted(set(article_ids))
        if not ids:
            return set()
        before = self._entries_many(session, ids)
        found = self._best_many(session, ids)
        self._lock_documents(session, ids)
        stored = self._entries_many(session, ids)
        moved = [
            article_id for article_id in ids if stored.get(article_id) != before.get(article_id)
        ]
        if moved:
            found.update(self._best_many(session, moved))
        rails = {}
        for article_id, (weights, best) in found.items():
            shown = [entry.neighbour_id for entry in stored.get(article_id, [])]
            rail = self._new_rail(session, weights, best, shown)
            if rail is not None:
                rails[article_id] = rail
        self._write_rails(session, rails)
        return set(rails)

    def _best_many(
        self, session: Session, article_ids: list[int]
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
        queries = self._query_weights_many(session, article_ids)
        found = {}
        for article_id in article_ids:
            weights = queries.get(article_id, {})
            best = self.neighbours(session, article_id, self.size, weights) if weights else []
            found[article_id] = (weights, best)
        return found

    def _lock_documents(self, session: Session, article_ids: list[int]) -> None:
        """Lock these articles' rails for writing: their document rows, in id order."""
        session.execute(
            select(RelatedDocument.article_id)
            .where(RelatedDocument.article_id.in_(article_ids))
            .order_by(RelatedDocument.article_id)
            .with_for_update()
        )

    def place(self, session: Session, article_id: int, skip: set[int]) -> set[int]:
        """Recompute a fresh article's own rail and enter it in the rails of its top
        `related_candidates` (bar `skip`) that it now belongs in: the reverse update. One
        neighbour query serves both. Returns the rails that changed."""
        changed, others = self._place_own(session, article_id, skip)
        return changed | self._enter(session, article_id, others)

    def _place_own(
        self, session: Session, article_id: int, skip: set[int]
    ) -> tuple[set[int], list[Neighbour]]:
        """An article's own rail; returns whether it changed and the candidates whose rails
        it may enter (the reverse update's half, which `_enter` does)."""
        self._lock_documents(session, [article_id])
        weights = self._query_weights(session, article_id)
        if not weights:
            return {article_id} if self._store_rail(session, article_id, {}, []) else set(), []
        candidates = self.neighbours(session, article_id, max(self.size, self.candidates), weights)
        changed = set()
        if self._store_rail(session, article_id, weights, candidates[: self.size]):
            changed.add(article_id)
        others = [
            candidate
            for candidate in candidates[: self.candidates]
            if candidate.score >= self.min_score and candidate.article_id not in skip
        ]
        return changed, others

    def _store_rail(
        self,
        session: Session,
        article_id: int,
        weights: dict[str, float],
        best: list[Neighbour],
    ) -> bool:
        """Store a rail unless its neighbours are the ones already stored; True if stored."""
        shown = [entry.neighbour_id for entry in self.rail(session, article_id)]
        rail = self._new_rail(session, weights, best, shown)
        if rail is None:
            return False
        self._write_rails(session, {article_id: rail})
        return True

    def _new_rail(
        self,
        session: Session,
        weights: dict[str, float],
        best: list[Neighbour],
        shown: list[int],
    ) -> list[Entry] | None:
        """The rail to store for `best` (those above the score floor, with their reasons), or
        None when they are the neighbours already `shown`: scores drift a little as document
        frequencies move, but the page would not change, so neither does the row."""
        best = [neighbour for neighbour in best if neighbour.score >= self.min_score]
        if shown == [neighbour.article_id for neighbour in best]:
            return None
        reasons = self.explain(session, weights, [neighbour.article_id for neighbour in best])
        return [Entry(n.article_id, n.score, reasons[n.article_id]) for n in best]

    def _enter(self, session: Session, article_id: int, candidates: list[Neighbour]) -> set[int]:
        """Put the article in each candidate's rail where it now ranks (see rail_merge)."""
        if not candidates:
            return set()
        if self.semantic is not None:
            # Blended scores mix in embeddings this merge does not compute: recompute.
            displaced = self._displaced(session, candidates)
            return self.refresh_rails(session, sorted(displaced))
        holders = sorted(candidate.article_id for candidate in candidates)
        own = self._document(session, article_id)
        own_article = session.get(Article, article_id)
        assert own is not None
        assert own_article is not None
        postings: dict[str, float] = own.term_weights
        queries = self._query_weights_many(session, holders)
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
            scale = self._recency(published_at, own_article.published_at) / (own.norm * norm)
            entry = entry_for(queries[holder], postings, scale, article_id, EXPLAIN_TERMS)
            if entry is not None and entry.score >= self.min_score:
                entries[holder] = entry
        if not entries:
            return set()
        # Lock the rails to change (in id order, as every writer does), then read them as
        # they stand: a rail another worker just rewrote is merged into, never overwritten.
        self._lock_documents(session, sorted(entries))
        rails = self._entries_many(session, sorted(entries))
        changed = {}
        for holder, entry in entries.items():
            rail = merged(rails.get(holder, []), entry, self.size)
            if rail is not None:
                changed[holder] = rail
        self._write_rails(session, changed)
        return set(changed)

    def _entries_many(self, session: Session, article_ids: list[int]) -> dict[int, list[Entry]]:
        rails: dict[int, list[Entry]] = {}
        rows = session.scalars(
            select(RelatedRail)
            .where(RelatedRail.article_id.in_(article_ids))
            .order_by(RelatedRail.article_id, RelatedRail.rank)
        )
        for row in rows:
            rails.setdefault(row.article_id, []).append(
                Entry(row.neighbour_id, row.score, list(row.terms))
            )
        return rails

    def _write_rails(self, session: Session, rails: dict[int, list[Entry]]) -> None:
        if not rails:
            return
        session.execute(delete(RelatedRail).where(RelatedRail.article_id.in_(list(rails))))
        rows = [
            {
                "article_id": article_id,
                "rank": rank,
                "neighbour_id": entry.neighbour_id,
                "score": entry.score,
                "terms": entry.terms,
            }
            for article_id, entries in sorted(rails.items())
            for rank, entry in enumerate(entries)
        ]
        if rows:
            session.execute(insert(RelatedRail), rows)

    def holders(self, session: Session, article_id: int) -> list[int]:
        """Articles whose stored rail shows this one."""
        return list(
            session.scalars(
                select(RelatedRail.article_id)
                .where(RelatedRail.neighbour_id == article_id)
                .order_by(RelatedRail.article_id)
            )
        )

    def apply_change(self, session: Session, article: Article) -> set[int]:
        """Bring the index and every affected rail up to date; returns the rails that changed.

        A live article gets its own rail and enters the rails of its top candidates where it
        now ranks (reverse update, bounded by `related_candidates`). Every rail that showed
        it (it may have been retitled, or have left the site) is recomputed in full.
        """
        return self.spread_change(session, article.id, self.apply_own(session, article))

    def apply_own(self, session: Session, article: Article) -> PendingSpread:
        """The first half of `apply_change`: the article indexed (or removed) and its own rail
        stored, so its page can be rendered; `spread_change` does the rest."""
        holders = set(self.holders(session, article.id))
        if not article.is_live:
            self.remove(session, article.id)
            self._write_rails(session, {article.id: []})
            return PendingSpread(holders, set(), [])
        self.index(session, article)
        changed, others = self._place_own(session, article.id, skip=holders)
        return PendingSpread(holders, changed, others)

    def spread_change(self, session: Session, article_id: int, pending: PendingSpread) -> set[int]:
        """The second half: the reverse update into candidates' rails, and every rail that
        showed the article recomputed. Returns every rail the change moved."""
        changed = pending.changed | self._enter(session, article_id, pending.candidates)
        return changed | self.refresh_rails(session, sorted(pending.holders - {article_id}))

    def _displaced(self, session: Session, candidates: list[Neighbour]) -> set[int]:
        """Candidates whose rail this article belongs in by its own scores: it beats their
        weakest neighbour, or their rail is not full (the embedding blend's reverse update)."""
        rails = {
            holder: (int(length), float(weakest))
            for holder, length, weakest in session.execute(
                select(RelatedRail.article_id, func.count(), func.min(RelatedRail.score))
                .where(RelatedRail.article_id.in_([c.article_id for c in candidates]))
                .group_by(RelatedRail.article_id)
            )
        }
        entered = set()
        for candidate in candidates:
            length, weakest = rails.get(candidate.article_id, (0, 0.0))
            if length < self.size or candidate.score > weakest:
                entered.add(candidate.article_id)
        return entered


def placed_rails(targets: list[int], fresh: set[int], stable: bool) -> list[int]:
    """Of a rebuild's rails, those of fresh articles while older ones remain: each is placed
    (its own rail, and its entry in older articles' rails). Every other is recomputed."""
    return [article_id for article_id in targets if stable and article_id in fresh]


def _bag(article: Article) -> Counter[str]:
    return term_counts(
        article.title, html_to_text(article.body_html), [tag.slug for tag in article.tags]
    )


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
    # the capped postings belong to thousands of distinct articles (16,000 at 100,000
    # articles), and a primary-key lookup for each was most of the query's time.
    return text(
        "SELECT dots.other FROM (SELECT other, SUM(part) AS dot"
        f" FROM ({branches}) AS found GROUP BY other"
        " ORDER BY dot DESC, other LIMIT :shortlist) AS dots"
        " JOIN related_documents ON related_documents.article_id = dots.other"
        " ORDER BY dots.dot / related_documents.norm DESC, dots.other LIMIT :limit"
    )
