"""What search engines, social apps and the browser read first: each page's <head> (meta
description, Open Graph, Twitter card, canonical, NewsArticle JSON-LD, the inlined
stylesheet), the article's "Updated" line and its lead image (Core Web Vitals)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import pytest
from bs4 import BeautifulSoup, Tag

from pipeline.render.renderer import TEMPLATES_DIR
from tests.conftest import SITE_URL, Newsroom

LEAD = {
    "slug": "lead-story",
    "title": 'Ministers agree budget & "tax" deal',
    "standfirst": "The deal ends weeks of budget talks.",
    "body": "Ministers agreed the budget.\n\nThe tax deal passes next week.",
    "section": "politics",
    "tags": ["budget", "economy"],
    "authors": ["Ann Writer", "Bo Reporter"],
    "image": {"url": "https://images.example.com/deal.jpg", "alt": "Ministers shake hands"},
    "published_at": "2024-03-05T08:15:00Z",
}
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
# The properties schema.org defines for NewsArticle (with those it inherits from Article,
# CreativeWork and Thing) that the page uses, and for the nested types.
SCHEMA_ORG_PROPERTIES = {
    "NewsArticle": {
        "headline", "description", "datePublished", "dateModified", "author", "publisher",
        "mainEntityOfPage", "url", "articleSection", "keywords", "image",
    },
    "Person": {"name", "url"},
    "Organization": {"name", "url", "logo"},
    "WebPage": {"@id"},
}  # fmt: skip


@pytest.fixture
def site(newsroom: Newsroom) -> Newsroom:
    newsroom.publish(**LEAD)
    newsroom.publish(
        slug="budget-talks",
        title="Budget talks end without a deal",
        body="Ministers met to discuss the budget.",
        section="politics",
        tags=["budget"],
        published_at="2024-03-04T10:00:00Z",
    )
    return newsroom


def soup(html: str | None) -> BeautifulSoup:
    assert html is not None
    return BeautifulSoup(html, "html5lib")


def meta(page: BeautifulSoup, attribute: str, name: str) -> str:
    tag = page.find("meta", attrs={attribute: name})
    assert isinstance(tag, Tag), f"no <meta {attribute}={name!r}>"
    return str(tag["content"])


def json_ld(page: BeautifulSoup) -> dict[str, Any]:
    scripts = page.find_all("script", type="application/ld+json")
    assert len(scripts) == 1
    data: dict[str, Any] = json.loads(scripts[0].string or "")
    return data


def article_url(site: Newsroom, slug: str) -> str:
    return f"{SITE_URL}/{site.key(slug).removesuffix('index.html')}"


@pytest.mark.parametrize(
    ("key", "description"),
    [
        ("index.html", "The latest news from The Test Gazette: every story as it is "
                       "published, newest first."),
        ("politics/index.html", "The latest Politics news from The Test Gazette."),
        ("politics/page/1/index.html",
         "The latest Politics news from The Test Gazette, page 1 of the archive."),
        ("tags/budget/index.html", "Articles tagged Budget on The Test Gazette."),
        ("404.html", "The page you asked for is not on The Test Gazette."),
    ],
)  # fmt: skip
def test_every_page_has_a_description_canonical_and_social_card(
    site: Newsroom, key: str, description: str
) -> None:
    page = soup(site.read(key))
    assert meta(page, "name", "description") == description
    canonical = page.find("link", rel="canonical")
    assert isinstance(canonical, Tag)
    assert str(canonical["href"]).startswith(SITE_URL + "/")
    assert meta(page, "property", "og:url") == canonical["href"]
    assert meta(page, "property", "og:type") == "website"
    assert meta(page, "property", "og:site_name") == "The Test Gazette"
    assert page.title is not None
    assert meta(page, "property", "og:title") == page.title.get_text()
    assert meta(page, "name", "twitter:title") == page.title.get_text()
    assert meta(page, "property", "og:description") == description
    assert meta(page, "name", "twitter:description") == description
    assert meta(page, "name", "twitter:card") == "summary"


def test_article_open_graph_and_twitter_card_are_complete(site: Newsroom) -> None:
    page = soup(site.read(site.key("lead-story")))
    title = 'Ministers agree budget & "tax" deal'
    description = meta(page, "name", "description")  # the article's teaser
    assert description.startswith("The deal ends weeks of budget talks")
    expected = {
        ("name", "description"): description,
        ("property", "og:type"): "article",
        ("property", "og:site_name"): "The Test Gazette",
        ("property", "og:title"): title,
        ("property", "og:description"): description,
        ("property", "og:url"): article_url(site, "lead-story"),
        ("property", "og:image"): "https://images.example.com/deal.jpg",
        ("property", "og:image:alt"): "Ministers shake hands",
        ("property", "article:published_time"): "2024-03-05T08:15:00Z",
        ("property", "article:modified_time"): "2024-03-05T08:15:00Z",
        ("property", "article:section"): "Politics",
        ("name", "twitter:card"): "summary_large_image",
        ("name", "twitter:title"): title,
        ("name", "twitter:description"): description,
        ("name", "twitter:image"): "https://images.example.com/deal.jpg",
        ("name", "twitter:image:alt"): "Ministers shake hands",
    }
    assert {where: meta(page, *where) for where in expected} == expected
    tags = page.find_all("meta", property="article:tag")
    assert [tag["content"] for tag in tags] == ["Budget", "Economy"]
    for where in expected:  # each once: a second og:title would be a conflicting card
        assert len(page.find_all("meta", attrs={where[0]: where[1]})) == 1, where


def test_news_article_json_ld_has_what_googles_article_rich_result_asks(
    site: Newsroom,
) -> None:
    url = article_url(site, "lead-story")
    data = json_ld(soup(site.read(site.key("lead-story"))))
    assert data["@context"] == "https://schema.org"
    assert data["@type"] == "NewsArticle"
    # Google's Article: no required property; these are the recommended ones.
    assert data["headline"] == 'Ministers agree budget & "tax" deal'
    assert data["image"] == ["https://images.example.com/deal.jpg"]
    assert data["datePublished"] == "2024-03-05T08:15:00Z"
    assert data["dateModified"] == "2024-03-05T08:15:00Z"
    assert data["author"] == [
        {"@type": "Person", "name": "Ann Writer", "url": f"{SITE_URL}/authors/ann-writer/"},
        {"@type": "Person", "name": "Bo Reporter", "url": f"{SITE_URL}/authors/bo-reporter/"},
    ]
    assert data["publisher"] == {
        "@type": "Organization",
        "name": "The Test Gazette",
        "url": f"{SITE_URL}/",
    }
    assert data["mainEntityOfPage"] == {"@type": "WebPage", "@id": url}
    assert data["url"] == url
    assert data["description"] == "The deal ends weeks of budget talks."
    assert data["articleSection"] == "Politics"
    _assert_schema_org(data)


def _assert_schema_org(node: Any) -> None:
    """Every object's properties are schema.org properties of its type; dates are ISO 8601
    with their zone; URLs are absolute."""
    if isinstance(node, list):
        for item in node:
            _assert_schema_org(item)
        return
    if not isinstance(node, dict):
        return
    kind = node["@type"]
    used = set(node) - {"@context", "@type"}
    assert used <= SCHEMA_ORG_PROPERTIES[kind], (kind, used - SCHEMA_ORG_PROPERTIES[kind])
    for name, value in node.items():
        if name.startswith("date"):
            assert ISO_UTC.match(value), (name, value)
            datetime.fromisoformat(value)
        if name in ("url", "@id") or name == "image":
            for link in value if isinstance(value, list) else [value]:
                assert str(link).startswith(("https://", SITE_URL)), (name, link)
        _assert_schema_org(value)


def test_json_ld_cannot_close_its_script_element(newsroom: Newsroom) -> None:
    newsroom.publish(slug="script-title", title="Why </script><b>tags</b> matter", section="tech")
    html = newsroom.read(newsroom.key("script-title")) or ""
    head = html.split("</head>")[0]
    assert head.count("</script>") == 1  # the JSON-LD's own end tag only
    assert json_ld(soup(html))["headline"] == "Why </script><b>tags</b> matter"


def updated_line(site: Newsroom, slug: str) -> Tag | None:
    found = soup(site.read(site.key(slug))).select_one(".meta .updated")
    return found if isinstance(found, Tag) else None


def test_updated_line_only_after_the_content_changed(site: Newsroom) -> None:
    assert updated_line(site, "lead-story") is None
    site.publish(**LEAD)  # the same content again: nothing changed, nothing to say
    assert updated_line(site, "lead-story") is None
    site.rebuild(force=True)  # re-rendering is not an update either
    assert updated_line(site, "lead-story") is None

    site.publish(**{**LEAD, "body": "Ministers agreed the budget.\n\nA correction."})
    line = updated_line(site, "lead-story")
    assert line is not None
    page = soup(site.read(site.key("lead-story")))
    modified = meta(page, "property", "article:modified_time")
    assert modified > "2024-03-05T08:15:00Z"
    time = line.find("time")
    assert isinstance(time, Tag)
    assert line.get_text(" ", strip=True).startswith("Updated ")
    assert time["datetime"] == modified == json_ld(page)["dateModified"]
    assert updated_line(site, "budget-talks") is None  # its neighbour did not change


def test_lead_image_is_fetched_first_in_a_frame_of_known_size(site: Newsroom) -> None:
    image = soup(site.read(site.key("lead-story"))).select_one(".lead-image img")
    assert isinstance(image, Tag)
    assert image["loading"] == "eager"
    assert image["fetchpriority"] == "high"
    assert (image["width"], image["height"]) == ("1200", "675")
    css = (TEMPLATES_DIR / "static" / "style.css").read_text("utf-8")
    rule = re.search(r"\.lead-image img \{([^}]*)\}", css)
    assert rule is not None
    # The frame the attributes announce is the one the image is shown in, whatever its size.
    assert "aspect-ratio: 16 / 9" in rule.group(1)
    assert "object-fit: cover" in rule.group(1)


def test_demo_images_fill_the_lead_image_frame_exactly() -> None:
    images = sorted((TEMPLATES_DIR / "static" / "demo").glob("*.svg"))
    assert images
    for path in images:
        svg = path.read_text("utf-8")
        assert 'viewBox="0 0 1200 675"' in svg, path.name


@pytest.mark.parametrize("key", ["index.html", "politics/index.html", "404.html"])
def test_the_stylesheet_is_inlined_not_fetched(site: Newsroom, key: str) -> None:
    page = soup(site.read(key))
    assert page.find("link", rel="stylesheet") is None
    styles = page.head.find_all("style") if page.head else []
    assert len(styles) == 1
    css = (TEMPLATES_DIR / "static" / "style.css").read_text("utf-8")
    assert styles[0].string == css.strip()
    # Small enough to inline in every page.
    assert len(css.encode()) < 14_000
