"""Article HTML allow-list, plain-text conversion and slugs."""

from __future__ import annotations

import html
import re

import nh3
from slugify import slugify

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
MAX_SLUG_LENGTH = 120

ALLOWED_TAGS = {
    "p", "br", "h2", "h3", "h4", "blockquote", "ul", "ol", "li", "strong", "em", "b", "i",
    "a", "figure", "figcaption", "img", "code", "pre", "hr", "sub", "sup", "table", "thead",
    "tbody", "tr", "th", "td", "caption", "cite", "q", "abbr", "time", "small", "mark",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
    "abbr": {"title"},
    "time": {"datetime"},
    "th": {"scope", "colspan", "rowspan"},
    "td": {"colspan", "rowspan"},
    "blockquote": {"cite"},
}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}
# What a page loads or cites must be https: an http image on an https page is mixed content
# that browsers block. A link is the reader's own choice, and many sources a newsroom links to
# still answer only on http, so links keep http (and mailto).
SECURE_SCHEMES = frozenset({"https"})
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
# The schemes each URL attribute the allow-list keeps may use; a URL with another scheme, or
# one that leaves the site without a scheme, is removed. Every URL attribute in
# ALLOWED_ATTRIBUTES must be here.
URL_ATTRIBUTES = {
    ("a", "href"): LINK_SCHEMES,
    ("img", "src"): SECURE_SCHEMES,
    ("blockquote", "cite"): SECURE_SCHEMES,
}
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*):")
# After a URL's first "/", what makes browsers read "//host": another slash or a backslash,
# also percent-encoded (servers and CDNs that decode before they redirect read it so).
_ANOTHER_SLASH = re.compile(r"[/\\]|%2f|%5c", re.IGNORECASE)
_IGNORED_INSIDE = re.compile(r"[\t\n\r]")
_IGNORED_AROUND = "".join(map(chr, range(0x21)))  # C0 controls and space


def is_safe_url(url: str, schemes: frozenset[str], *, relative: bool = True) -> bool:
    """`url` has one of `schemes`, or none and stays on the site: a root-relative path, or
    (when `relative`) a relative one, "?query" or "#fragment". Read as browsers read it:
    tabs and newlines anywhere, and controls and spaces around it, do not count."""
    url = _IGNORED_INSIDE.sub("", url).strip(_IGNORED_AROUND)
    if scheme := _SCHEME.match(url):
        return scheme.group(1).lower() in schemes
    if url.startswith(("/", "\\")):
        return url.startswith("/") and _ANOTHER_SLASH.match(url, 1) is None
    return relative


def _keep_safe_urls(element: str, attribute: str, value: str) -> str | None:
    schemes = URL_ATTRIBUTES.get((element, attribute))
    return value if schemes is None or is_safe_url(value, schemes) else None


def clean_html(fragment: str) -> str:
    """Keep the markup an article body needs; drop scripts, handlers and unsafe URLs."""
    return nh3.clean(
        fragment,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        attribute_filter=_keep_safe_urls,
        link_rel="noopener",
        strip_comments=True,
    ).strip()


def text_to_html(text: str) -> str:
    """Plain text to paragraphs: blank lines split paragraphs, single newlines become breaks."""
    paragraphs = [part.strip() for part in re.split(r"\n\s*\n", text.strip()) if part.strip()]
    rendered = []
    for paragraph in paragraphs:
        lines = [html.escape(line.strip(), quote=False) for line in paragraph.splitlines()]
        rendered.append("<p>" + "<br>".join(line for line in lines if line) + "</p>")
    return "\n".join(rendered)


def html_to_text(fragment: str) -> str:
    """Visible text of an HTML fragment, whitespace folded (for teasers and the related index)."""
    stripped = nh3.clean(fragment.replace("<", " <"), tags=set(), attributes={})
    return " ".join(html.unescape(stripped).split())


# Longer than any teaser cut from it (the longest, a feed summary, is 240 characters).
TEASER_TEXT_LENGTH = 300


def teaser_text(standfirst: str, body_html: str) -> str:
    """What an article's teasers are cut from: its standfirst, else its body, as plain text.
    Kept with the article when it is written, so no list or rail that shows the article
    parses its body again."""
    return html_to_text(standfirst or body_html)[:TEASER_TEXT_LENGTH]


def teaser(text: str, limit: int = 140) -> str:
    """One line of plain text, cut on a word boundary, always ending in an ellipsis."""
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0]
    return text.rstrip(" .,;:-\u2013\u2014") + "…"


def derive_slug(title: str) -> str:
    """A URL slug from a headline, transliterating non-ASCII ("Zürich" -> "zurich")."""
    slug = slugify(title, max_length=80, word_boundary=True, save_order=True)
    return slug or "article"


def author_slug(name: str) -> str:
    """The slug of an author's page ("Ann O'Writer" -> "ann-owriter"); "" for a name with
    nothing to slug, which gets no page."""
    return str(slugify(name, max_length=MAX_SLUG_LENGTH, word_boundary=True, save_order=True))


def author_slugs(names: list[str]) -> list[str]:
    """A byline's author pages, in its order, each once (two spellings of one name share one)."""
    return list(dict.fromkeys(slug for slug in map(author_slug, names) if slug))


def is_valid_slug(value: str) -> bool:
    return len(value) <= MAX_SLUG_LENGTH and SLUG_PATTERN.fullmatch(value) is not None


def display_name(slug: str) -> str:
    """How a section or tag slug reads in the page ("climate-change" -> "Climate change")."""
    words = slug.replace("-", " ")
    return words[:1].upper() + words[1:]
