"""The dependency table: every storage key, the renderer that makes it, and the data it shows.

Each output is an `OutputSpec` (kind + parameters). Its key is a pure function of the spec,
and what it depends on is recorded in the manifest as data keys (`article:42`) when rendered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Kind(StrEnum):
    ARTICLE = "article"
    REDIRECT = "redirect"
    HOME = "home"
    SECTION = "section"
    SECTION_PAGE = "section_page"
    TAG = "tag"
    TAG_PAGE = "tag_page"
    FEED_LATEST = "feed_latest"
    FEED_SECTION = "feed_section"
    SITEMAP_MONTH = "sitemap_month"
    SITEMAP_INDEX = "sitemap_index"
    FRAGMENT_LATEST = "fragment_latest"
    API_LATEST = "api_latest"
    NOT_FOUND = "not_found"
    STATIC = "static"


# Pages that readers reach through lists are written before the lists and deleted after them,
# so no list ever links to a page that is not there.
LEAF_KINDS = frozenset({Kind.ARTICLE, Kind.REDIRECT})
# Cached long: they change only when their own article (or the site's look) does.
LONG_CACHE_KINDS = frozenset({Kind.ARTICLE, Kind.REDIRECT, Kind.NOT_FOUND, Kind.STATIC})
# Site furniture that does not depend on any article.


@dataclass(frozen=True, order=True)
class OutputSpec:
    kind: Kind
    # A section or tag slug, a month "YYYY-MM", an article id, or an old storage key.
    subject: str = ""
    page: int = 0

    @property
    def key(self) -> str:
        return _key(self)


def list_group(spec: OutputSpec) -> str | None:
    """The coalescing unit a list output belongs to; None for pages rendered with their event."""
    match spec.kind:
        case Kind.HOME | Kind.FEED_LATEST | Kind.FRAGMENT_LATEST | Kind.API_LATEST:
            return "latest"
        case Kind.SECTION | Kind.SECTION_PAGE | Kind.FEED_SECTION:
            return f"section:{spec.subject}"
        case Kind.TAG | Kind.TAG_PAGE:
            return f"tag:{spec.subject}"
        case Kind.SITEMAP_MONTH | Kind.SITEMAP_INDEX:
            return "sitemaps"
        case _:
            return None


def article_key(section: str, published_at: datetime, slug: str) -> str:
    """Where an article lives; dates in URLs are UTC."""
    return f"{section}/{published_at:%Y/%m/%d}/{slug}/index.html"


def url_path(key: str) -> str:
    """The root-relative URL a reader uses for a storage key (directories end in /)."""
    if key == "index.html":
        return "/"
    if key.endswith("/index.html"):
        return "/" + key.removesuffix("index.html")
    return "/" + key


def _key(spec: OutputSpec) -> str:
    subject, page = spec.subject, spec.page
    match spec.kind:
        case Kind.ARTICLE | Kind.REDIRECT:
            # An article's key depends on its current data, so article specs carry the key.
            return subject
        case Kind.HOME:
            return "index.html"
        case Kind.SECTION:
            return f"{subject}/index.html"
        case Kind.SECTION_PAGE:
            return f"{subject}/page/{page}/index.html"
        case Kind.TAG:
            return f"tags/{subject}/index.html"
        case Kind.TAG_PAGE:
            return f"tags/{subject}/page/{page}/index.html"
        case Kind.FEED_LATEST:
            return "feeds/latest.xml"
        case Kind.FEED_SECTION:
            return f"{subject}/feed.xml"
        case Kind.SITEMAP_MONTH:
            return f"sitemaps/{subject}.xml"
        case Kind.SITEMAP_INDEX:
            return "sitemap.xml"
        case Kind.FRAGMENT_LATEST:
            return "fragments/latest.html"
        case Kind.API_LATEST:
            return "api/latest.json"
        case Kind.NOT_FOUND:
            return "404.html"
        case Kind.STATIC:
            return f"static/{subject}"


def month_of(published_at: datetime) -> str:
    return f"{published_at:%Y-%m}"


CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}


def content_type(key: str) -> str:
    suffix = key[key.rfind(".") :]
    return CONTENT_TYPES.get(suffix, "application/octet-stream")
