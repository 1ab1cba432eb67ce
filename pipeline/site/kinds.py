"""The registry of output kinds: one row per kind of output, and everything the pipeline
knows about it.

A row says where its outputs live (a key pattern), which list's changes re-render them and
how many there are (one per site, per list, per page of a list, per article, or site
furniture), the coalescing group the worker refreshes them in, how long caches keep them,
when they are written (pages before the lists that link to them), the function and template
that render them, and the families of data keys their renders record in the manifest.

The planner, the renderer, the publisher, the worker's list grouping, impact, rebuilds and
reconcile read these rows, so a new kind of output is one row (and its template):
`KINDS.adding(row)` is a registry with it, handed to `Renderer` (see `create_services`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from functools import cached_property

from sqlalchemy.orm import Session

from pipeline.render.renderer import Rendered, Renderer, static_files
from pipeline.site.outputs import Kind, OutputSpec, claim_key_pattern

RenderFunction = Callable[[Renderer, Session, OutputSpec], Rendered | None]


class Each(StrEnum):
    """How many outputs a kind has, and so how the planner finds them."""

    ARTICLE = "article"  # one per article page or old URL (the planner follows the article)
    FURNITURE = "furniture"  # one per subject, always planned: no article changes it
    SITE = "site"  # one for the site, re-rendered when any list of its kind changes
    LIST = "list"  # one per list (subject: the list's value)
    PAGE = "page"  # one per page of each list (subject and page number)


class Cache(StrEnum):
    LONG = "long"  # changes only when its own article (or the site's look) does
    SHORT = "short"


class Order(IntEnum):
    """Write order: pages that readers reach through lists are written before the lists and
    deleted after them, so no list ever links to a page that is not there."""

    PAGE = 1
    LIST = 2


def one_subject() -> tuple[str, ...]:
    return ("",)


@dataclass(frozen=True)
class OutputKind:
    name: str
    key: str  # storage key pattern: "{subject}" and "{page}" stand for the spec's
    render: RenderFunction
    template: str | None = None
    each: Each = Each.LIST
    lists: str | None = None  # the kind of list (pipeline/site/lists.py) it shows
    group: str | None = None  # the list refresh it is coalesced in; "{subject}" as in key
    cache: Cache = Cache.SHORT
    order: Order = Order.LIST
    # Families of the data keys its renders record ("article" for `article:42`): what the
    # planner can find it by when that data changes.
    data_keys: frozenset[str] = frozenset({"article"})
    subjects: Callable[[], Iterable[str]] = field(default=one_subject)  # furniture only

    def __post_init__(self) -> None:
        claim_key_pattern(self.name, self.key)
        if (self.each in (Each.SITE, Each.LIST, Each.PAGE)) != (self.lists is not None):
            raise ValueError(f"output kind {self.name!r}: a list's kind needs `lists`, alone")


@dataclass(frozen=True)
class Kinds:
    """A registry: the rows by name, in the order given."""

    rows: tuple[OutputKind, ...]

    def __post_init__(self) -> None:
        names = [row.name for row in self.rows]
        if len(set(names)) != len(names):
            raise ValueError(f"output kinds registered twice: {sorted(names)}")

    def __getitem__(self, name: str) -> OutputKind:
        return self._by_name[name]

    def __iter__(self) -> Iterator[OutputKind]:
        return iter(self.rows)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def adding(self, *rows: OutputKind) -> Kinds:
        """This registry with more kinds."""
        return Kinds((*self.rows, *rows))

    @cached_property
    def _by_name(self) -> dict[str, OutputKind]:
        return {row.name: row for row in self.rows}

    @cached_property
    def furniture(self) -> frozenset[OutputSpec]:
        """Every output of the site's furniture (the 404 page, the static files)."""
        return frozenset(
            OutputSpec(row.name, subject)
            for row in self.rows
            if row.each == Each.FURNITURE
            for subject in row.subjects()
        )

    @cached_property
    def list_kinds(self) -> tuple[str, ...]:
        """The kinds of list some output shows, in the order their rows come."""
        return tuple(dict.fromkeys(row.lists for row in self.rows if row.lists is not None))

    def following(self, list_kind: str) -> list[OutputKind]:
        """The kinds whose outputs show lists of `list_kind`."""
        return [row for row in self.rows if row.lists == list_kind]

    def group_of(self, spec: OutputSpec) -> str | None:
        """The coalescing unit a list output belongs to; None for pages rendered with their
        event."""
        group = self[spec.kind].group
        return None if group is None else group.format(subject=spec.subject)


# Defaults, unless a row says otherwise: one output per list, a short cache, written with the
# lists, recording the articles it shows ("article:<id>").
NO_DATA: frozenset[str] = frozenset()
LATEST, SECTION, TAG, AUTHOR, MONTH = "latest", "section", "tag", "author", "month"  # lists.py

KINDS = Kinds(
    (
        OutputKind(Kind.ARTICLE, "{subject}", Renderer.article, "article.html", Each.ARTICLE,
                   cache=Cache.LONG, order=Order.PAGE),
        # Rendered from an article spec whose key the article has left; never planned.
        OutputKind(Kind.REDIRECT, "{subject}", Renderer.article, "redirect.html", Each.ARTICLE,
                   cache=Cache.LONG, order=Order.PAGE),
        OutputKind(Kind.HOME, "index.html", Renderer.home, "home.html",
                   lists=LATEST, group="latest"),
        OutputKind(Kind.FEED_LATEST, "feeds/latest.xml", Renderer.feed, "feed.xml",
                   lists=LATEST, group="latest"),
        OutputKind(Kind.FRAGMENT_LATEST, "fragments/latest.html", Renderer.fragment_latest,
                   "fragment_latest.html", lists=LATEST, group="latest"),
        OutputKind(Kind.API_LATEST, "api/latest.json", Renderer.api_latest, None,
                   lists=LATEST, group="latest"),
        # The latest list's older pages: where the home page's "Older stories" lead.
        OutputKind(Kind.LATEST_PAGE, "page/{page}/index.html", Renderer.list_page, "list.html",
                   Each.PAGE, lists=LATEST, group="latest"),
        OutputKind(Kind.SECTION, "{subject}/index.html", Renderer.list_head, "list.html",
                   lists=SECTION, group="section:{subject}"),
        OutputKind(Kind.SECTION_PAGE, "{subject}/page/{page}/index.html", Renderer.list_page,
                   "list.html", Each.PAGE, lists=SECTION, group="section:{subject}"),
        OutputKind(Kind.FEED_SECTION, "{subject}/feed.xml", Renderer.feed, "feed.xml",
                   lists=SECTION, group="section:{subject}"),
        OutputKind(Kind.TAG, "tags/{subject}/index.html", Renderer.list_head, "list.html",
                   lists=TAG, group="tag:{subject}"),
        OutputKind(Kind.TAG_PAGE, "tags/{subject}/page/{page}/index.html", Renderer.list_page,
                   "list.html", Each.PAGE, lists=TAG, group="tag:{subject}"),
        OutputKind(Kind.AUTHOR, "authors/{subject}/index.html", Renderer.list_head, "list.html",
                   lists=AUTHOR, group="author:{subject}"),
        OutputKind(Kind.AUTHOR_PAGE, "authors/{subject}/page/{page}/index.html",
                   Renderer.list_page, "list.html", Each.PAGE, lists=AUTHOR,
                   group="author:{subject}"),
        OutputKind(Kind.SITEMAP_MONTH, "sitemaps/{subject}.xml", Renderer.sitemap_month,
                   "sitemap.xml", lists=MONTH, group="sitemaps"),
        # Rendered from each month's count and newest update (sitemap_months rows).
        OutputKind(Kind.SITEMAP_INDEX, "sitemap.xml", Renderer.sitemap_index, "sitemap_index.xml",
                   Each.SITE, lists=MONTH, group="sitemaps", data_keys=NO_DATA),
        # The articles of the last 48 hours (Google News): re-rendered by every change to the
        # latest list, and by the beat when one ages out (pipeline/publish/news.py).
        OutputKind(Kind.SITEMAP_NEWS, "sitemaps/news.xml", Renderer.sitemap_news,
                   "sitemap_news.xml", Each.SITE, lists=LATEST, group="sitemaps"),
        OutputKind(Kind.ROBOTS, "robots.txt", Renderer.page, "robots.txt", Each.FURNITURE,
                   data_keys=NO_DATA),
        OutputKind(Kind.NOT_FOUND, "404.html", Renderer.page, "404.html", Each.FURNITURE,
                   cache=Cache.LONG, data_keys=NO_DATA),
        OutputKind(Kind.STATIC, "static/{subject}", Renderer.static, None, Each.FURNITURE,
                   cache=Cache.LONG, data_keys=NO_DATA, subjects=static_files),
    )
)  # fmt: skip
