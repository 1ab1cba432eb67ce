"""Every part of the pages a reader and a machine see, checked by parsing the output."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

import feedparser
import html5lib
import nh3
import pytest
from bs4 import BeautifulSoup

from pipeline.db import transaction
from pipeline.site.outputs import Kind, OutputSpec
from tests.conftest import SITE_URL, Newsroom

ATOM = "{http://www.w3.org/2005/Atom}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


@pytest.fixture
def site(newsroom: Newsroom) -> Newsroom:
    for number in range(12):
        newsroom.publish(
            slug=f"budget-talks-{number}",
            title=f"Budget talks round {number} ends without a deal",
            body="Ministers met to discuss the budget and taxes.\n\nThe talks will resume.",
            section="politics",
            tags=["budget", "economy"],
        )
    newsroom.publish(
        slug="lead-story",
        title='Ministers agree budget & "tax" deal',
        standfirst="The deal ends weeks of budget talks.",
        body="Ministers agreed the budget.\n\nThe tax deal passes next week.",
        section="politics",
        tags=["budget", "economy"],
        authors=["Ann Writer", "Bo Reporter"],
        image={"url": "https://images.example.com/deal.jpg", "alt": "Ministers shake hands"},
        published_at="2024-03-05T08:15:00Z",
    )
    return newsroom


def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html5lib")


def test_article_page_has_every_part(site: Newsroom) -> None:
    page = soup(site.read(site.key("lead-story")) or "")
    crumbs = page.select("nav.breadcrumb li")
    assert [c.get_text(strip=True) for c in crumbs] == [
        "Home",
        "Politics",
        'Ministers agree budget & "tax" deal',
    ]
    assert [a["href"] for a in page.select("nav.breadcrumb a")] == ["/", "/politics/"]
    assert page.select_one("a.section-label")["href"] == "/politics/"  # type: ignore[index]
    assert [a["href"] for a in page.select("a.tag-label")] == ["/tags/budget/", "/tags/economy/"]
    assert page.h1 is not None
    assert page.h1.get_text() == 'Ministers agree budget & "tax" deal'
    assert len(page.find_all("h1")) == 1
    standfirst = page.select_one(".standfirst")
    assert standfirst is not None
    assert standfirst.get_text() == "The deal ends weeks of budget talks."
    byline = page.select_one(".byline")
    assert byline is not None
    assert byline.get_text() == "By Ann Writer, Bo Reporter"
    time = page.select_one(".dateline time")
    assert time is not None
    assert time["datetime"] == "2024-03-05T08:15:00Z"
    assert "Published on" in (page.select_one(".dateline") or page).get_text()
    assert time.get_text() == "5 March 2024, 08:15 UTC"
    body = page.select_one(".article-body")
    assert body is not None
    assert [p.get_text() for p in body.find_all("p")] == [
        "Ministers agreed the budget.",
        "The tax deal passes next week.",
    ]
    image = page.select_one(".lead-image img")
    assert image is not None
    assert image["alt"] == "Ministers shake hands"


def test_article_page_rails(site: Newsroom) -> None:
    page = soup(site.read(site.key("budget-talks-5")) or "")
    latest = page.select("#latest-rail li")
    # As rendered: the ten articles published just before this one, newest first.
    assert [li.a.get_text() for li in latest] == [  # type: ignore[union-attr]
        f"Budget talks round {n} ends without a deal" for n in (4, 3, 2, 1, 0)
    ]
    for item in latest:
        teaser = item.select_one(".teaser-text")
        assert teaser is not None
        assert teaser.get_text().endswith("…")
    related = page.select("#related-rail li a")
    assert 1 <= len(related) <= 5
    assert all(a["href"].startswith("/politics/") for a in related)
    assert site.key("budget-talks-5").removesuffix("index.html") not in {
        a["href"].lstrip("/") for a in related
    }


def test_article_page_meta_for_search_engines_and_apps(site: Newsroom) -> None:
    key = site.key("lead-story")
    url = f"{SITE_URL}/{key.removesuffix('index.html')}"
    page = soup(site.read(key) or "")

    def meta(attribute: str, name: str) -> str:
        tag = page.find("meta", attrs={attribute: name})
        assert tag is not None, name
        return str(tag["content"])

    assert page.find("link", rel="canonical")["href"] == url  # type: ignore[index]
    assert meta("property", "og:title") == 'Ministers agree budget & "tax" deal'
    assert meta("property", "og:url") == url
    assert meta("property", "og:type") == "article"
    assert meta("property", "og:image") == "https://images.example.com/deal.jpg"
    assert meta("name", "twitter:card") == "summary_large_image"
    assert meta("name", "twitter:title") == 'Ministers agree budget & "tax" deal'
    ld_tag = page.find("script", type="application/ld+json")
    assert ld_tag is not None
    ld = json.loads(ld_tag.string or "")
    assert ld["@type"] == "NewsArticle"
    assert ld["headline"] == 'Ministers agree budget & "tax" deal'
    assert ld["datePublished"] == "2024-03-05T08:15:00Z"
    assert ld["mainEntityOfPage"] == {"@type": "WebPage", "@id": url}
    assert [a["name"] for a in ld["author"]] == ["Ann Writer", "Bo Reporter"]
    assert ld["image"] == ["https://images.example.com/deal.jpg"]


@pytest.mark.parametrize(
    "key",
    ["index.html", "politics/index.html", "politics/page/1/index.html", "tags/budget/index.html",
     "404.html"],
)  # fmt: skip
def test_pages_are_valid_html5(site: Newsroom, key: str) -> None:
    parser = html5lib.HTMLParser(strict=True)
    parser.parse(site.read(key) or "")  # raises on any parse error


def test_article_page_is_valid_html5(site: Newsroom) -> None:
    html5lib.HTMLParser(strict=True).parse(site.read(site.key("lead-story")) or "")


def test_section_paging_counts_from_the_oldest(site: Newsroom) -> None:
    settings = site.services.settings
    assert settings.page_size == 20
    front = soup(site.read("politics/index.html") or "")
    titles = [a.get_text() for a in front.select(".story-title a")]
    assert titles[0] == 'Ministers agree budget & "tax" deal'
    assert len(titles) == 13
    assert front.select_one(".pagination a[rel=next]") is None  # one page only


def test_atom_feeds_parse(site: Newsroom) -> None:
    for key in ("feeds/latest.xml", "politics/feed.xml"):
        text = site.read(key) or ""
        root = ET.fromstring(text.encode())
        assert root.tag == f"{ATOM}feed"
        parsed = feedparser.parse(text)
        assert not parsed.bozo, parsed.get("bozo_exception")
        assert parsed.version == "atom10"
        assert len(parsed.entries) == 13
        first = parsed.entries[0]
        assert first.title == 'Ministers agree budget & "tax" deal'
        assert first.link.startswith(SITE_URL + "/politics/2024/03/05/lead-story/")


def test_sitemaps_parse(site: Newsroom) -> None:
    index = ET.fromstring((site.read("sitemap.xml") or "").encode())
    locations = [loc.text for loc in index.iter(f"{SITEMAP}loc")]
    assert locations == [f"{SITE_URL}/sitemaps/2024-01.xml", f"{SITE_URL}/sitemaps/2024-03.xml"]
    march = ET.fromstring((site.read("sitemaps/2024-03.xml") or "").encode())
    urls = [loc.text for loc in march.iter(f"{SITEMAP}loc")]
    assert urls == [f"{SITE_URL}/politics/2024/03/05/lead-story/"]


def test_latest_json_and_fragment(site: Newsroom) -> None:
    data = json.loads(site.read("api/latest.json") or "")
    assert data["articles"][0]["title"] == 'Ministers agree budget & "tax" deal'
    assert data["articles"][0]["url"] == f"{SITE_URL}/politics/2024/03/05/lead-story/"
    fragment = soup(site.read("fragments/latest.html") or "")
    items = fragment.select("ol li")
    assert len(items) == site.services.settings.rail_size + 1
    assert items[0].a["href"] == "/politics/2024/03/05/lead-story/"  # type: ignore[index]


def test_rendering_is_pure(site: Newsroom) -> None:
    """The same data renders the same bytes: a fresh render equals what is stored."""
    specs = [
        OutputSpec(Kind.ARTICLE, site.key("lead-story")),
        OutputSpec(Kind.ARTICLE, site.key("budget-talks-3")),
        OutputSpec(Kind.HOME),
        OutputSpec(Kind.FEED_LATEST),
        OutputSpec(Kind.SECTION, "politics"),
        OutputSpec(Kind.SITEMAP_INDEX),
    ]
    with transaction(site.services.sessions) as session:
        for spec in specs:
            rendered = site.services.renderer.render(session, spec)
            assert rendered is not None
            assert rendered.body == site.services.storage.get(spec.key), spec.key


def test_full_rebuild_changes_nothing_on_a_consistent_site(site: Newsroom) -> None:
    before = {key: site.services.storage.get(key) for key in site.stored_keys()}
    outcome = site.rebuild()
    assert outcome.report is not None
    assert outcome.report.written == []
    assert outcome.report.deleted == []
    assert {key: site.services.storage.get(key) for key in site.stored_keys()} == before


def test_lists_and_rails_never_parse_another_articles_body(
    newsroom: Newsroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A teaser is cut from the text stored with its article, not from its body again: the
    publish of an unrelated story, which refreshes every list and rail showing the long read,
    parses no body but its own."""
    opening = "Rivers rose overnight across the valley. "
    newsroom.publish(slug="long-read", standfirst="", body=None, body_html=f"<p>{opening * 40}</p>")
    parsed: list[str] = []
    clean = nh3.clean

    def counting_clean(fragment: str, **options: Any) -> str:
        parsed.append(fragment)
        return clean(fragment, **options)

    monkeypatch.setattr(nh3, "clean", counting_clean)
    newsroom.publish(slug="unrelated", body="Ferries run again.\n\nRepairs took a week.")
    assert [fragment for fragment in parsed if "Rivers rose" in fragment] == []
    assert parsed, "the unrelated story's own body was not parsed either: nothing was checked"
    home = BeautifulSoup(newsroom.read("index.html") or "", "html5lib")
    teasers = [text.get_text() for text in home.select(".story-text")]
    assert "Rivers rose overnight across the valley. Rivers rose" in " ".join(teasers)
