"""The article page in a real headless Chromium, against a site built by the real CLI.

One demo newsroom is published per module with `pressrun demo` (subprocesses, like an editor
would run it) and served from a thread of the test process with the demo's own handler. The
browser checks what a reader gets: the article, its breadcrumb and rails, the "Latest articles"
rail refreshed from the shared fragment (so a publish never has to rewrite old pages), the page
without JavaScript, and the layout on a desktop and a phone (screenshots in test-artifacts/).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright

from pipeline.cli.demo import SiteHandler
from tests.browser.chromium import ARTIFACTS, CHROMIUM, MISSING, launch, local_context

pytestmark = pytest.mark.browser

DEMO_ARTICLES = 40
RAIL_SIZE = 10  # Settings.rail_size
RELATED_SIZE = 5  # PRESSRUN_RELATED_SIZE default
ARTICLE_PATH = re.compile(r"^/[a-z0-9-]+/\d{4}/\d{2}/\d{2}/[a-z0-9-]+/$")
SITEMAP_NS = {"sm": "http://www.sitemaps.org/schemas/sitemap/0.9"}
NEW_TITLE = "Zorvath lantern regatta returns to Quillmere after long absence"


@dataclass(frozen=True)
class Story:
    published_at: str
    path: str  # e.g. /politics/2026/03/02/some-slug/
    title: str


@dataclass
class Site:
    tmp: Path
    root: Path
    base_url: str
    env: dict[str, str]
    pressrun: str
    stories: list[Story] = field(default_factory=list)  # demo articles, oldest first

    def stored(self, path: str) -> Path:
        return self.root / path.strip("/") / "index.html"

    def fetch(self, path: str) -> str:
        with urllib.request.urlopen(self.base_url + path, timeout=10) as response:
            body: bytes = response.read()
        return body.decode("utf-8")

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [self.pressrun, *args],
            cwd=self.tmp,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, (
            f"pressrun {' '.join(args)} exited {done.returncode}\n"
            f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        )
        return done


@dataclass
class Launched:
    browser: Browser | None
    problem: str | None


@dataclass
class Visit:
    page: Page
    errors: list[str]


def _stories(site: Site) -> list[Story]:
    """Every article in the monthly sitemaps, with its publication time from its stored page."""
    index = ET.fromstring(site.fetch("/sitemap.xml"))
    found = []
    for loc in index.iterfind("sm:sitemap/sm:loc", SITEMAP_NS):
        monthly = ET.fromstring(site.fetch(loc.text.removeprefix(site.base_url)))
        for url in monthly.iterfind("sm:url/sm:loc", SITEMAP_NS):
            path = url.text.removeprefix(site.base_url)
            soup = _soup(site.stored(path).read_text("utf-8"))
            found.append(
                Story(
                    published_at=_meta(soup, "article:published_time"),
                    path=path,
                    title=_meta(soup, "og:title"),
                )
            )
    return sorted(found, key=lambda story: story.published_at)


def _soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def _meta(soup: BeautifulSoup, prop: str) -> str:
    tag = soup.find("meta", attrs={"property": prop})
    assert tag is not None, f"no <meta property={prop!r}>"
    return str(tag["content"])


def _stored_rail(site: Site, path: str, rail_id: str) -> list[str]:
    soup = _soup(site.stored(path).read_text("utf-8"))
    rail = soup.find(id=rail_id)
    assert rail is not None, f"{path}: stored HTML has no #{rail_id}"
    return [str(link["href"]) for link in rail.select("li a")]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    pressrun = shutil.which("pressrun", path=str(Path(sys.executable).parent))
    assert pressrun is not None, f"no pressrun script next to {sys.executable}"
    tmp = tmp_path_factory.mktemp("browser-site")
    root = tmp / "site"
    # Bind first so the port is known (and kept) before the demo writes absolute URLs.
    handler = functools.partial(SiteHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="site-server", daemon=True)
    thread.start()
    try:
        base_url = f"http://127.0.0.1:{server.server_address[1]}"
        env = {
            **os.environ,
            "PRESSRUN_DATABASE_URL": f"sqlite:///{tmp / 'pressrun.db'}",
            "PRESSRUN_STORAGE_URL": f"file://{root}",
            "PRESSRUN_SITE_URL": base_url,
        }
        env.pop("PRESSRUN_BROKER_URL", None)
        built = Site(tmp=tmp, root=root, base_url=base_url, env=env, pressrun=pressrun)
        built.run("demo", "--articles", str(DEMO_ARTICLES))
        built.stories = _stories(built)
        assert len(built.stories) == DEMO_ARTICLES, [story.path for story in built.stories]
        yield built
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def driver() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def launched(driver: Playwright) -> Iterator[Launched]:
    """The browser, or why there is none: each test then fails (never skips) with the reason."""
    if not CHROMIUM.exists():
        yield Launched(None, MISSING)
        return
    browser = launch(driver)
    yield Launched(browser, None)
    browser.close()


def _page(launched: Launched, **context_options: Any) -> Page:
    if launched.browser is None:
        pytest.fail(launched.problem or "no browser")
    return local_context(launched.browser, **context_options).new_page()


def _visit(launched: Launched, url: str, **context_options: Any) -> Visit:
    page = _page(launched, **context_options)
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        source = message.location.get("url", "")
        if message.type == "error":
            errors.append(f"console: {message.text} ({source})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
    response = page.goto(url)
    assert response is not None
    assert response.status == 200, f"{url}: HTTP {response.status}"
    return Visit(page, errors)


def _refreshed(page: Page) -> None:
    page.wait_for_selector('#latest-rail[data-refreshed="true"]', state="attached", timeout=10_000)


def _rail_links(page: Page, rail_id: str) -> list[str]:
    links: list[str] = page.eval_on_selector_all(
        f"#{rail_id} li a", "links => links.map(a => a.getAttribute('href'))"
    )
    return links


def _close(page: Page) -> None:
    page.context.close()


def test_oldest_article_page_shows_the_story_and_refreshes_its_latest_rail(
    site: Site, launched: Launched
) -> None:
    oldest, newest = site.stories[0], _stories(site)[-1]  # newest now, whatever ran before
    stored_latest = _stored_rail(site, oldest.path, "latest-rail")
    assert stored_latest == [], f"nothing was published before {oldest.path}: {stored_latest}"

    visit = _visit(launched, site.base_url + oldest.path)
    page = visit.page
    _refreshed(page)

    crumbs = page.locator("nav.breadcrumb li")
    assert crumbs.count() == 3
    section = oldest.path.split("/")[1]
    home_link, section_link = crumbs.nth(0).locator("a"), crumbs.nth(1).locator("a")
    assert (home_link.inner_text(), home_link.get_attribute("href")) == ("Home", "/")
    assert section_link.get_attribute("href") == f"/{section}/"
    assert section_link.inner_text().strip().lower() == section
    assert crumbs.nth(2).inner_text().strip() == oldest.title
    assert crumbs.nth(2).get_attribute("aria-current") == "page"

    headline = page.locator("h1")
    assert headline.count() == 1
    assert headline.inner_text().strip() == oldest.title
    assert page.locator(".standfirst").inner_text().strip()
    assert re.fullmatch(r"By \S.+", page.locator(".byline").inner_text().strip())
    dateline = page.locator(".dateline")
    assert dateline.inner_text().startswith("Published on ")
    assert dateline.locator("time").get_attribute("datetime") == oldest.published_at
    body = page.locator(".article-body")
    assert body.is_visible()
    assert body.locator("p").count() >= 1
    assert len(body.inner_text()) > 200

    latest = page.locator("#latest-rail")
    related = page.locator("#related-rail")
    for rail in (latest, related):
        assert rail.is_visible()
        box = rail.bounding_box()
        assert box is not None
        assert box["width"] > 100
        assert box["height"] > 30
    assert latest.locator("h2").inner_text().strip().lower() == "latest articles"
    assert related.locator("h2").inner_text().strip().lower() == "more like this"
    related_items = related.locator("li")
    assert 1 <= related_items.count() <= RELATED_SIZE
    assert related_items.first.is_visible()

    fragment = _soup(site.fetch("/fragments/latest.html"))
    fragment_links = [str(link["href"]) for link in fragment.select("li a")]
    api_newest = json.loads(site.fetch("/api/latest.json"))["articles"][0]["url"]
    assert fragment_links[0] == newest.path == api_newest.removeprefix(site.base_url)

    links = _rail_links(page, "latest-rail")
    assert 1 <= len(links) <= RAIL_SIZE
    assert links[0] == fragment_links[0]
    assert links == [link for link in fragment_links if link != oldest.path][:RAIL_SIZE]
    assert oldest.path not in links
    assert latest.locator("li").first.is_visible()
    assert visit.errors == []
    _close(page)


def test_a_publish_reaches_old_pages_through_the_fragment_not_by_rewriting_them(
    site: Site, launched: Launched
) -> None:
    old = site.stories[0]
    # A reader has the old page open before the publish: the rail leads with the newest story.
    visit = _visit(launched, site.base_url + old.path)
    page = visit.page
    _refreshed(page)
    latest_before = _rail_links(page, "latest-rail")
    assert NEW_TITLE not in page.locator("#latest-rail").inner_text()

    before = {story.path: site.stored(story.path).read_bytes() for story in site.stories}
    article = {
        "title": NEW_TITLE,
        "standfirst": "Boatwrights in Quillmere relaunch the zorvath lanterns after decades.",
        "body": "Zorvath lanterns glimmered over Quillmere harbour.\n\n"
        "Oarsmen from Vantrel rowed the lanterns past the breakwater at dusk.",
        "section": "culture",
        "tags": ["regattas"],
        "authors": ["Test Reporter"],
    }
    source = site.tmp / "new.json"
    source.write_text(json.dumps(article), "utf-8")
    done = site.run("publish", str(source))
    match = re.search(r"^article (\S+)/index\.html \(version 1\)$", done.stdout, re.MULTILINE)
    assert match, done.stdout
    new_path = f"/{match.group(1)}/"
    assert site.stored(new_path).exists()

    assert site.stored(old.path).read_bytes() == before[old.path], (
        f"publishing {new_path} rewrote {old.path}"
    )
    rewritten = sorted(
        path for path, body in before.items() if site.stored(path).read_bytes() != body
    )
    # A newest article joins no stored "Latest articles" rail; at most some "More like this".
    assert len(rewritten) <= RELATED_SIZE, rewritten

    page.reload()
    _refreshed(page)
    latest_after = _rail_links(page, "latest-rail")
    first = page.locator("#latest-rail li a").first
    assert first.inner_text().strip() == NEW_TITLE
    assert first.get_attribute("href") == new_path
    assert latest_after == [new_path, *latest_before][:RAIL_SIZE]
    assert visit.errors == []
    _close(page)

    # The new page itself: the fragment lists it first, the script must drop it from its rail.
    visit = _visit(launched, site.base_url + new_path)
    _refreshed(visit.page)
    links = _rail_links(visit.page, "latest-rail")
    assert new_path not in links
    assert len(links) == RAIL_SIZE
    assert links[0] == site.stories[-1].path
    assert visit.errors == []
    _close(visit.page)


def test_without_javascript_the_rails_render_as_stored(site: Site, launched: Launched) -> None:
    story = site.stories[len(site.stories) // 2]
    stored_latest = _stored_rail(site, story.path, "latest-rail")
    stored_related = _stored_rail(site, story.path, "related-rail")
    assert len(stored_latest) == RAIL_SIZE
    assert 1 <= len(stored_related) <= RELATED_SIZE

    visit = _visit(launched, site.base_url + story.path, java_script_enabled=False)
    page = visit.page
    assert page.locator("h1").inner_text().strip() == story.title
    assert page.locator(".article-body").is_visible()
    for rail_id, stored in (("latest-rail", stored_latest), ("related-rail", stored_related)):
        rail = page.locator(f"#{rail_id}")
        assert rail.is_visible()
        assert rail.locator("li").first.is_visible()
        assert _rail_links(page, rail_id) == stored
    assert page.locator("#latest-rail").get_attribute("data-refreshed") is None
    _close(page)


def test_layout_on_desktop_and_phone(site: Site, launched: Launched) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # A story with a lead image (the placeholder), so the picture's sizing is seen too.
    story = next(
        story
        for story in reversed(site.stories[: len(site.stories) // 2 + 1])
        if 'class="lead-image"' in site.stored(story.path).read_text("utf-8")
    )
    url = site.base_url + story.path

    desktop = _visit(launched, url, viewport={"width": 1280, "height": 900})
    _refreshed(desktop.page)
    desktop.page.screenshot(path=str(ARTIFACTS / "article-desktop.png"), full_page=True)
    rail = desktop.page.locator("#latest-rail").bounding_box()
    body = desktop.page.locator(".article-body").bounding_box()
    assert rail is not None
    assert body is not None
    assert rail["x"] > body["x"]
    assert rail["x"] >= body["x"] + body["width"], (rail, body)
    assert rail["y"] < body["y"] + body["height"], "the rail should sit beside the body"
    image = desktop.page.locator(".lead-image img").bounding_box()
    assert image is not None
    assert image["x"] + image["width"] <= rail["x"], "the lead image runs into the rails"
    assert desktop.errors == []
    _close(desktop.page)

    phone = _visit(launched, url, viewport={"width": 390, "height": 844})
    _refreshed(phone.page)
    phone.page.screenshot(path=str(ARTIFACTS / "article-phone.png"), full_page=True)
    widths = phone.page.evaluate(
        "() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth,"
        " wide: Array.from(document.querySelectorAll('body *'))"
        "   .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)"
        "   .slice(0, 5).map(e => e.tagName + '.' + e.className)})"
    )
    assert widths["inner"] == 390
    assert widths["scroll"] <= widths["inner"] + 1, widths
    rail = phone.page.locator("#latest-rail").bounding_box()
    body = phone.page.locator(".article-body").bounding_box()
    assert rail is not None
    assert body is not None
    assert rail["y"] >= body["y"] + body["height"], "on a phone the rails follow the article"
    assert phone.errors == []
    _close(phone.page)

    for name in ("article-desktop.png", "article-phone.png"):
        assert (ARTIFACTS / name).read_bytes().startswith(b"\x89PNG")


def test_home_and_section_pages_link_to_articles_and_missing_urls_get_the_404_page(
    site: Site, launched: Launched
) -> None:
    section = site.stories[0].path.split("/")[1]
    for path, prefix in (("/", "/"), (f"/{section}/", f"/{section}/")):
        visit = _visit(launched, site.base_url + path)
        page = visit.page
        hrefs: list[str] = page.eval_on_selector_all(
            "a[href]", "links => links.map(a => a.getAttribute('href'))"
        )
        articles = [href for href in hrefs if ARTICLE_PATH.match(href)]
        assert articles, f"{path} links to no article: {hrefs}"
        assert all(href.startswith(prefix) for href in articles), articles
        assert page.locator(f'a[href="{articles[0]}"]').first.is_visible()
        if path == "/":
            assert site.stories[-1].path in articles, "home should lead with the newest story"
        assert visit.errors == []
        _close(page)

    page = _page(launched)
    response = page.goto(site.base_url + "/no-such-section/2026/01/01/nothing-here/")
    assert response is not None
    assert response.status == 404
    assert page.locator("h1").inner_text().strip() == "Page not found"
    assert "Page not found" in page.title()
    assert page.locator('main a[href="/"]').is_visible()
    assert response.text() == (site.root / "404.html").read_text("utf-8")
    _close(page)
