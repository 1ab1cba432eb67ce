"""The lists a published article stands in, and their ordered, paged contents.

Every list is ordered newest first by (published_at, id): ties are broken by id so the order
is total and rendering stays pure. Pages are numbered from the oldest item, so adding an
article at the top only touches the newest pages.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    Integer,
    Select,
    String,
    and_,
    column,
    func,
    literal_column,
    or_,
    select,
    true,
    values,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased, defer, lazyload
from sqlalchemy.orm.util import identity_key

from pipeline.content.models import Article, ArticleAuthor, ArticleStatus, ArticleTag, Section, Tag
from pipeline.site.models import SitemapMonth


@dataclass(frozen=True)
class ListRef:
    kind: str  # "latest" | "section" | "tag" | "author" | "month"
    value: str = ""


LATEST = ListRef("latest")


@dataclass(frozen=True)
class SortKey:
    published_at: datetime
    article_id: int


def lists_of(
    section: str, tags: Sequence[str], month: str, authors: Sequence[str] = ()
) -> list[ListRef]:
    return [
        LATEST,
        ListRef("section", section),
        *(ListRef("tag", tag) for tag in tags),
        *(ListRef("author", author) for author in authors),
        ListRef("month", month),
    ]


def _members(ref: ListRef) -> Select[Any]:
    query = select(Article).where(Article.status == ArticleStatus.PUBLISHED)
    if ref.kind == "section":
        query = query.join(Section).where(Section.slug == ref.value)
    elif ref.kind == "tag":
        query = (
            query.join(ArticleTag, ArticleTag.article_id == Article.id)
            .join(Tag, Tag.id == ArticleTag.tag_id)
            .where(Tag.slug == ref.value)
        )
    elif ref.kind == "author":
        query = query.join(ArticleAuthor, ArticleAuthor.article_id == Article.id).where(
            ArticleAuthor.author_slug == ref.value
        )
    elif ref.kind == "month":
        start, end = _month_bounds(ref.value)
        query = query.where(Article.published_at >= start)
        if end is not None:
            query = query.where(Article.published_at < end)
    return query


def _month_bounds(month: str) -> tuple[datetime, datetime | None]:
    year, number = (int(part) for part in month.split("-"))
    start = datetime(year, number, 1, tzinfo=UTC)
    if (year, number) == (datetime.max.year, 12):
        # December 9999 (a "never" date some newsroom tools send) has no next month in
        # Python: computing one raised, and the failing sitemap blocked every list refresh
        # of the `sitemaps` group, so no later article reached a sitemap.
        return start, None
    end = datetime(year + (number == 12), number % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _before(key: SortKey) -> Any:
    return _earlier(Article, key.published_at, key.article_id)


def _earlier(member: Any, published_at: Any, article_id: Any) -> Any:
    """`member` sorts before (published_at, article_id): values, or another query's columns.
    The first bound is implied by the second, but it is the one an index can start a range
    at: without it the database walks the list from the newest end down to the key, a scan
    as long as the archive is old."""
    return and_(
        member.published_at <= published_at,
        or_(
            member.published_at < published_at,
            and_(member.published_at == published_at, member.id < article_id),
        ),
    )


def _not_before(key: SortKey) -> Any:
    return and_(
        Article.published_at >= key.published_at,
        or_(
            Article.published_at > key.published_at,
            and_(Article.published_at == key.published_at, Article.id >= key.article_id),
        ),
    )


def _after(key: SortKey) -> Any:
    return and_(
        Article.published_at >= key.published_at,
        or_(
            Article.published_at > key.published_at,
            and_(Article.published_at == key.published_at, Article.id > key.article_id),
        ),
    )


# Teasers show no tags: lists load articles without them (read on access if ever needed).
# Loading every list's tags (selectin) would be one more query per list rendered.
WITHOUT_TAGS = lazyload(Article.tag_links)
NEWEST_FIRST = (Article.published_at.desc(), Article.id.desc())
OLDEST_FIRST = (Article.published_at.asc(), Article.id.asc())


def newest(session: Session, ref: ListRef, limit: int) -> list[Article]:
    """The top of a list, newest first, as teasers (articles without their tags)."""
    query = _members(ref).options(WITHOUT_TAGS).order_by(*NEWEST_FIRST).limit(limit)
    return list(session.scalars(query))


@dataclass(frozen=True)
class SitemapEntry:
    """What a sitemap needs of an article, without loading the article."""

    article_id: int
    version: int
    slug: str
    section: str
    published_at: datetime
    updated_at: datetime


def entries(session: Session, ref: ListRef) -> list[SitemapEntry]:
    """Every member of a month (or a tag) as bare columns, newest first: a month's sitemap
    lists thousands of articles, and building full objects with their tags for each would
    cost far more than the few columns it shows."""
    query = _members(ref).join(Section, Section.id == Article.section_id)
    rows = session.execute(
        query.with_only_columns(
            Article.id,
            Article.version,
            Article.slug,
            Section.slug,
            Article.published_at,
            Article.updated_at,
        ).order_by(*NEWEST_FIRST)
    )
    return [SitemapEntry(*row) for row in rows]


@dataclass(frozen=True)
class NewsEntry:
    """What the news sitemap needs of an article, without loading the article."""

    article_id: int
    version: int
    slug: str
    section: str
    published_at: datetime
    title: str


def news(session: Session, since: datetime, until: datetime, limit: int) -> list[NewsEntry]:
    """The live articles published after `since` and not after `until`, newest first, at most
    `limit` of them: a range of the (status, published_at) index."""
    query = (
        select(Article.id, Article.version, Article.slug, Section.slug, Article.published_at,
               Article.title)
        .join(Section, Section.id == Article.section_id)
        .where(_published(), Article.published_at > since, Article.published_at <= until)
        .order_by(*NEWEST_FIRST)
        .limit(limit)
    )  # fmt: skip
    return [NewsEntry(*row) for row in session.execute(query)]


def count(session: Session, ref: ListRef) -> int:
    """A list's length, counted once per transaction: the planner and the renders of a
    list's head and each of its pages all need it, and counting is linear in the list."""
    counts: dict[ListRef, int] = session.info.setdefault("list_counts", {})
    if ref not in counts:
        query = _members(ref).with_only_columns(func.count(Article.id))
        counts[ref] = int(session.execute(query).scalar_one())
    return counts[ref]


def count_every(session: Session, kind: str) -> dict[str, int]:
    """Every section's (kind "section") or tag's ("tag") list length, empty lists included,
    in one grouped count instead of one count per list; kept for `count` like its own."""
    found = _grouped_count(session, kind, None)
    counts: dict[ListRef, int] = session.info.setdefault("list_counts", {})
    counts.update({ListRef(kind, slug): number for slug, number in found.items()})
    return found


def every_list(session: Session, kind: str) -> list[ListRef]:
    """Every list of `kind` the site has now: the latest list; each month with published
    articles; every section and tag, empty ones included (counted on the way, for `count`)."""
    if kind == LATEST.kind:
        return [LATEST]
    if kind == "month":
        return [ListRef(kind, month) for month, _ in months(session)]
    return [ListRef(kind, value) for value in count_every(session, kind)]


def _published() -> Any:
    return Article.status == ArticleStatus.PUBLISHED


def position(session: Session, ref: ListRef, key: SortKey) -> int:
    """How many members come before `key`, counted from the oldest (the key need not be in
    it). Counted from the newest end: a publish's key is at or near it, and counting the
    members before it read the whole list a second time."""
    query = _members(ref).where(_not_before(key)).with_only_columns(func.count(Article.id))
    return count(session, ref) - int(session.execute(query).scalar_one())


def page_count(total: int, page_size: int) -> int:
    return (total + page_size - 1) // page_size


def page_of(position_from_oldest: int, page_size: int) -> int:
    return position_from_oldest // page_size + 1


def page(session: Session, ref: ListRef, number: int, page_size: int, total: int) -> list[Article]:
    """Block `number` (from 1, counted from the oldest) of a list of `total`, newest first.

    Read from whichever end is nearer: a publish rewrites the newest pages, and an offset from
    the oldest end would step over the whole list to reach them."""
    first = (number - 1) * page_size  # the block's oldest member, counted from the oldest
    if number < 1 or first >= total:
        return []
    if first < total // 2:
        query = _members(ref).options(WITHOUT_TAGS).order_by(*OLDEST_FIRST)
        query = query.offset(first).limit(page_size)
        return list(reversed(list(session.scalars(query))))
    newest_end = max(0, total - number * page_size)
    size = min(page_size, total - first)
    query = _members(ref).options(WITHOUT_TAGS).order_by(*NEWEST_FIRST)
    query = query.offset(newest_end).limit(size)
    return list(session.scalars(query))


def before(session: Session, key: SortKey, limit: int) -> list[Article]:
    """The `limit` articles published just before `key`, newest first (an article's rail)."""
    query = _members(LATEST).options(WITHOUT_TAGS).where(_before(key))
    query = query.order_by(*NEWEST_FIRST).limit(limit)
    return list(session.scalars(query))


def before_many(
    session: Session, keys: dict[int, SortKey], limit: int
) -> dict[int, list[Article]] | None:
    """`before` for many articles in one statement (PostgreSQL: a LATERAL join, each
    anchor's ten rows read from the index like `before` reads them); None where the
    database has no LATERAL (SQLite), whose callers ask `before` one article at a time."""
    if session.get_bind().dialect.name != "postgresql" or not keys:
        return None
    anchors = (
        values(
            column("anchor", Integer),
            column("anchor_at", DateTime(timezone=True)),
            name="anchors",
        )
        .data([(article_id, key.published_at) for article_id, key in keys.items()])
        .alias("anchors")
    )
    anchor = anchors.c.anchor
    other = aliased(Article)  # the rail's members, apart from the articles the query returns
    rail = (
        select(other.id.label("member"), other.published_at)
        .where(
            other.status == ArticleStatus.PUBLISHED, _earlier(other, anchors.c.anchor_at, anchor)
        )
        .order_by(other.published_at.desc(), other.id.desc())
        .limit(limit)
        .lateral("rail")
    )
    # Ids, not articles: the rails of a chunk's consecutive articles are mostly those same
    # articles, which a build has loaded already; each article is then loaded once.
    query = (
        select(anchor, rail.c.member)
        .select_from(anchors)
        .join(rail, true())
        .order_by(anchor, rail.c.published_at.desc(), rail.c.member.desc())
    )
    pairs = session.execute(query).all()
    loaded = articles_by_id(session, [member for _, member in pairs])
    found: dict[int, list[Article]] = {article_id: [] for article_id in keys}
    for article_id, member in pairs:
        found[article_id].append(loaded[member])
    return found


def articles_by_id(session: Session, ids: Iterable[int]) -> dict[int, Article]:
    """These articles, each loaded once: those the session holds already are not read again,
    the others in one statement as teasers (without their tags or body, which are read on
    access should anything need them)."""
    wanted = set(ids)
    held = {
        article_id: session.identity_map.get(identity_key(Article, article_id))
        for article_id in wanted
    }
    found: dict[int, Article] = {key: value for key, value in held.items() if value is not None}
    missing = sorted(wanted - found.keys())
    for start in range(0, len(missing), 1000):
        query = (
            select(Article)
            .where(Article.id.in_(missing[start : start + 1000]))
            .options(WITHOUT_TAGS, defer(Article.body_html))
        )
        found.update((article.id, article) for article in session.scalars(query))
    return found


# Ranks of a list's members, newest first from 1, as `ranked_many` is asked for them.
Ranks = list[tuple[int, int]]


def ranked_many(
    session: Session, kind: str, wanted: dict[str, Ranks]
) -> dict[ListRef, dict[int, Article]]:
    """Members of many lists of one kind ("section" or "tag") in one statement, by their
    rank in each (newest first, from 1): `wanted` gives each list's value and the closed
    ranges of ranks to read. A rebuild chunk renders hundreds of pages of a few lists: one
    statement instead of one per page. Articles come as teasers (without tags or body)."""
    found: dict[ListRef, dict[int, Article]] = {ListRef(kind, value): {} for value in wanted}
    wanted = {value: ranges for value, ranges in wanted.items() if ranges}
    if not wanted:
        return found
    value, members = _valued_members(kind)
    one_list = kind == LATEST.kind
    rank = func.row_number().over(partition_by=None if one_list else value, order_by=NEWEST_FIRST)
    members = members.add_columns(rank.label("rank")).where(_published())
    if not one_list:
        members = members.where(value.in_(sorted(wanted)))
    ranked = members.subquery("ranked")
    chosen = or_(
        *(
            and_(ranked.c.list_value == name, ranked.c.rank.between(low, high))
            for name, ranges in sorted(wanted.items())
            for low, high in ranges
        )
    )
    query = (
        select(ranked.c.list_value, ranked.c.rank, Article)
        .join(Article, Article.id == ranked.c.id)
        .where(chosen)
        .options(WITHOUT_TAGS, defer(Article.body_html))
    )
    for name, position, article in session.execute(query):
        found[ListRef(kind, name)][int(position)] = article
    return found


def _valued_members(kind: str) -> tuple[Any, Select[Any]]:
    """The members of every list of `kind` ("section", "tag", "author" or "latest"), each
    row an article id and the value of its list (as `list_value`), and that value."""
    if kind == "section":
        value: Any = Section.slug
        members = select(Article.id, value.label("list_value")).join(
            Section, Section.id == Article.section_id
        )
    elif kind == "author":
        value = ArticleAuthor.author_slug
        members = select(Article.id, value.label("list_value")).join(
            ArticleAuthor, ArticleAuthor.article_id == Article.id
        )
    elif kind == LATEST.kind:
        # One list, every live article: its value is "" (a constant, so one partition).
        value = literal_column("''", String)
        members = select(Article.id, value.label("list_value"))
    else:
        value = Tag.slug
        members = (
            select(Article.id, value.label("list_value"))
            .join(ArticleTag, ArticleTag.article_id == Article.id)
            .join(Tag, Tag.id == ArticleTag.tag_id)
        )
    return value, members


def ranks_of_page(number: int, page_size: int, total: int) -> tuple[int, int]:
    """The ranks (newest first, from 1) of block `number` of a list of `total` (see `page`)."""
    first = (number - 1) * page_size  # the block's oldest member, counted from the oldest
    last = min(number * page_size, total) - 1
    return total - last, total - first


def entries_many(session: Session, names: Sequence[str]) -> dict[str, list[SitemapEntry]]:
    """`entries` of many months in one statement (the range from the first to the last)."""
    found: dict[str, list[SitemapEntry]] = {name: [] for name in names}
    if not names:
        return found
    start, _ = _month_bounds(min(names))
    _, end = _month_bounds(max(names))
    query = (
        select(Article.id, Article.version, Article.slug, Section.slug, Article.published_at,
               Article.updated_at)
        .join(Section, Section.id == Article.section_id)
        .where(_published(), Article.published_at >= start)
        .order_by(*NEWEST_FIRST)
    )  # fmt: skip
    if end is not None:
        query = query.where(Article.published_at < end)
    for row in session.execute(query):
        entry = SitemapEntry(*row)
        month = month_name(entry.published_at)
        if month in found:
            found[month].append(entry)
    return found


def month_name(published_at: datetime) -> str:
    """The month (as the database names it, "YYYY-MM" in UTC) a date falls in."""
    moment = _as_utc(published_at)
    return f"{moment.year:04d}-{moment.month:02d}"


def count_many(session: Session, kind: str, values: Iterable[str]) -> None:
    """`count` of many sections (kind "section") or tags ("tag") in one grouped count, kept
    for `count` like its own."""
    counts: dict[ListRef, int] = session.info.setdefault("list_counts", {})
    missing = sorted({value for value in values if ListRef(kind, value) not in counts})
    if missing:
        found = _grouped_count(session, kind, missing)
        counts.update({ListRef(kind, value): found.get(value, 0) for value in missing})


def _grouped_count(session: Session, kind: str, values: list[str] | None) -> dict[str, int]:
    """Each section's, tag's or author's list length (of `values`, or of all), empty lists
    included (an author's: one whose articles are all down)."""
    if kind == "author":
        value = ArticleAuthor.author_slug
        query = (
            select(value, func.count(Article.id))
            .select_from(ArticleAuthor)
            .outerjoin(Article, and_(Article.id == ArticleAuthor.article_id, _published()))
        )
    elif kind == "section":
        value = Section.slug
        query = (
            select(value, func.count(Article.id))
            .select_from(Section)
            .outerjoin(Article, and_(Article.section_id == Section.id, _published()))
        )
    else:
        value = Tag.slug
        query = (
            select(value, func.count(Article.id))
            .select_from(Tag)
            .outerjoin(ArticleTag, ArticleTag.tag_id == Tag.id)
            .outerjoin(Article, and_(Article.id == ArticleTag.article_id, _published()))
        )
    if values is not None:
        query = query.where(value.in_(values))
    return {str(slug): int(number) for slug, number in session.execute(query.group_by(value))}


def after(session: Session, key: SortKey, limit: int) -> list[Article]:
    """The `limit` articles published just after `key`: the ones whose rails show it."""
    query = _members(LATEST).options(WITHOUT_TAGS).where(_after(key))
    query = query.order_by(*OLDEST_FIRST).limit(limit)
    return list(session.scalars(query))


def months(session: Session) -> list[tuple[str, datetime]]:
    """Every month with published articles and its newest update (for the sitemap index),
    from the rows `recount_months` keeps."""
    rows = session.execute(
        select(SitemapMonth.month, SitemapMonth.lastmod)
        .where(SitemapMonth.members > 0)
        .order_by(SitemapMonth.month)
    )
    return [(month, _as_utc(lastmod)) for month, lastmod in rows if lastmod is not None]


def recount_months(session: Session, names: Iterable[str] | None = None) -> None:
    """Bring the sitemap_months rows of these months (None: every month) in line with the
    articles. Rows are locked in month order first (every writer's order), then counted, so
    of two events in one month the later recount sees both articles; a month's recount reads
    that month alone, the whole archive only for `None` (a rebuild)."""
    if names is None:
        counted = _count_every_month(session)
        wanted = set(counted) | set(session.scalars(select(SitemapMonth.month)))
    else:
        wanted = set(names)
    if not wanted:
        return
    existing = set(
        session.scalars(select(SitemapMonth.month).where(SitemapMonth.month.in_(sorted(wanted))))
    )
    if missing := sorted(wanted - existing):
        # A new month's row, inserted before any lock is taken (a racing insert is waited
        # for while holding none); inserting only what is missing leaves the content
        # version alone when nothing changes.
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(
            insert(SitemapMonth)
            .values([{"month": month, "members": 0, "lastmod": None} for month in missing])
            .on_conflict_do_nothing(index_elements=["month"])
        )
    rows = session.scalars(
        select(SitemapMonth)
        .where(SitemapMonth.month.in_(sorted(wanted)))
        .order_by(SitemapMonth.month)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    for row in rows:
        members, lastmod = (
            counted.get(row.month, (0, None))
            if names is None
            else (_count_month(session, row.month))
        )
        # Assigned only when different: an unchanged row must not count as a change to
        # what pages are rendered from (pipeline/publish/content_version.py).
        if (row.members, row.lastmod) != (members, lastmod):
            row.members, row.lastmod = members, lastmod


def _count_month(session: Session, month: str) -> tuple[int, datetime | None]:
    members, newest = session.execute(
        _members(ListRef("month", month)).with_only_columns(
            func.count(Article.id), func.max(Article.updated_at)
        )
    ).one()
    return int(members), _as_utc(newest) if newest is not None else None


def _count_every_month(session: Session) -> dict[str, tuple[int, datetime]]:
    month = _month_expression(session)
    rows = session.execute(
        select(month, func.count(Article.id), func.max(Article.updated_at))
        .where(Article.status == ArticleStatus.PUBLISHED)
        .group_by(month)
    )
    return {str(name): (int(members), _as_utc(newest)) for name, members, newest in rows}


def _month_expression(session: Session) -> Any:
    if session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m", Article.published_at)
    return func.to_char(func.timezone("UTC", Article.published_at), "YYYY-MM")


def _as_utc(value: datetime | str) -> datetime:
    # Aggregates bypass the column type, so SQLite hands back text.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def tag_slugs(session: Session, article_ids: list[int]) -> dict[int, list[str]]:
    """The tags of many teasers in one query, in each article's own order."""
    rows = session.execute(
        select(ArticleTag.article_id, Tag.slug)
        .join(Tag, Tag.id == ArticleTag.tag_id)
        .where(ArticleTag.article_id.in_(article_ids))
        .order_by(ArticleTag.article_id, ArticleTag.position)
    )
    found: dict[int, list[str]] = {article_id: [] for article_id in article_ids}
    for article_id, slug in rows:
        found[article_id].append(slug)
    return found
