"""Hostile markup is not an error, but it must never run in any output.

Articles whose title, standfirst, authors, image alt and body carry XSS payloads are published
through the real `pressrun` console script; then every file of the site is parsed (HTML with
html5lib, the way a browser would; XML with ElementTree; JSON with json) and searched for
anything that could execute.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup, Tag

from pipeline.render.renderer import inline_css

PRESSRUN = shutil.which("pressrun", path=str(Path(sys.executable).parent))
ATOM = "{http://www.w3.org/2005/Atom}"

PAYLOADS = {
    "script": "<script>alert(1)</script>",
    "img-onerror": "<img src=x onerror=alert(1)>",
    "javascript-href": '<a href="javascript:alert(1)">x</a>',
    "svg-onload": "<svg onload=alert(1)>",
    "style": "<style>body{}</style>",
    "attribute-breakout": '"><script>alert(2)</script>',
    "title-breakout": "</title><script>alert(3)</script>",
}
EVERY_PAYLOAD = "".join(PAYLOADS.values())
# Sanitiser-bypass classics, each in a paragraph of its own in one article's body_html.
BODY_EXTRAS = (
    '<a href="jav&#x09;ascript:alert(5)">tab</a>',
    '<a href=" JAVASCRIPT:alert(6)">upper</a>',
    '<img src="x" srcset="javascript:alert(7)">',
    "<iframe src=javascript:alert(8)></iframe>",
    '<p style="background:url(javascript:alert(11))">styled</p>',
    '<blockquote cite="javascript:alert(12)">cited</blockquote>',
    # Off the site while looking like one of its paths: browsers read each as //evil.example.
    '<img src="//evil.example/a.png" alt="a"><img src="/\\evil.example/b.png" alt="b">',
    '<a href=" /%2Fevil.example/">c</a><a href="/\t/evil.example/">d</a>',
    '<noscript><p title="</noscript><img src=x onerror=alert(10)>"></noscript>',
    # Last: its unclosed <style> swallows whatever follows it.
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(9)>",
)
# Valid for the input rules (it is https), hostile for an attribute that does not escape.
HOSTILE_IMAGE_URL = 'https://images.example.com/lead.jpg?a="><script>alert(4)</script>'

# Elements an article's content must never bring into a page.
FORBIDDEN_ELEMENTS = ("svg", "style", "iframe", "object", "embed", "math", "base", "form")
SAFE_BODY_ATTRIBUTES = {"href", "title", "rel", "src", "alt", "width", "height", "datetime"}
URL_ATTRIBUTES = ("href", "src", "action", "formaction", "poster", "xlink:href", "srcset", "cite")
# A URL without a scheme that browsers resolve to another host.
OFF_SITE = re.compile(r"([/\\]|%2f|%5c){2}", re.IGNORECASE)


@dataclass(frozen=True)
class Story:
    id: str
    data: dict[str, Any]

    @property
    def title(self) -> str:
        return str(self.data["title"])


def hostile_story(number: int, name: str, payload: str) -> Story:
    return Story(
        name,
        {
            "slug": f"hostile-{name}",
            "title": payload,
            "standfirst": payload,
            "authors": [payload, "Ann Writer"],
            "image": {"url": "https://images.example.com/lead.jpg", "alt": payload},
            "body_html": f"<p>Lead paragraph.</p>\n{payload}\n<p>Inside a paragraph: {payload}</p>",
            "section": "world",
            "tags": ["security", "web"],
            "published_at": f"2024-06-01T{8 + number:02d}:00:00Z",
        },
    )


STORIES = [
    Story(
        "ordinary",
        {
            "slug": "ordinary-story",
            "title": "Council approves the new bridge",
            "standfirst": "Work starts in the spring.",
            "body": "The council voted on Monday.\n\nThe bridge opens in two years.",
            "section": "politics",
            "tags": ["transport", "security"],
            "authors": ["Bo Reporter"],
            "published_at": "2024-06-01T07:00:00Z",
        },
    ),
    *(
        hostile_story(number, name, payload)
        for number, (name, payload) in enumerate(PAYLOADS.items())
    ),
    Story(
        "everything",
        {
            "slug": "hostile-everything",
            "title": EVERY_PAYLOAD,
            "standfirst": EVERY_PAYLOAD,
            "authors": list(PAYLOADS.values()),
            "image": {"url": HOSTILE_IMAGE_URL, "alt": EVERY_PAYLOAD},
            "body_html": EVERY_PAYLOAD,
            "section": "world",
            "tags": ["security"],
            "published_at": "2024-06-01T20:00:00Z",
        },
    ),
    Story(
        "bypass-classics",
        {
            "slug": "hostile-bypass-classics",
            "title": "Sanitiser bypass classics",
            "body_html": "\n".join(f"<p>{extra}</p>" for extra in BODY_EXTRAS),
            "section": "world",
            "tags": ["security"],
            "published_at": "2024-06-01T20:30:00Z",
        },
    ),
    Story(
        "plain-text-body",
        {
            "slug": "hostile-plain-text-body",
            "title": "Plain text that looks like markup",
            "body": "\n\n".join(PAYLOADS.values()),
            "section": "world",
            "tags": ["web"],
            "authors": ["Ann Writer"],
            "published_at": "2024-06-01T21:00:00Z",
        },
    ),
]
HOSTILE_TITLES = {*PAYLOADS.values(), EVERY_PAYLOAD}


def isolated_env(root: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("PRESSRUN_")}
    env["PRESSRUN_DATABASE_URL"] = f"sqlite:///{root / 'pressrun.db'}"
    env["PRESSRUN_STORAGE_URL"] = f"file://{root / 'site'}"
    return env


def run_pressrun(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert PRESSRUN is not None, "the pressrun console script is not installed next to python"
    return subprocess.run(
        [PRESSRUN, *args],
        cwd=root,
        env=isolated_env(root),
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=120,
        check=False,
    )


@dataclass(frozen=True)
class Site:
    root: Path
    keys: dict[str, str]  # story id -> storage key of its page

    def files(self) -> list[Path]:
        return sorted(path for path in self.root.rglob("*") if path.is_file())

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    root = tmp_path_factory.mktemp("hostile")
    keys = {}
    for story in STORIES:
        source = root / f"{story.id}.json"
        source.write_text(json.dumps(story.data), encoding="utf-8")
        result = run_pressrun(root, "publish", source.name)
        assert result.returncode == 0, f"{story.id} did not publish: {result.stderr}"
        assert "Traceback" not in result.stderr, result.stderr
        match = re.search(r"^article (\S+) \(version \d+\)$", result.stdout, re.MULTILINE)
        assert match, result.stdout
        keys[story.id] = match[1]
    return Site(root / "site", keys)


def soup_of(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html5lib")


# -- the page's own scripts, and nothing else ---------------------------------------------------


def script_problems(soup: BeautifulSoup, raw: str) -> list[str]:
    problems = []
    scripts = soup.find_all("script")
    for script in scripts:
        kind = script.get("type")
        text = script.string or ""
        if kind == "application/ld+json":
            if "</script" in text.lower():
                problems.append("JSON-LD holds '</script'")
            try:
                json.loads(text)
            except ValueError as error:
                problems.append(f"JSON-LD does not parse ({error}): {text[:200]!r}")
        elif kind is None and "latest-rail" in text:
            continue
        else:
            problems.append(f"foreign script: {str(script)[:200]!r}")
    # A payload that closed a script early would leave more `</script` than scripts.
    closings = raw.lower().count("</script")
    if closings != len(scripts):
        problems.append(f"{closings} '</script' in the source for {len(scripts)} script elements")
    return problems


def attribute_problems(soup: BeautifulSoup) -> list[str]:
    problems = []
    for element in soup.find_all(True):
        for name, value in element.attrs.items():
            if name.lower().startswith("on"):
                problems.append(f"<{element.name} {name}=...>: event handler attribute")
            if name.lower() in URL_ATTRIBUTES and isinstance(value, str):
                squeezed = re.sub(r"[\x00-\x20]", "", value).lower()
                if squeezed.startswith("javascript:"):
                    problems.append(f"<{element.name} {name}={value!r}>: javascript: URL")
                if OFF_SITE.match(squeezed):
                    problems.append(f"<{element.name} {name}={value!r}>: off-site, no scheme")
    return problems


def element_problems(soup: BeautifulSoup) -> list[str]:
    return [
        f"<{element.name}> element: {str(element)[:120]!r}"
        for element in soup.find_all(FORBIDDEN_ELEMENTS)
        if not is_site_stylesheet(element)
    ]


def is_site_stylesheet(element: Tag) -> bool:
    """The site's own stylesheet, inlined in <head> as it is: the one <style> a page has."""
    return (
        element.name == "style"
        and element.parent is not None
        and element.parent.name == "head"
        and element.string == str(inline_css())
    )


def html_problems(path: Path) -> list[str]:
    raw = path.read_text(encoding="utf-8")
    soup = BeautifulSoup(raw, "html5lib")
    problems = [*script_problems(soup, raw), *attribute_problems(soup), *element_problems(soup)]
    problems += [f"payload verbatim: {p!r}" for p in PAYLOADS.values() if p in raw]
    return problems


def local_name(name: str) -> str:
    return name.rsplit("}", 1)[-1].lower()


def parsed_xml_problems(path: Path, forbidden: tuple[str, ...]) -> list[str]:
    raw = path.read_bytes()
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as error:
        return [f"not well-formed XML: {error}"]
    problems = []
    for element in root.iter():
        if local_name(element.tag) in forbidden:
            problems.append(f"<{element.tag}> element")
        for name, value in element.attrib.items():
            if local_name(name).startswith("on"):
                problems.append(f"<{element.tag} {name}=...>: event handler attribute")
            if re.sub(r"[\x00-\x20]", "", value).lower().startswith("javascript:"):
                problems.append(f"<{element.tag} {name}={value!r}>: javascript: URL")
    text = raw.decode("utf-8")
    problems += [f"payload verbatim: {p!r}" for p in PAYLOADS.values() if p in text]
    return problems


def xml_problems(path: Path) -> list[str]:
    return parsed_xml_problems(path, ("script", *FORBIDDEN_ELEMENTS))


def svg_problems(path: Path) -> list[str]:
    """The site's own images: SVG may hold scripts and handlers too."""
    return parsed_xml_problems(path, ("script", "foreignobject", "iframe"))


def text_problems(path: Path) -> list[str]:
    """robots.txt: plain directives, no markup a browser could take for a page."""
    text = path.read_text(encoding="utf-8")
    return [f"markup in a text file: {line}" for line in text.splitlines() if "<" in line]


def json_problems(path: Path) -> list[str]:
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        return [f"not JSON: {error}"]
    return []


CHECKS = {
    ".html": html_problems,
    ".xml": xml_problems,
    ".json": json_problems,
    ".svg": svg_problems,
    ".txt": text_problems,
}


def test_every_file_of_the_site_is_free_of_active_content(site: Site) -> None:
    checked: dict[str, int] = {}
    problems = []
    for path in site.files():
        if path.suffix == ".css":
            continue
        check = CHECKS.get(path.suffix)
        assert check is not None, f"unexpected kind of file in the site: {site.relative(path)}"
        checked[path.suffix] = checked.get(path.suffix, 0) + 1
        problems += [f"{site.relative(path)}: {problem}" for problem in check(path)]
    assert problems == []
    # Every kind of output was there to be checked: pages, lists, feeds, sitemaps, API.
    assert checked.get(".html", 0) >= len(STORIES) + 5
    assert checked.get(".xml", 0) >= 4
    assert checked.get(".json", 0) >= 1


# -- hostile text is shown as text --------------------------------------------------------------


def page_of(site: Site, story_id: str) -> BeautifulSoup:
    return soup_of(site.root / site.keys[story_id])


def only_element(soup: BeautifulSoup, selector: str) -> Tag:
    found = soup.select(selector)
    assert len(found) == 1, f"{selector}: {len(found)} elements"
    return found[0]


HOSTILE_STORIES = [story for story in STORIES if story.title in HOSTILE_TITLES]


@pytest.mark.parametrize("story", HOSTILE_STORIES, ids=lambda story: story.id)
def test_hostile_fields_are_visible_as_text(site: Site, story: Story) -> None:
    payload = story.title
    soup = page_of(site, story.id)
    headline = only_element(soup, "h1.headline")
    assert headline.get_text() == payload
    assert headline.find(True) is None, f"markup inside the headline: {headline}"
    assert soup.title is not None
    assert soup.title.get_text().startswith(payload)
    assert only_element(soup, "p.standfirst").get_text() == story.data["standfirst"]
    byline = only_element(soup, ".byline")
    assert byline.get_text() == "By " + ", ".join(story.data["authors"])
    # Only the links to the authors' pages, each holding its name as text alone.
    links = byline.find_all(True)
    assert [link.name for link in links] == ["a"] * len(links), f"markup in the byline: {byline}"
    assert all(link.find(True) is None for link in links), f"markup in a name: {byline}"
    assert all(link["href"].startswith("/authors/") for link in links)
    assert only_element(soup, "figure.lead-image img").get("alt") == story.data["image"]["alt"]
    assert only_element(soup, 'meta[property="og:title"]').get("content") == payload
    ld_json = only_element(soup, 'script[type="application/ld+json"]')
    data = json.loads(ld_json.string or "")
    assert data["headline"] == payload
    assert data["description"] == story.data["standfirst"]
    assert [author["name"] for author in data["author"]] == story.data["authors"]


def test_hostile_image_url_stays_inside_its_attribute(site: Site) -> None:
    soup = page_of(site, "everything")
    assert only_element(soup, "figure.lead-image img").get("src") == HOSTILE_IMAGE_URL
    assert only_element(soup, 'meta[property="og:image"]').get("content") == HOSTILE_IMAGE_URL


def test_plain_text_body_is_escaped_into_paragraphs(site: Site) -> None:
    body = only_element(page_of(site, "plain-text-body"), "div.article-body")
    assert [p.get_text() for p in body.find_all("p")] == list(PAYLOADS.values())
    assert {element.name for element in body.find_all(True)} == {"p"}


@pytest.mark.parametrize("story_id", ["everything", "bypass-classics"])
def test_sanitised_body_keeps_only_allowed_markup(site: Site, story_id: str) -> None:
    body = only_element(page_of(site, story_id), "div.article-body")
    elements = body.find_all(True)
    names = {element.name for element in elements}
    assert not names & {"script", "style", "svg", "math", "iframe", "noscript"}, names
    attributes = {name for element in elements for name in element.attrs}
    assert attributes <= SAFE_BODY_ATTRIBUTES, attributes - SAFE_BODY_ATTRIBUTES
    for link in body.find_all("a"):
        assert not str(link.get("href") or "").strip().lower().startswith("javascript:")


# -- feeds and the API still parse, with the hostile titles as data -----------------------------


def feed_titles(path: Path) -> list[str]:
    root = ET.parse(path).getroot()
    assert root.tag == f"{ATOM}feed"
    return [entry.findtext(f"{ATOM}title") or "" for entry in root.iter(f"{ATOM}entry")]


@pytest.mark.parametrize("feed", ["feeds/latest.xml", "world/feed.xml"])
def test_feeds_parse_with_the_hostile_titles_in_them(site: Site, feed: str) -> None:
    titles = feed_titles(site.root / feed)
    assert set(titles) >= HOSTILE_TITLES
    root = ET.parse(site.root / feed).getroot()
    names = {name.text for name in root.iter(f"{ATOM}name")}
    assert set(PAYLOADS.values()) <= names
    summaries = {entry.findtext(f"{ATOM}summary") for entry in root.iter(f"{ATOM}entry")}
    assert EVERY_PAYLOAD in summaries


def test_sitemaps_parse(site: Site) -> None:
    sitemaps = [site.root / "sitemap.xml", *sorted((site.root / "sitemaps").glob("*.xml"))]
    assert len(sitemaps) >= 2
    locations = [
        element.text or ""
        for path in sitemaps
        for element in ET.parse(path)
        .getroot()
        .iter("{http://www.sitemaps.org/schemas/sitemap/0.9}loc")
    ]
    assert all(loc.startswith("http") for loc in locations)
    assert any("hostile-everything" in loc for loc in locations)


def test_api_carries_the_hostile_titles_as_plain_data(site: Site) -> None:
    payload = json.loads((site.root / "api" / "latest.json").read_text(encoding="utf-8"))
    assert {item["title"] for item in payload["articles"]} >= HOSTILE_TITLES
