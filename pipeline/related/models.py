"""The related-article index: documents, their terms, term
frequencies, stored rails and optional semantic vectors."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.schema import Base


class RelatedDocument(Base):
    """One indexed article: its vector's norm, and the version the terms were taken from."""

    __tablename__ = "related_documents"
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    norm: Mapped[float] = mapped_column(Float)
    indexed_version: Mapped[int] = mapped_column(Integer)
    # The article's bag of terms (term: occurrences): its keys are taken back out of the
    # document frequencies when it leaves, and a rebuild weighs it once every count is in.
    # Documents indexed before the bags were kept hold their terms alone, as a list.
    vocabulary: Mapped[dict[str, int] | list[str]] = mapped_column(JSON, default=dict)
    # The article's postings (term: weight) in one row: scoring a candidate reads one row
    # instead of its postings, and building a query reads one row per article.
    term_weights: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)


class RelatedTerm(Base):
    """Postings of the shared index: term frequency weights per article."""

    __tablename__ = "related_terms"
    article_id: Mapped[int] = mapped_column(
        ForeignKey("related_documents.article_id", ondelete="CASCADE"), primary_key=True
    )
    term: Mapped[str] = mapped_column(String(160), primary_key=True)
    weight: Mapped[float] = mapped_column(Float)

    # Each term's postings heaviest first: a query reads a bounded prefix of every list.
    __table_args__ = (Index("ix_related_terms_term_weight", "term", "weight", "article_id"),)


class TermFrequency(Base):
    """Document frequency per term, kept current as articles enter and leave the index. The
    empty term counts every document (pipeline/related/store.py, ALL_DOCUMENTS)."""

    __tablename__ = "term_frequencies"
    term: Mapped[str] = mapped_column(String(160), primary_key=True)
    documents: Mapped[int] = mapped_column(Integer)


class TermCountDelta(Base):
    """A change to a term's document count not yet folded into `term_frequencies`. Writers
    only append (no key they could meet on), so concurrent publishes never wait on each
    other's counts; a term's count is its `term_frequencies` row plus its deltas, and the
    deltas are folded in from time to time (pipeline/related/store.py, fold_counts)."""

    __tablename__ = "term_count_deltas"
    # Appends for as long as the site lives: wider than an integer. SQLite numbers a plain
    # INTEGER key itself (and takes no other type as its row id).
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    term: Mapped[str] = mapped_column(String(160), index=True)
    delta: Mapped[int] = mapped_column(Integer)


class RelatedRail(Base):
    """An article's stored "More like this" rail, with why each neighbour is there."""

    __tablename__ = "related_rails"
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    rank: Mapped[int] = mapped_column(Integer, primary_key=True)
    neighbour_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), index=True
    )
    score: Mapped[float] = mapped_column(Float)
    terms: Mapped[list[str]] = mapped_column(default=list)


class RelatedVector(Base):
    """An article's sentence embedding for the optional semantic scorer
    (pipeline/related/semantic.py): 384 little-endian float32s, L2-normalised, from the
    article's `version`."""

    __tablename__ = "related_vectors"
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
