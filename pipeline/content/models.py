"""Content tables: sections, tags, articles, the redirects of
moved articles, and schedules, undated drafts and previews."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pipeline.content.sanitize import author_slugs
from pipeline.schema import Base, intpk, maybe_when, slug_str, utcnow, when


class ArticleStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    PUBLISHED = "published"
    UNPUBLISHED = "unpublished"


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


class ArticleAuthor(Base):
    """An article's byline as author slugs, in the byline's order: what an author's list is
    read by (the names themselves stay on the article)."""

    __tablename__ = "article_authors"
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    author_slug: Mapped[str] = mapped_column(String(120))

    # An author's members from the index alone (their list is counted on every publish).
    __table_args__ = (Index("ix_article_authors_slug_article", "author_slug", "article_id"),)


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
    # Loaded only when a byline is written: lists and pages read the names in `authors`.
    author_links: Mapped[list[ArticleAuthor]] = relationship(
        order_by=ArticleAuthor.position, cascade="all, delete-orphan", lazy="select"
    )

    __table_args__ = (
        Index("ix_articles_status_published", "status", "published_at", "id"),
        # A section's list in order, and its length, from the index alone.
        Index("ix_articles_section_listing", "section_id", "status", "published_at", "id"),
        # The sitemap index's newest update per month, from the index alone.
        Index("ix_articles_status_published_updated", "status", "published_at", "updated_at"),
        # A tag list joins its members by id: their status and date from this index rather
        # than a heap page each, so counting a large tag reads no article rows.
        Index("ix_articles_id_status_published", "id", "status", "published_at"),
    )

    @property
    def tags(self) -> list[Tag]:
        return [link.tag for link in self.tag_links]

    @property
    def author_slugs(self) -> list[str]:
        """The byline's authors as the slugs of their pages, each once."""
        return author_slugs(self.authors)

    @property
    def is_live(self) -> bool:
        return self.status == ArticleStatus.PUBLISHED


class Redirect(Base):
    """A page an article used to live at before it moved (new section, date or slug)."""

    __tablename__ = "redirects"
    old_key: Mapped[str] = mapped_column(String(400), primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), index=True
    )


def _due_at(context: Any) -> Any:
    return context.get_current_parameters()["due_at"]


class ScheduleAction(enum.StrEnum):
    PUBLISH = "publish"
    UNPUBLISH = "unpublish"


class Schedule(Base):
    """A publish (embargo) or unpublish (expiry) waiting for its time. The beat job carries
    it out when due; nothing waits in the broker."""

    __tablename__ = "schedules"
    id: Mapped[intpk]
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    action: Mapped[ScheduleAction] = mapped_column(String(20))
    due_at: Mapped[when] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[when] = mapped_column(default=utcnow)
    # A pending publish shows the article as "scheduled"; cancelling it restores this status.
    restore_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    # Failed tries: the job tries again at `next_attempt_at` (the due time
    # at first, later and later after each failure) and gives up at `failed_at`.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[when] = mapped_column(index=True, default=_due_at)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    failed_at: Mapped[maybe_when]

    __table_args__ = (UniqueConstraint("article_id", "action"),)


class UndatedDraft(Base):
    """A draft saved without `published_at`: it takes the moment it first goes live, not the
    moment it was first saved."""

    __tablename__ = "undated_drafts"
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )


class Preview(Base):
    """A rendered draft in storage outside the site (never in the manifest, so no list, feed
    or sitemap can show it); deleted once it expires."""

    __tablename__ = "previews"
    id: Mapped[intpk]
    storage_key: Mapped[str] = mapped_column(String(400), unique=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    created_at: Mapped[when] = mapped_column(default=utcnow)
    expires_at: Mapped[when] = mapped_column(index=True)
