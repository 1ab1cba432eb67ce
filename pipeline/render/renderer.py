"""Jinja2 rendering: one function per output kind, each a pure function of the database.

Which function and template render a kind is the kind's row in the registry
(pipeline/site/kinds.py), which the renderer is built with. Every render returns the bytes
plus what they were built from (data keys and article versions), which the manifest records
so a later change can find the outputs it affects.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from pipeline.config import Settings
from pipeline.content.models import Article, ArticleStatus, Redirect
from pipeline.content.sanitize import author_slug, author_slugs, display_name, teaser
from pipeline.related.models import RelatedRail
from pipeline.schema import utcnow
from pipeline.site import lists, navigation
from pipeline.site.lists import LATEST, ListRef, SortKey
from pipeline.site.outputs import Kind, OutputSpec, article_key, url_path

if TYPE_CHECKING:
    from pipeline.site.kinds import Kinds

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # pipeline/: templates sit beside it
# What `Renderer.prefetch` leaves in a render transaction's session.info, and how many
# articles it reads per statement.
ARTICLES_BY_SLUG = "articles_by_slug"
RAILS = "rails"
LATEST_BEFORE = "latest_before"
LIST_TOPS = "list_tops"
LIST_PAGES = "list_pages"
MONTH_ENTRIES = "month_entries"
TEASERS = "teasers"
PREFETCH_CHUNK = 500
# The kinds of list whose pages, and whose tops, `prefetch` reads in bulk. The latest
# list's top is one short query of its own (`_newest`), shared by the home page, the feed,
# the fragment and the JSON API; ranking the whole archive for it would cost more.
PAGED_LISTS = ("section", "tag", "author", "latest")
LISTS_WITH_TOPS = ("section", "tag", "author")
NEWS_ENTRIES = "news_entries"
NAVIGATION = "navigation"
# How long an article stays in the Google News sitemap, and how many it lists at most.
NEWS_WINDOW = timedelta(hours=48)
NEWS_LIMIT = 1000
TEMPLATES_DIR = next(
    path
    for path in (PACKAGE_DIR / "templates", PACKAGE_DIR.parent / "templates")
    if (path / "base.html").exists()
)
# The frame a lead image is shown in (16:9, as the demo's images are drawn): its width and
# height attributes let the browser hold the space before the image arrives, and the
# stylesheet crops an image of other proportions to it, so the layout never shifts.
LEAD_IMAGE_FRAME = {"width": 1200, "height": 675}


@dataclass
class Rendered:
    key: str
    kind: str
    body: bytes
    data_keys: set[str] = field(default_factory=set)
    versions: dict[str, int] = field(default_factory=dict)

    def shows(self, articles: Iterable[Article]) -> None:
        self.shows_versions((article.id, article.version) for article in articles)

    def shows_versions(self, versions: Iterable[tuple[int, int]]) -> None:
        """Record the articles (id, version) this output shows: its surrogate keys."""
        for article_id, version in versions:
            self.data_keys.add(f"article:{article_id}")
            self.versions[str(article_id)] = version


def static_files() -> list[str]:
    """Files under templates/static, published as they are under /static/."""
    folder = TEMPLATES_DIR / "static"
    return sorted(
        path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()
    )


def inline_css() -> Markup:
    """The site's stylesheet, inlined in every page's <head>: a few kilobytes, so the first
    paint waits for no second request (it is still published as /static/style.css)."""
    css = (TEMPLATES_DIR / "static" / "style.css").read_text("utf-8")
    if "</style" in css.lower():  # it would close the <style> element it is inlined in
        raise ValueError("templates/static/style.css must not contain </style")
    return Markup(css.strip())


def author_path(name: str) -> str:
    """An author's page, as bylines link to it ("" for a name that has none)."""
    slug = author_slug(name)
    return f"/authors/{slug}/" if slug else ""


def key_of(article: Article) -> str:
    return article_key(article.section.slug, article.published_at, article.slug)


def readable_date(value: datetime) -> str:
    return f"{value.day} {value:%B %Y, %H:%M} UTC"


def templates_hash(folders: Sequence[Path] = (TEMPLATES_DIR,)) -> str:
    """Identifies the templates an output was rendered with (provenance metadata)."""
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                digest.update(path.relative_to(folder).as_posix().encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class Renderer:
    def __init__(
        self, settings: Settings, kinds: Kinds, extra_templates: Sequence[Path] = ()
    ) -> None:
        """`kinds` is the registry it renders by; templates are looked up in
        `extra_templates` (the templates of kinds added to the site's) before the site's."""
        self.settings = settings
        self.kinds = kinds
        folders = (*extra_templates, TEMPLATES_DIR)
        self.templates_hash = templates_hash(folders)
        self.site_url = settings.site_url.rstrip("/")
        self.env = Environment(
            loader=FileSystemLoader(folders),
            autoescape=select_autoescape(["html", "xml"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            # Templates are read once per process (their hash, above, names what a page was
            # rendered with): checking each file's mtime on every render cost a stat per
            # template per page.
            auto_reload=False,
        )
        self.env.filters["readable_date"] = readable_date
        self.env.filters["isodate"] = lambda value: value.strftime("%Y-%m-%dT%H:%M:%SZ")
        self.env.globals["site"] = {"name": settings.site_name, "url": self.site_url}
        self.env.globals["rail_size"] = settings.rail_size
        self.env.globals["lead_image"] = LEAD_IMAGE_FRAME
        self.env.globals["inline_css"] = inline_css()
        # What "now" is to outputs that show a window of time (the news sitemap): a test or
        # a benchmark pins it.
        self.clock: Callable[[], datetime] = utcnow

    def render(self, session: Session, spec: OutputSpec) -> Rendered | None:
        """The output's bytes from the current data, or None when it should not exist."""
        return self.kinds[spec.kind].render(self, session, spec)

    def prefetch(self, session: Session, specs: Iterable[OutputSpec]) -> None:
        """Read in bulk, for the rest of this transaction, what rendering `specs` one by one
        would ask for page by page: the articles of the article pages (with their tags),
        their "More like this" rails and (PostgreSQL) their "Latest articles" rails. A
        rebuild chunk renders hundreds of pages in one transaction: four queries a page
        become four for the chunk."""
        slugs = sorted({spec.key.split("/")[-2] for spec in specs if spec.kind == Kind.ARTICLE})
        by_slug: dict[str, Article | None] = session.info.setdefault(ARTICLES_BY_SLUG, {})
        rails: dict[int, list[Article]] = session.info.setdefault(RAILS, {})
        for start in range(0, len(slugs), PREFETCH_CHUNK):
            chunk = slugs[start : start + PREFETCH_CHUNK]
            articles = session.scalars(select(Article).where(Article.slug.in_(chunk)))
            found = {article.slug: article for article in articles}
            by_slug.update({slug: found.get(slug) for slug in chunk})
            ids = sorted(article.id for article in found.values())
            pairs = session.execute(
                self._rails_query(ids).with_only_columns(
                    RelatedRail.article_id, RelatedRail.neighbour_id
                )
            ).all()
            neighbours = lists.articles_by_id(session, [neighbour for _, neighbour in pairs])
            for article_id in ids:
                rails[article_id] = []
            for article_id, neighbour_id in pairs:
                rails[article_id].append(neighbours[neighbour_id])
            keys = {a.id: SortKey(a.published_at, a.id) for a in found.values()}
            latest = lists.before_many(session, keys, self.settings.rail_size)
            if latest is not None:
                session.info.setdefault(LATEST_BEFORE, {}).update(latest)
        self._prefetch_lists(session, specs)

    def _prefetch_lists(self, session: Session, specs: Iterable[OutputSpec]) -> None:
        """The lists' share of `prefetch`: the sections' and tags' lengths, the tops and the
        pages these specs show, one statement per kind of list; the months' sitemaps in one."""
        from pipeline.site.kinds import Each

        shown: dict[str, dict[str, set[int]]] = {}  # list kind -> value -> pages (0: top)
        months: set[str] = set()
        for spec in specs:
            row = self.kinds[spec.kind]
            if row.lists == "month" and row.each == Each.LIST:
                months.add(spec.subject)
            elif (row.lists in PAGED_LISTS and row.each == Each.PAGE) or (
                row.lists in LISTS_WITH_TOPS and row.each == Each.LIST
            ):
                pages = shown.setdefault(row.lists, {}).setdefault(spec.subject, set())
                pages.add(spec.page if row.each == Each.PAGE else 0)
        if months:
            session.info.setdefault(MONTH_ENTRIES, {}).update(
                lists.entries_many(session, sorted(months))
            )
        for kind, values in shown.items():
            if kind == LATEST.kind:
                lists.count(session, LATEST)
            else:
                lists.count_many(session, kind, values)
            wanted = {
                value: self._ranks_shown(lists.count(session, ListRef(kind, value)), pages)
                for value, pages in values.items()
            }
            ranked = lists.ranked_many(session, kind, wanted)
            tops = session.info.setdefault(LIST_TOPS, {})
            bulk_pages = session.info.setdefault(LIST_PAGES, {})
            size = self.settings.page_size
            for value, pages in values.items():
                ref = ListRef(kind, value)
                total, members = lists.count(session, ref), ranked.get(ref, {})
                for number in pages:
                    if number == 0:
                        top = _ranked(members, 1, min(self._top_size(), total))
                        if top is not None:
                            tops[ref] = top
                    elif 1 <= number <= lists.page_count(total, size):
                        page = _ranked(members, *lists.ranks_of_page(number, size, total))
                        if page is not None:
                            bulk_pages[ref, number] = page

    def _ranks_shown(self, total: int, pages: set[int]) -> lists.Ranks:
        """The ranks a list's top (page 0) and its `pages` show, adjacent ranges merged."""
        size = self.settings.page_size
        ranges = sorted(
            (1, min(self._top_size(), total))
            if number == 0
            else lists.ranks_of_page(number, size, total)
            for number in pages
            if number == 0 or 1 <= number <= lists.page_count(total, size)
        )
        merged: lists.Ranks = []
        for low, high in ranges:
            if high < low:
                continue
            if merged and low <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], high))
            else:
                merged.append((low, high))
        return merged

    def absolute(self, path: str) -> str:
        return self.site_url + path

    def _person(self, name: str) -> dict[str, str]:
        """A byline's author in JSON-LD, with their page when the name has one."""
        path = author_path(name)
        person = {"@type": "Person", "name": name}
        return {**person, "url": self.absolute(path)} if path else person

    def _page(self, session: Session, template: str | None, **context: Any) -> bytes:
        assert template is not None, "a kind rendered from a template names one"
        return (
            self.env.get_template(template)
            .render(nav_sections=self.navigation(session), **context)
            .encode("utf-8")
        )

    def navigation(self, session: Session) -> list[navigation.NavLink]:
        """The section navigation bar, read once per render transaction: a change of it is
        committed with the rebuild that re-renders every page, whose transactions see it."""
        cached: list[navigation.NavLink] | None = session.info.get(NAVIGATION)
        if cached is None:
            cached = session.info[NAVIGATION] = navigation.links(session)
        return cached

    def _template(self, kind: str) -> str | None:
        return self.kinds[kind].template

    # -- article pages -------------------------------------------------------------------

    def article(self, session: Session, spec: OutputSpec) -> Rendered | None:
        """The article living at this key, a redirect if it moved away, or nothing."""
        slug = spec.key.split("/")[-2]
        prefetched = session.info.get(ARTICLES_BY_SLUG, {})
        if slug in prefetched:
            article = prefetched[slug]
        else:
            article = session.scalar(select(Article).where(Article.slug == slug))
        if article is not None and article.is_live and key_of(article) == spec.key:
            return self.article_page(session, article, spec.key)
        moved = session.scalar(select(Redirect).where(Redirect.old_key == spec.key))
        target = session.get(Article, moved.article_id) if moved else None
        if target is None or not target.is_live:
            return None
        rendered = Rendered(
            spec.key,
            Kind.REDIRECT,
            self._page(
                session,
                self._template(Kind.REDIRECT),
                target=url_path(key_of(target)),
                canonical=self.absolute(url_path(key_of(target))),
            ),
        )
        rendered.shows([target])
        return rendered

    def article_page(self, session: Session, article: Article, key: str) -> Rendered:
        latest = session.info.get(LATEST_BEFORE, {}).get(article.id)
        if latest is None:
            anchor = SortKey(article.published_at, article.id)
            latest = lists.before(session, anchor, self.settings.rail_size)
        related = self.related_articles(session, article.id)
        url = url_path(key)
        body = self._page(
            session,
            self._template(Kind.ARTICLE),
            article=self.article_view(article),
            canonical=self.absolute(url),
            latest=self._teasers(session, latest),
            related=self._teasers(session, related),
            json_ld=self.json_ld(article, url),
        )
        rendered = Rendered(key, Kind.ARTICLE, body)
        rendered.shows([article, *latest, *related])
        return rendered

    def related_articles(self, session: Session, article_id: int) -> list[Article]:
        prefetched = session.info.get(RAILS, {})
        if article_id in prefetched:
            return list(prefetched[article_id])
        return list(session.scalars(self._rails_query([article_id])))

    def _rails_query(self, article_ids: list[int]) -> Select[Any]:
        """The live neighbours on these articles' stored rails, rail by rail in rank order."""
        return (
            select(Article)
            .join(RelatedRail, RelatedRail.neighbour_id == Article.id)
            .where(
                RelatedRail.article_id.in_(article_ids), Article.status == ArticleStatus.PUBLISHED
            )
            .options(lists.WITHOUT_TAGS)
            .order_by(RelatedRail.article_id, RelatedRail.rank)
        )

    def article_view(self, article: Article) -> dict[str, Any]:
        section = article.section.slug
        return {
            "title": article.title,
            "standfirst": article.standfirst,
            "body_html": Markup(article.body_html),  # sanitised by the allow-list on the way in
            "url": url_path(key_of(article)),
            "section": {"slug": section, "name": article.section.name, "url": f"/{section}/"},
            "tags": [
                {"slug": tag.slug, "name": tag.name, "url": f"/tags/{tag.slug}/"}
                for tag in article.tags
            ],
            "authors": list(article.authors),
            "byline": byline(article.authors),
            "published_at": article.published_at,
            "updated_at": article.updated_at,
            # updated_at moves only with the article's version: when a change altered its
            # content (or it was taken down and brought back), never on a re-render or an
            # unchanged republish. Later than its publication: the page says "Updated".
            "modified": article.updated_at > article.published_at,
            "image": {
                "url": article.image_url,
                # Meta tags for apps and crawlers need absolute URLs.
                "absolute_url": self.absolute(article.image_url)
                if article.image_url.startswith("/")
                else article.image_url,
                "alt": article.image_alt or "",
            }
            if article.image_url
            else None,
            "teaser": teaser(article.teaser_text),
        }

    def _teasers(self, session: Session, items: list[Article]) -> list[dict[str, Any]]:
        """Teasers of these articles, each made once per render transaction: consecutive
        article pages show nearly the same "Latest articles" (templates only read them)."""
        made: dict[int, dict[str, Any]] = session.info.setdefault(TEASERS, {})
        for item in items:
            if item.id not in made:
                made[item.id] = self.teaser_view(item)
        return [made[item.id] for item in items]

    def teaser_view(self, article: Article) -> dict[str, Any]:
        return {
            "title": article.title,
            "url": url_path(key_of(article)),
            "absolute_url": self.absolute(url_path(key_of(article))),
            "teaser": teaser(article.teaser_text, 110),
            "summary": article.standfirst or teaser(article.teaser_text, 240),
            "published_at": article.published_at,
            "updated_at": article.updated_at,
            "authors": list(article.authors),
            "byline": byline(article.authors),
            "section": {"name": article.section.name, "url": f"/{article.section.slug}/"},
        }

    def json_ld(self, article: Article, url: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "@context": "https://schema.org",
            "@type": "NewsArticle",
            "headline": article.title,
            "description": article.standfirst or teaser(article.teaser_text),
            "datePublished": article.published_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "dateModified": article.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "author": [self._person(name) for name in article.authors],
            "publisher": {
                "@type": "Organization",
                "name": self.settings.site_name,
                "url": self.absolute("/"),
            },
            "mainEntityOfPage": {"@type": "WebPage", "@id": self.absolute(url)},
            "url": self.absolute(url),
            "articleSection": article.section.name,
            "keywords": [tag.slug for tag in article.tags],
        }
        if article.image_url:
            image = article.image_url
            data["image"] = [self.absolute(image) if image.startswith("/") else image]
        return data

    # -- lists ---------------------------------------------------------------------------

    def home(self, session: Session, spec: OutputSpec) -> Rendered:
        size = self.settings.home_size
        items = self._newest(session, LATEST, size)
        total = lists.count(session, LATEST)
        # Older stories go on in the latest list's pages: the one holding the first story
        # the home page no longer shows.
        older = lists.page_of(total - size - 1, self.settings.page_size) if total > size else None
        rendered = Rendered(
            spec.key,
            spec.kind,
            self._page(
                session,
                self._template(spec.kind),
                items=[self.teaser_view(item) for item in items],
                older_url=f"/page/{older}/" if older is not None else None,
                canonical=self.absolute("/"),
            ),
        )
        rendered.shows(items)
        return rendered

    def _list_ref(self, spec: OutputSpec) -> ListRef:
        """The list an output of a list's kind shows."""
        kind = self.kinds[spec.kind].lists
        assert kind is not None, f"{spec.kind} shows no list"
        return ListRef(kind, spec.subject)

    def _newest(self, session: Session, ref: ListRef, limit: int) -> list[Article]:
        """The newest `limit` of a list, read once per render transaction: the home page,
        the feeds, the rail fragment and the JSON API all show the top of the same lists."""
        tops: dict[ListRef, list[Article]] = session.info.setdefault(LIST_TOPS, {})
        if ref not in tops:
            tops[ref] = lists.newest(session, ref, max(limit, self._top_size()))
        return tops[ref][:limit]

    def _top_size(self) -> int:
        """How much of a list's top is read: the most any output shows of it."""
        settings = self.settings
        return max(
            settings.home_size, settings.feed_size, settings.page_size, settings.rail_size + 1
        )

    def _list_base(self, ref: ListRef) -> str:
        if ref.kind == "section":
            return f"/{ref.value}/"
        if ref.kind == "author":
            return f"/authors/{ref.value}/"
        if ref == LATEST:
            return "/"
        return f"/tags/{ref.value}/"

    def list_head(self, session: Session, spec: OutputSpec) -> Rendered | None:
        ref = self._list_ref(spec)
        size = self.settings.page_size
        total = lists.count(session, ref)
        if total == 0:
            return None
        items = self._newest(session, ref, size)
        base = self._list_base(ref)
        older = lists.page_of(total - size - 1, size) if total > size else None
        return self._list_output(
            session, spec, ref, items, base, total, page=None, older=older, newer=None
        )

    def list_page(self, session: Session, spec: OutputSpec) -> Rendered | None:
        ref = self._list_ref(spec)
        size = self.settings.page_size
        total = lists.count(session, ref)
        pages = lists.page_count(total, size)
        if spec.page < 1 or spec.page > pages:
            return None
        items = session.info.get(LIST_PAGES, {}).get((ref, spec.page))
        if items is None:
            items = lists.page(session, ref, spec.page, size, total)
        older = spec.page - 1 if spec.page > 1 else None
        newer = spec.page + 1 if spec.page < pages else 0  # 0: the list's front page
        base = self._list_base(ref)
        return self._list_output(session, spec, ref, items, base, total, spec.page, older, newer)

    def _list_output(
        self,
        session: Session,
        spec: OutputSpec,
        ref: ListRef,
        items: list[Article],
        base: str,
        total: int,
        page: int | None,
        older: int | None,
        newer: int | None,
    ) -> Rendered:
        def page_url(number: int | None) -> str | None:
            if number is None:
                return None
            return base if number == 0 else f"{base}page/{number}/"

        name, heading = _list_names(ref, items)
        canonical = self.absolute(f"{base}page/{page}/" if page else base)
        body = self._page(
            session,
            self._template(spec.kind),
            heading=heading,
            list_kind=ref.kind,
            list_name=name,
            base_url=base,
            feed_url=f"{base}feed.xml" if ref.kind == "section" else None,
            items=[self.teaser_view(item) for item in items],
            page=page,
            total=total,
            older_url=page_url(older),
            newer_url=page_url(newer),
            canonical=canonical,
        )
        rendered = Rendered(spec.key, spec.kind, body)
        rendered.shows(items)
        return rendered

    # -- feeds, sitemaps, fragments ------------------------------------------------------

    def feed(self, session: Session, spec: OutputSpec) -> Rendered | None:
        ref = self._list_ref(spec)
        items = self._newest(session, ref, self.settings.feed_size)
        if not items:
            return None
        page_url = "/" if ref == LATEST else self._list_base(ref)
        title = self.settings.site_name
        if ref != LATEST:
            title = f"{display_name(spec.subject)} — {title}"
        body = self._page(
            session,
            self._template(spec.kind),
            title=title,
            feed_url=self.absolute(url_path(spec.key)),
            page_url=self.absolute(page_url),
            updated=max(item.updated_at for item in items),
            entries=[self.teaser_view(item) for item in items],
        )
        rendered = Rendered(spec.key, spec.kind, body)
        rendered.shows(items)
        return rendered

    def sitemap_month(self, session: Session, spec: OutputSpec) -> Rendered | None:
        items = session.info.get(MONTH_ENTRIES, {}).get(spec.subject)
        if items is None:
            items = lists.entries(session, ListRef("month", spec.subject))
        if not items:
            return None
        urls = [
            {
                "absolute_url": self.absolute(
                    url_path(article_key(item.section, item.published_at, item.slug))
                ),
                "updated_at": item.updated_at,
            }
            for item in items
        ]
        rendered = Rendered(
            spec.key, spec.kind, self._page(session, self._template(spec.kind), entries=urls)
        )
        rendered.shows_versions((item.article_id, item.version) for item in items)
        return rendered

    def sitemap_news(self, session: Session, spec: OutputSpec) -> Rendered | None:
        """The articles published in the last 48 hours, newest first (at most 1,000), or
        nothing when there are none (an empty urlset is not a valid sitemap)."""
        items = self.news_entries(session)
        if not items:
            return None
        urls = [
            {
                "absolute_url": self.absolute(
                    url_path(article_key(item.section, item.published_at, item.slug))
                ),
                "published_at": item.published_at,
                "title": item.title,
            }
            for item in items
        ]
        body = self._page(
            session, self._template(spec.kind), entries=urls, language=self.settings.site_language
        )
        rendered = Rendered(spec.key, spec.kind, body)
        rendered.shows_versions((item.article_id, item.version) for item in items)
        return rendered

    def news_entries(self, session: Session) -> list[lists.NewsEntry]:
        """The news sitemap's articles, read once per render transaction (the sitemap index
        asks too: it lists the news sitemap only while it has some)."""
        if NEWS_ENTRIES not in session.info:
            now = self.clock()
            session.info[NEWS_ENTRIES] = lists.news(session, now - NEWS_WINDOW, now, NEWS_LIMIT)
        return list(session.info[NEWS_ENTRIES])

    def sitemap_index(self, session: Session, spec: OutputSpec) -> Rendered | None:
        months = lists.months(session)
        if not months:
            return None
        # The news sitemap is listed while it exists (it has articles of the last 48 hours).
        news = [{"loc": self.absolute("/sitemaps/news.xml"), "lastmod": None}]
        sitemaps = [*(news if self.news_entries(session) else [])] + [
            {"loc": self.absolute(f"/sitemaps/{month}.xml"), "lastmod": newest}
            for month, newest in months
        ]
        body = self._page(session, self._template(spec.kind), sitemaps=sitemaps)
        return Rendered(spec.key, spec.kind, body)

    def fragment_latest(self, session: Session, spec: OutputSpec) -> Rendered:
        # One more than the rail shows: the page's script drops the reader's own article.
        items = self._newest(session, LATEST, self.settings.rail_size + 1)
        teasers = [self.teaser_view(item) for item in items]
        body = self._page(session, self._template(spec.kind), items=teasers)
        rendered = Rendered(spec.key, spec.kind, body)
        rendered.shows(items)
        return rendered

    def api_latest(self, session: Session, spec: OutputSpec) -> Rendered:
        items = self._newest(session, self._list_ref(spec), self.settings.feed_size)
        tags = lists.tag_slugs(session, [item.id for item in items])
        payload = {
            "site": {"name": self.settings.site_name, "url": self.site_url},
            "articles": [
                {
                    "title": item.title,
                    "url": self.absolute(url_path(key_of(item))),
                    "section": item.section.slug,
                    "tags": tags[item.id],
                    "authors": list(item.authors),
                    "published_at": item.published_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "updated_at": item.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "teaser": teaser(item.teaser_text),
                }
                for item in items
            ],
        }
        body = json.dumps(payload, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")
        rendered = Rendered(spec.key, spec.kind, body + b"\n")
        rendered.shows(items)
        return rendered

    def page(self, session: Session, spec: OutputSpec) -> Rendered:
        """A page of the site's furniture, its template alone (the 404 page)."""
        body = self._page(session, self._template(spec.kind), canonical=self.absolute("/"))
        return Rendered(spec.key, spec.kind, body)

    def list_top(self, session: Session, spec: OutputSpec) -> Rendered | None:
        """The newest page's worth of a list in the kind's template, or nothing when the list
        is empty: for a kind of page a list is shown in, added to the site's by one row."""
        ref = self._list_ref(spec)
        items = self._newest(session, ref, self.settings.page_size)
        if not items:
            return None
        body = self._page(
            session,
            self._template(spec.kind),
            list_kind=ref.kind,
            list_name=display_name(ref.value),
            items=[self.teaser_view(item) for item in items],
            canonical=self.absolute(url_path(spec.key)),
        )
        rendered = Rendered(spec.key, spec.kind, body)
        rendered.shows(items)
        return rendered

    def static(self, session: Session, spec: OutputSpec) -> Rendered | None:
        if spec.subject not in static_files():
            return None
        return Rendered(spec.key, spec.kind, (TEMPLATES_DIR / "static" / spec.subject).read_bytes())


def _ranked(members: dict[int, Any], low: int, high: int) -> list[Any] | None:
    """The members at ranks `low`..`high`, or None when one is missing: the count and the
    ranks are two statements, and a change committed between them (an unpublish, a re-tag)
    can leave a list shorter than its count. Such a page is then read on its own, as
    without the bulk read."""
    shown = [members.get(rank) for rank in range(low, high + 1)]
    return None if any(member is None for member in shown) else shown


def byline(names: Sequence[str]) -> list[dict[str, str | None]]:
    """A byline's names, each linking to its author's page (a name with nothing to slug has
    no page, so no link)."""
    return [
        {"name": name, "url": f"/authors/{slug}/" if (slug := author_slug(name)) else None}
        for name in names
    ]


def _list_names(ref: ListRef, items: Sequence[Article]) -> tuple[str, str]:
    """A list's name (its breadcrumb) and its page's heading."""
    if ref == LATEST:
        return "Latest news", "Latest news"
    if ref.kind == "author":
        name = _author_name(ref.value, items)
        return name, name
    name = display_name(ref.value)
    return name, name if ref.kind == "section" else f"Tagged: {name}"


def _author_name(slug: str, items: Sequence[Article]) -> str:
    """An author's name as the newest byline shown spells it."""
    for item in items:
        for name in item.authors:
            if slug in author_slugs([name]):
                return name
    return display_name(slug)
