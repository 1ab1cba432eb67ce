"""Typed SQLAlchemy 2 models: articles and their taxonomy, the outbox of events, the output manifest
and the related-article index."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Annotated, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python, whatever the database keeps (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous: pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


# The largest id an `intpk` column holds: PostgreSQL's `integer` (SQLite's go further). An id
# a caller sends is checked against it: a larger one is refused, not passed to the database.
MAX_ID = 2**31 - 1
intpk = Annotated[int, mapped_column(Integer, primary_key=True)]
slug_str = Annotated[str, mapped_column(String(120), unique=True, index=True)]
when = Annotated[datetime, mapped_column(UTCDateTime())]
maybe_when = Annotated[datetime | None, mapped_column(UTCDateTime(), nullable=True)]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON, dict[str, int]: JSON}


class ArticleStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    PUBLISHED = "published"
    UNPUBLISHED = "unpublished"


class EventKind(enum.StrEnum):
    PUBLISH = "publish"
    UPDATE = "update"
    UNPUBLISH = "unpublish"
    REBUILD = "rebuild"
    RECONCILE = "reconcile"


class EventStatus(enum.StrEnum):
    """Stages an event passes through, in order; `failed` can follow any of them."""

    ACCEPTED = "accepted"
    DISPATCHED = "dispatched"
    STARTED = "started"
    RENDERED = "rendered"
    LIVE = "live"
    FAILED = "failed"


UNFINISHED = (
    EventStatus.ACCEPTED,
    EventStatus.DISPATCHED,
    EventStatus.STARTED,
    EventStatus.RENDERED,
)


class Section(Base):
    __tablename__ = "sections"
    id: Mapped[intpk]
    slug: Mapped[slug_str]
    name: Mapped[str] = mapped_column(String(200))


class Tag(Base):
    __tablename__ = "tags"
    id: Mapped[intpk]
    slug: Mapped[slug_str]
    name: Mapped[str] = mapped_column(String(200))


class ArticleTag(Base):
    """Association with the editor's order kept, so tag labels render in a stable order."""

    __tablename__ = "article_tags"
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    tag: Mapped[Tag] = relationship(lazy="joined")

    # A tag's members from the index alone (its list is counted on every publish to it).
    __table_args__ = (Index("ix_article_tags_tag_article", "tag_id", "article_id"),)


class Article(Base):
    __tablename__ = "articles"
    id: Mapped[intpk]
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    slug: Mapped[slug_str]
    title: Mapped[str] = mapped_column(Text)
    standfirst: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text)
    teaser_text: Mapped[str] = mapped_column(Text, default="")  # sanitize.teaser_text
    image_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    image_alt: Mapped[str | None] = mapped_column(Text, nullable=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("sections.id"), index=True)
    authors: Mapped[list[str]] = mapped_column(default=list)
    published_at: Mapped[when]
    updated_at: Mapped[when]
    created_at: Mapped[when] = mapped_column(default=utcnow)
    status: Mapped[ArticleStatus] = mapped_column(
        String(20), default=ArticleStatus.DRAFT, index=True
    )
    # Only ever goes up: every accepted change of content or status gets a new version.
    version: Mapped[int] = mapped_column(Integer, default=1)

    section: Mapped[Section] = relationship(lazy="joined")
    tag_links: Mapped[list[ArticleTag]] = relationship(
        order_by=ArticleTag.position, cascade="all, delete-orphan", lazy="selectin"
    )

    __table_args__ = (
        Index("ix_articles_status_published", "status", "published_at", "id"),
        # A section's list in order, and its length, from the index alone.
        Index("ix_articles_section_listing", "section_id", "status", "published_at", "id"),
        # The sitemap index's newest update per month, from the index alone.
        Index("ix_articles_status_published_updated", "status", "published_at", "updated_at"),
        # A tag list joins its members by id: their status and date from this index instead
        # of a heap page each (a 4,000-article tag counted in 260 ms at 100,000, now 7).
        Index("ix_articles_id_status_published", "id", "status", "published_at"),
    )

    @property
    def tags(self) -> list[Tag]:
        return [link.tag for link in self.tag_links]

    @property
    def is_live(self) -> bool:
        return self.status == ArticleStatus.PUBLISHED


class Event(Base):
    """The outbox: written in the same transaction as the change it announces."""

    __tablename__ = "events"
    id: Mapped[intpk]
    kind: Mapped[EventKind] = mapped_column(String(20))
    article_id: Mapped[int | None] = mapped_column(
        ForeignKey("articles.id", ondelete="SET NULL"), nullable=True, index=True
    )
    article_version: Mapped[int] = mapped_column(Integer, default=0)
    actor: Mapped[str] = mapped_column(String(200))
    status: Mapped[EventStatus] = mapped_column(String(20), default=EventStatus.ACCEPTED)
    accepted_at: Mapped[when] = mapped_column(default=utcnow, index=True)
    dispatched_at: Mapped[maybe_when]
    started_at: Mapped[maybe_when]
    # When the article's own page went live (before its other pages and lists).
    page_live_at: Mapped[maybe_when]
    rendered_at: Mapped[maybe_when]
    live_at: Mapped[maybe_when]
    # When the relay last sent it again: it waits a stuck period before the next re-send.
    relayed_at: Mapped[maybe_when]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Where the article stood before this change, so the planner can take it out of old lists.
    previous: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # Options of the change, such as {"every_rail": true} for a rebuild.
    options: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # {"written": [...], "deleted": [...], "unchanged": n}
    outputs: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # Lists whose coalesced refresh must run before the change is live everywhere.
    pending_lists: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)

    __table_args__ = (Index("ix_events_status_accepted", "status", "accepted_at"),)


class RefreshState(enum.StrEnum):
    IDLE = "idle"
    QUEUED = "queued"  # one refresh message is on its way
    RUNNING = "running"


class ListRefresh(Base):
    """Coalesces refreshes of one list (home, a section, a tag, the sitemaps) across processes:
    at most one refresh runs and at most one more is queued, whatever the burst of publishes."""

    __tablename__ = "list_refreshes"
    list_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[RefreshState] = mapped_column(String(20), default=RefreshState.IDLE)
    # Set when the list changes again while a refresh runs: one more is queued when it ends.
    rerun: Mapped[bool] = mapped_column(default=False)
    specs: Mapped[list[Any]] = mapped_column(JSON, default=list)
    waiting_events: Mapped[list[Any]] = mapped_column(JSON, default=list)
    updated_at: Mapped[when] = mapped_column(default=utcnow)
    refreshes: Mapped[int] = mapped_column(Integer, default=0)
    # Failed refreshes in a row: after `max_attempts` the waiting events fail (with the error,
    # for `pressrun events retry`) instead of waiting for ever.
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class RebuildChunk(Base):
    """One share of a fleet-wide rebuild. Phases run in order (index, rails, render); chunks
    within a phase run on any worker, and a crashed rebuild resumes from the chunks not done.
    States: pending, running, done, or failed (it gave up, and failed its rebuild)."""

    __tablename__ = "rebuild_chunks"
    id: Mapped[intpk]
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    phase: Mapped[str] = mapped_column(String(20))
    number: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    payload: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # What the chunk found (the articles its index phase re-indexed; what it wrote).
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # Starts, as an event's: after `max_attempts` that never finished, the chunk gives up.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[when] = mapped_column(default=utcnow)
    # When the relay last sent it again: it waits a stuck period before the next re-send.
    relayed_at: Mapped[maybe_when]


class PipelineCounter(Base):
    """Running totals every worker adds to in the database (outputs rendered, uploaded,
    skipped, deleted, bytes), so /metrics is right with any number of processes."""

    __tablename__ = "pipeline_counters"
    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class ContentVersion(Base):
    """One row counting the commits that changed what pages are rendered from (see
    pipeline/content_version.py): a build re-renders what it wrote only when it moved."""

    __tablename__ = "content_version"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)


class SitemapMonth(Base):
    """Each month's published articles, counted, and their newest update: what the sitemap
    index lists, kept by the events that change a month (pipeline/lists.py) so the index is
    rendered from one row per month instead of a scan of the whole archive."""

    __tablename__ = "sitemap_months"
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM, UTC
    members: Mapped[int] = mapped_column(Integer)
    lastmod: Mapped[maybe_when]


class Output(Base):
    """The manifest: what each storage key holds and what it was built from."""

    __tablename__ = "outputs"
    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    # The output's spec, so a change can re-plan it from its data keys alone.
    subject: Mapped[str] = mapped_column(String(400), default="")
    page: Mapped[int] = mapped_column(Integer, default=0)
    content_hash: Mapped[str] = mapped_column(String(64))
    article_versions: Mapped[dict[str, int]] = mapped_column(default=dict)
    event_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[when] = mapped_column(default=utcnow)


class PendingPurge(Base):
    """A CDN path to purge (pipeline/purges.py): written in the manifest's transaction,
    deleted once the CDN took the purge, retried with backoff until then."""

    __tablename__ = "pending_purges"
    path: Mapped[str] = mapped_column(String(400), primary_key=True)
    # Bumped by every request: a purge that succeeds deletes the row only if nobody asked
    # again while it ran (that later write needs a purge of its own).
    requests: Mapped[int] = mapped_column(Integer, default=1)
    # The first request not yet purged: how stale the CDN may be at worst.
    requested_at: Mapped[when] = mapped_column(default=utcnow)
    # Not retried before this (the requester purges first; then backoff after failures).
    next_attempt_at: Mapped[when] = mapped_column(default=utcnow, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class OutputDependency(Base):
    """Surrogate keys: output `output_key` shows data `data_key` (such as `article:42`)."""

    __tablename__ = "output_dependencies"
    output_key: Mapped[str] = mapped_column(
        ForeignKey("outputs.key", ondelete="CASCADE"), primary_key=True
    )
    data_key: Mapped[str] = mapped_column(String(200), primary_key=True, index=True)


class Redirect(Base):
    """A page an article used to live at before it moved (new section, date or slug)."""

    __tablename__ = "redirects"
    old_key: Mapped[str] = mapped_column(String(400), primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), index=True
    )


class RelatedDocument(Base):
    """One indexed article: its vector's norm, and the version the terms were taken from."""

    __tablename__ = "related_documents"
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    norm: Mapped[float] = mapped_column(Float)
    indexed_version: Mapped[int] = mapped_column(Integer)
    # Every distinct term of the article, so its document frequencies can be taken back out.
    vocabulary: Mapped[list[str]] = mapped_column(default=list)
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
    empty term counts every document (pipeline/related.py, ALL_DOCUMENTS)."""

    __tablename__ = "term_frequencies"
    term: Mapped[str] = mapped_column(String(160), primary_key=True)
    documents: Mapped[int] = mapped_column(Integer)


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
    """An article's sentence embedding for the optional semantic scorer (pipeline/semantic.py):
    384 little-endian float32s, L2-normalised, from the article's `version`."""

    __tablename__ = "related_vectors"
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
