"""Outputs and their storage keys: every output is an `OutputSpec` (a kind's name and its
parameters), and its key is a pure function of the spec.

What each kind is (its key pattern, list group, cache class, write order, renderer, the data
keys it records) is one row in the registry, pipeline/site/kinds.py. A kind's name and key
pattern are the manifest's and the store's vocabulary, so a name means one pattern in the
whole process: each row claims its pattern here when it is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Kind(StrEnum):
    """The names of the site's own kinds (their rows are in pipeline/site/kinds.py)."""

    ARTICLE = "article"
    REDIRECT = "redirect"
    HOME = "home"
    LATEST_PAGE = "latest_page"
    SECTION = "section"
    SECTION_PAGE = "section_page"
    TAG = "tag"
    TAG_PAGE = "tag_page"
    AUTHOR = "author"
    AUTHOR_PAGE = "author_page"
    FEED_LATEST = "feed_latest"
    FEED_SECTION = "feed_section"
    SITEMAP_MONTH = "sitemap_month"
    SITEMAP_INDEX = "sitemap_index"
    SITEMAP_NEWS = "sitemap_news"
    ROBOTS = "robots"
    FRAGMENT_LATEST = "fragment_latest"
    API_LATEST = "api_latest"
    NOT_FOUND = "not_found"
    STATIC = "static"


# Each kind's key pattern, by name: "{subject}" and "{page}" stand for the spec's fields.
KEY_PATTERNS: dict[str, str] = {}


def claim_key_pattern(kind: str, pattern: str) -> None:
    """Make `pattern` the key pattern of every output of kind `kind`; a name already taken
    by another pattern is refused (the manifest could no longer say where its outputs are)."""
    held = KEY_PATTERNS.setdefault(kind, pattern)
    if held != pattern:
        raise ValueError(f"output kind {kind!r} already has the key pattern {held!r}")


@dataclass(frozen=True, order=True)
class OutputSpec:
    kind: str  # a registered kind's name (a `Kind` member equals and hashes as its name)
    # A section, tag or author slug, a month "YYYY-MM", an article id, or an old storage key.
    subject: str = ""
    page: int = 0

    @property
    def key(self) -> str:
        return key_pattern(self.kind).format(subject=self.subject, page=self.page)


def key_pattern(kind: str) -> str:
    if kind not in KEY_PATTERNS:
        # The site's own rows claim their patterns when the registry is first imported
        # (it imports the renderer, which imports this module).
        import pipeline.site.kinds  # noqa: F401
    return KEY_PATTERNS[kind]


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


def month_of(published_at: datetime) -> str:
    return f"{published_at:%Y-%m}"


CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


def content_type(key: str) -> str:
    suffix = key[key.rfind(".") :]
    return CONTENT_TYPES.get(suffix, "application/octet-stream")
