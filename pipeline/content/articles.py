"""The one place that writes articles: each change writes the article and its outbox event
in the caller's transaction. Dispatching happens after that transaction has closed."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from pipeline.content.inputs import ArticleInput, InvalidInput
from pipeline.content.models import (
    Article,
    ArticleAuthor,
    ArticleStatus,
    ArticleTag,
    Redirect,
    Section,
    Tag,
)
from pipeline.content.sanitize import (
    author_slugs,
    clean_html,
    derive_slug,
    teaser_text,
    text_to_html,
)
from pipeline.content.upsert import copy_rows, ensure_slugs, is_postgresql
from pipeline.events.models import Event, EventKind
from pipeline.schema import utcnow
from pipeline.site.outputs import article_key


class ArticleNotFound(LookupError):
    def __init__(self, slug: str) -> None:
        super().__init__(f"no article with slug {slug!r}")
        self.slug = slug


@dataclass(frozen=True)
class ArticleChange:
    event_id: int
    article_id: int
    kind: EventKind
    version: int


def publish(
    session: Session,
    data: ArticleInput,
    *,
    actor: str,
    now: datetime | None = None,
) -> ArticleChange:
    """Create or update an article from `data`, make it live, and record the event.

    The slug (given, or derived from the title) identifies the article, unless an external
    `id` is given: then the id does, and a changed slug moves the article.
    """
    now = now or utcnow()
    article, previous, kind = _make_live(session, data, now, unique_slug=False)
    return _record(session, article, kind, actor, previous, now)


def import_articles(
    session: Session, records: list[ArticleInput], *, actor: str, now: datetime | None = None
) -> ArticleChange:
    """Bulk load: every record made live, then one rebuild event instead of one per article.

    External ids identify articles (importing the same id again updates it), and a derived
    slug that another article holds gets a numeric suffix.
    """
    return import_batches(session, [records], actor=actor, now=now)


# -- importing new articles in bulk -----------------------------------------------------------

ARTICLE_COLUMNS = (
    "id", "external_id", "slug", "title", "standfirst", "body_html", "teaser_text",
    "image_url", "image_alt", "section_id", "authors", "published_at", "updated_at",
    "created_at", "status", "version",
)  # fmt: skip
# Values per IN list when looking rows up by key.
LOOKUP_BATCH = 500


def _insert_new(session: Session, records: list[ArticleInput], now: datetime) -> bool:
    """An import of articles none of which exists yet (the common case: an archive moved in)
    in a few statements: rows written by COPY on PostgreSQL, multi-row inserts on SQLite.
    Gives the same rows as making each live in turn. Returns False, having written nothing,
    when a record names an existing article or another record's article (an update):
    those go one at a time, as they always did."""
    if _names_existing(session, records):
        return False
    slugs = _unique_slugs(session, records)
    if slugs is None:
        return False
    ensure_slugs(session, Section, [record.section for record in records])
    ensure_slugs(session, Tag, [tag for record in records for tag in record.tags])
    sections = _ids_by_slug(session, Section, {record.section for record in records})
    tags = _ids_by_slug(session, Tag, {tag for record in records for tag in record.tags})
    ids = _new_ids(session, len(records))
    copy_rows(
        session,
        Article.__table__,  # type: ignore[arg-type]
        ARTICLE_COLUMNS,
        (
            _article_row(article_id, record, slug, sections[record.section], now)
            for article_id, record, slug in zip(ids, records, slugs, strict=True)
        ),
    )
    copy_rows(
        session,
        ArticleTag.__table__,  # type: ignore[arg-type]
        ("article_id", "tag_id", "position"),
        (
            (article_id, tags[slug], position)
            for article_id, record in zip(ids, records, strict=True)
            for position, slug in enumerate(dict.fromkeys(record.tags))
        ),
    )
    copy_rows(
        session,
        ArticleAuthor.__table__,  # type: ignore[arg-type]
        ("article_id", "position", "author_slug"),
        (
            (article_id, position, slug)
            for article_id, record in zip(ids, records, strict=True)
            for position, slug in enumerate(author_slugs(list(record.authors)))
        ),
    )
    _clear_redirects(session, records, slugs, now)
    return True


def _article_row(
    article_id: int, data: ArticleInput, slug: str, section_id: int, now: datetime
) -> tuple[Any, ...]:
    """A new live article's row, in ARTICLE_COLUMNS' order: what `_make_live` writes."""
    body_html = clean_html(data.body_html) if data.body_html is not None else None
    body_html = body_html if body_html is not None else text_to_html(data.body or "")
    standfirst = data.standfirst.strip()
    published_at = data.published_datetime or now
    return (
        article_id,
        data.id or uuid.uuid4().hex,
        slug,
        data.title,
        standfirst,
        body_html,
        teaser_text(standfirst, body_html),
        data.image.url if data.image else None,
        data.image.alt.strip() if data.image else None,
        section_id,
        list(data.authors),
        published_at,
        published_at,
        now,
        str(ArticleStatus.PUBLISHED),
        1,
    )


def _names_existing(session: Session, records: list[ArticleInput]) -> bool:
    """Whether a record identifies an article already in the database: by its external id,
    or (without one) by its slug, given or derived."""
    external_ids = [record.id for record in records if record.id is not None]
    slugs = [_own_slug(record) for record in records if record.id is None]
    return _any_exists(session, Article.external_id, external_ids) or _any_exists(
        session, Article.slug, slugs
    )


def _own_slug(data: ArticleInput) -> str:
    return data.slug or derive_slug(data.title)


def _any_exists(session: Session, column: Any, values: list[str]) -> bool:
    return any(
        session.scalar(
            select(column).where(column.in_(values[start : start + LOOKUP_BATCH])).limit(1)
        )
        is not None
        for start in range(0, len(values), LOOKUP_BATCH)
    )


def _unique_slugs(session: Session, records: list[ArticleInput]) -> list[str] | None:
    """Each new article's slug, as `_slug_for` gives it when the records are made live in
    turn: a given slug as it is (refused if another article holds it), a derived one with a
    numeric suffix when taken. None when two records would meet on a slug: one would then
    update the other's article, which the one-at-a-time path does."""
    given = [record.slug for record in records if record.id is not None and record.slug]
    held = _existing(session, Article.slug, given)
    if held:
        first = next(slug for slug in given if slug in held)  # as the file names them
        raise InvalidInput("slug", f"{first!r} is already used by another article")
    derived = {derive_slug(record.title) for record in records if record.id is not None}
    taken = _existing(session, Article.slug, sorted(derived))
    slugs: list[str] = []
    assigned: set[str] = set()
    for record in records:
        if record.id is None or record.slug:
            slug = _own_slug(record)
        else:
            slug = _free_slug(session, derive_slug(record.title), taken, assigned)
        if slug in assigned:
            return None
        assigned.add(slug)
        slugs.append(slug)
    return slugs


def _free_slug(session: Session, base: str, taken: set[str], assigned: set[str]) -> str:
    if base in taken:
        # Rare in an import: only then are the database's suffixed slugs looked up.
        taken.update(session.scalars(select(Article.slug).where(Article.slug.like(f"{base}%"))))
    candidate, suffix = base, 2
    while candidate in taken or candidate in assigned:
        candidate, suffix = f"{base}-{suffix}", suffix + 1
    return candidate


def _existing(session: Session, column: Any, values: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(values), LOOKUP_BATCH):
        batch = values[start : start + LOOKUP_BATCH]
        found.update(session.scalars(select(column).where(column.in_(batch))))
    return found


def _ids_by_slug(
    session: Session, model: type[Section] | type[Tag], slugs: set[str]
) -> dict[str, int]:
    wanted = sorted(slugs)
    found: dict[str, int] = {}
    for start in range(0, len(wanted), LOOKUP_BATCH):
        batch = wanted[start : start + LOOKUP_BATCH]
        found.update(
            session.execute(select(model.slug, model.id).where(model.slug.in_(batch))).all()
        )
    return found


def _new_ids(session: Session, count: int) -> list[int]:
    """Ids for `count` new articles: drawn from the id sequence on PostgreSQL (COPY returns
    none); on SQLite, whose writers take turns on the whole file, the next ones after the
    largest."""
    if is_postgresql(session):
        return list(
            session.scalars(
                text(
                    "SELECT nextval(pg_get_serial_sequence('articles', 'id'))"
                    " FROM generate_series(1, :n)"
                ),
                {"n": count},
            )
        )
    largest = session.scalar(select(func.max(Article.id))) or 0
    return list(range(largest + 1, largest + 1 + count))


def _clear_redirects(
    session: Session, records: list[ArticleInput], slugs: list[str], now: datetime
) -> None:
    """A new article at a URL a moved article left takes the URL back: its redirect goes."""
    if session.scalar(select(Redirect.old_key).limit(1)) is None:
        return
    keys = [
        article_key(record.section, record.published_datetime or now, slug)
        for record, slug in zip(records, slugs, strict=True)
    ]
    for start in range(0, len(keys), LOOKUP_BATCH):
        session.execute(
            delete(Redirect).where(Redirect.old_key.in_(keys[start : start + LOOKUP_BATCH]))
        )


def request_rebuild(
    session: Session,
    *,
    actor: str,
    now: datetime | None = None,
    every_rail: bool = False,
    force: bool = False,
) -> ArticleChange:
    """Record a full rebuild: every output re-rendered from the database, the related index
    brought up to date (with `every_rail`, every "More like this" rail recomputed; with
    `force`, every output written again even where the manifest says it is unchanged)."""
    options = {
        name: True for name, wanted in (("every_rail", every_rail), ("force", force)) if wanted
    }
    event = Event(
        kind=EventKind.REBUILD, actor=actor, accepted_at=now or utcnow(), options=options or None
    )
    session.add(event)
    session.flush()
    return ArticleChange(event.id, 0, EventKind.REBUILD, 0)


def import_batches(
    session: Session,
    batches: Iterable[list[ArticleInput]],
    *,
    actor: str,
    now: datetime | None = None,
) -> ArticleChange:
    """import_articles for records that come a batch at a time (an archive read from a file,
    never held in memory whole): every batch loaded in the caller's one transaction, then
    one rebuild event."""
    now = now or utcnow()
    for records in batches:
        if not _insert_new(session, records, now):
            for record in records:
                _make_live(session, record, now, unique_slug=True)
    return request_rebuild(session, actor=actor, now=now)


def _make_live(
    session: Session, data: ArticleInput, now: datetime, *, unique_slug: bool
) -> tuple[Article, dict[str, Any] | None, EventKind]:
    article = _find(session, data)
    previous = snapshot(article) if article else None
    if article is None:
        article = _new_article(data, now)
    changed = _apply_content(session, article, data, unique_slug)
    session.add(article)
    was_live = article.is_live
    if not was_live:
        article.status = ArticleStatus.PUBLISHED
        changed = True
    if changed and previous is not None:
        article.version += 1
        article.updated_at = now
    session.flush()
    _leave_redirect(session, article, previous)
    return article, previous, EventKind.UPDATE if was_live else EventKind.PUBLISH


def unpublish(
    session: Session, slug: str, *, actor: str, now: datetime | None = None
) -> ArticleChange:
    now = now or utcnow()
    article = session.scalar(select(Article).where(Article.slug == slug))
    if article is None:
        raise ArticleNotFound(slug)
    previous = snapshot(article)
    take_down(article, now=now)
    session.flush()
    return _record(session, article, EventKind.UNPUBLISH, actor, previous, now)


def take_down(article: Article, *, now: datetime) -> None:
    """What unpublishing does to the article itself (impact applies it without writing)."""
    if article.status != ArticleStatus.UNPUBLISHED:
        article.status = ArticleStatus.UNPUBLISHED
        article.version += 1
        article.updated_at = now


def snapshot(article: Article) -> dict[str, Any]:
    """Where an article stands now: the planner uses it to take the article out of old places."""
    return {
        "status": str(article.status),
        "version": article.version,
        "slug": article.slug,
        "title": article.title,
        "section": article.section.slug,
        "tags": [tag.slug for tag in article.tags],
        "authors": article.author_slugs,
        "published_at": article.published_at.isoformat(),
        "key": article_key(article.section.slug, article.published_at, article.slug),
    }


def _leave_redirect(session: Session, article: Article, previous: dict[str, Any] | None) -> None:
    """A moved article (new section, date or slug) leaves a redirect at its old URL."""
    current = article_key(article.section.slug, article.published_at, article.slug)
    session.execute(delete(Redirect).where(Redirect.old_key == current))
    if previous is not None and previous["key"] != current:
        session.merge(Redirect(old_key=previous["key"], article_id=article.id))


def _find(session: Session, data: ArticleInput) -> Article | None:
    if data.id is not None:
        return session.scalar(select(Article).where(Article.external_id == data.id))
    slug = data.slug or derive_slug(data.title)
    return session.scalar(select(Article).where(Article.slug == slug))


def _new_article(data: ArticleInput, now: datetime) -> Article:
    # Added to the session only once its content is set: an autoflush before that would
    # insert a row without a section.
    return Article(
        external_id=data.id or uuid.uuid4().hex,
        slug="",
        title="",
        body_html="",
        authors=[],
        published_at=data.published_datetime or now,
        # Never modified yet: dateModified equals datePublished, as readers and crawlers expect.
        updated_at=data.published_datetime or now,
        status=ArticleStatus.DRAFT,
        version=1,
    )


def _apply_content(
    session: Session, article: Article, data: ArticleInput, unique_slug: bool
) -> bool:
    """Copy `data` onto the article; True when anything a reader could see changed."""
    ensure_slugs(session, Section, [data.section])
    ensure_slugs(session, Tag, list(data.tags))
    section = session.scalars(select(Section).where(Section.slug == data.section)).one()
    body_html = clean_html(data.body_html) if data.body_html is not None else None
    values: dict[str, Any] = {
        "slug": _slug_for(session, article, data, unique_slug),
        "title": data.title,
        "standfirst": data.standfirst.strip(),
        "body_html": body_html if body_html is not None else text_to_html(data.body or ""),
        "image_url": data.image.url if data.image else None,
        "image_alt": data.image.alt.strip() if data.image else None,
        "section_id": section.id,
        "authors": list(data.authors),
    }
    values["teaser_text"] = teaser_text(values["standfirst"], values["body_html"])
    if data.published_datetime is not None:
        values["published_at"] = data.published_datetime
    changed = False
    for name, value in values.items():
        if getattr(article, name) != value:
            setattr(article, name, value)
            changed = True
    article.section = section
    _apply_authors(session, article)
    return _apply_tags(session, article, list(dict.fromkeys(data.tags))) or changed


def _apply_authors(session: Session, article: Article) -> None:
    """The byline's author slugs, kept beside its names (which say whether it changed)."""
    slugs = article.author_slugs
    if [link.author_slug for link in article.author_links] == slugs:
        return
    article.author_links.clear()
    session.flush()
    article.author_links.extend(
        ArticleAuthor(author_slug=slug, position=position) for position, slug in enumerate(slugs)
    )


def _slug_for(session: Session, article: Article, data: ArticleInput, unique: bool) -> str:
    if data.slug is not None:
        holder = session.scalar(select(Article.id).where(Article.slug == data.slug))
        if holder is not None and holder != article.id:
            raise InvalidInput("slug", f"{data.slug!r} is already used by another article")
        return data.slug
    if article.slug:
        return article.slug  # an existing article keeps its URL when only its title changes
    base = derive_slug(data.title)
    if not unique:
        return base
    taken = set(session.scalars(select(Article.slug).where(Article.slug.like(f"{base}%"))))
    candidate, suffix = base, 2
    while candidate in taken:
        candidate, suffix = f"{base}-{suffix}", suffix + 1
    return candidate


def _apply_tags(session: Session, article: Article, slugs: list[str]) -> bool:
    if [tag.slug for tag in article.tags] == slugs:
        return False
    tags = {tag.slug: tag for tag in session.scalars(select(Tag).where(Tag.slug.in_(slugs)))}
    article.tag_links.clear()
    session.flush()
    article.tag_links.extend(
        ArticleTag(tag_id=tags[slug].id, tag=tags[slug], position=position)
        for position, slug in enumerate(slugs)
    )
    return True


def _record(
    session: Session,
    article: Article,
    kind: EventKind,
    actor: str,
    previous: dict[str, Any] | None,
    now: datetime,
) -> ArticleChange:
    event = Event(
        kind=kind,
        article_id=article.id,
        article_version=article.version,
        actor=actor,
        accepted_at=now,
        previous=previous,
    )
    session.add(event)
    session.flush()
    return ArticleChange(event.id, article.id, kind, article.version)


# -- drafts and publishing what is saved (the editorial API) ---------------------------------


@dataclass(frozen=True)
class Saved:
    """An article's content saved: a new or updated draft, or (for a live article) a
    republish with its event."""

    article_id: int
    version: int
    created: bool
    change: ArticleChange | None


def article_by_slug(session: Session, slug: str) -> Article:
    article = session.scalar(select(Article).where(Article.slug == slug))
    if article is None:
        raise ArticleNotFound(slug)
    return article


def save_draft(
    session: Session, data: ArticleInput, *, actor: str, now: datetime | None = None
) -> Saved:
    """Save an article's content without making it live. A live article cannot hold a draft:
    saving it republishes it, through `publish`, with its event."""
    now = now or utcnow()
    article = _find(session, data)
    if article is not None and article.is_live:
        change = publish(session, data, actor=actor, now=now)
        return Saved(change.article_id, change.version, False, change)
    created = article is None
    if article is None:
        article = _new_article(data, now)
    changed = _apply_content(session, article, data, unique_slug=False)
    session.add(article)
    if changed and not created:
        article.version += 1
        article.updated_at = now
    session.flush()
    return Saved(article.id, article.version, created, None)


def publish_saved(
    session: Session,
    slug: str,
    *,
    actor: str,
    now: datetime | None = None,
    published_at: datetime | None = None,
) -> ArticleChange:
    """Make a saved article live as it stands, and record the event (a live one is re-sent).

    `published_at` dates the publication (a draft saved without a date takes the moment it
    goes live). A draft never seen by readers leaves no redirect at its draft-time URL.
    """
    now = now or utcnow()
    article = article_by_slug(session, slug)
    previous = snapshot(article)
    was_live = article.is_live
    go_live(article, now=now, published_at=published_at)
    session.flush()
    _leave_redirect(session, article, None)
    kind = EventKind.UPDATE if was_live else EventKind.PUBLISH
    return _record(session, article, kind, actor, previous, now)


def go_live(article: Article, *, now: datetime, published_at: datetime | None) -> None:
    """What publishing a saved article does to the article itself (impact applies it without
    writing)."""
    never_live = article.status in (ArticleStatus.DRAFT, ArticleStatus.SCHEDULED)
    if published_at is not None and never_live:
        article.published_at = published_at
    if not article.is_live:
        article.status = ArticleStatus.PUBLISHED
        article.version += 1
        # A first publication was never modified since: dateModified equals datePublished.
        article.updated_at = article.published_at if never_live else now


def mark_scheduled(session: Session, article: Article, *, now: datetime) -> ArticleStatus:
    """Show a waiting article as scheduled; returns the status a cancellation restores."""
    before = ArticleStatus(article.status)
    if before != ArticleStatus.SCHEDULED:
        article.status = ArticleStatus.SCHEDULED
        article.version += 1
        article.updated_at = now
        session.flush()
    return before


def unmark_scheduled(
    session: Session, article: Article, status: ArticleStatus, *, now: datetime
) -> None:
    """A cancelled schedule: the article goes back to the status it had before."""
    if article.status == ArticleStatus.SCHEDULED:
        article.status = status
        article.version += 1
        article.updated_at = now
        session.flush()


def find(session: Session, data: ArticleInput) -> Article | None:
    """The article `data` names (by external id when given, else by slug), if it exists."""
    return _find(session, data)
