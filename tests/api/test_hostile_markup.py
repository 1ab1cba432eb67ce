"""Hostile markup through the API is not an error: it is sanitised or escaped exactly as the
CLI does it (the same parse_article and write path), and none of it can run in any output.
The CLI's own checks (tests/cli/test_hostile_markup.py) judge the site the API built."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import tests.cli.test_hostile_markup as cli_checks
from pipeline.api.models import Scope
from pipeline.services import Services
from pipeline.storage.local import LocalStorage
from tests.api.conftest import Headers, mint
from tests.cli.test_hostile_markup import HOSTILE_STORIES, PAYLOADS, STORIES, Site, Story


@pytest.fixture(scope="module")
def editor(module_services: Services) -> Headers:
    return mint(module_services, Scope.PUBLISH)


@pytest.fixture(scope="module")
def site(module_client: TestClient, module_services: Services, editor: Headers) -> Site:
    keys = {}
    for story in STORIES:
        body = {name: value for name, value in story.data.items() if name != "slug"}
        response = module_client.put(
            f"/v1/articles/{story.data['slug']}",
            params={"publish": "true"},
            headers=editor,
            json=body,
        )
        assert response.status_code == 202, f"{story.id}: {response.text}"
        keys[story.id] = response.json()["article"]["key"]
        event = module_client.get(response.json()["event"]["url"], headers=editor).json()
        assert event["status"] == "live", event
    storage = module_services.storage
    assert isinstance(storage, LocalStorage)
    return Site(Path(storage.root), keys)


def test_every_file_of_the_site_is_free_of_active_content(site: Site) -> None:
    cli_checks.test_every_file_of_the_site_is_free_of_active_content(site)


@pytest.mark.parametrize("story", HOSTILE_STORIES, ids=lambda story: story.id)
def test_hostile_fields_are_visible_as_text(site: Site, story: Story) -> None:
    cli_checks.test_hostile_fields_are_visible_as_text(site, story)


@pytest.mark.parametrize("story_id", ["everything", "bypass-classics"])
def test_sanitised_body_keeps_only_allowed_markup(site: Site, story_id: str) -> None:
    cli_checks.test_sanitised_body_keeps_only_allowed_markup(site, story_id)


def test_feeds_sitemaps_and_the_json_api_still_parse(site: Site) -> None:
    for feed in ("feeds/latest.xml", "world/feed.xml"):
        cli_checks.test_feeds_parse_with_the_hostile_titles_in_them(site, feed)
    cli_checks.test_sitemaps_parse(site)
    cli_checks.test_api_carries_the_hostile_titles_as_plain_data(site)


def test_the_api_answers_with_the_same_sanitised_body(
    site: Site, module_client: TestClient, editor: Headers
) -> None:
    article = module_client.get("/v1/articles/hostile-everything", headers=editor)
    assert article.headers["content-type"] == "application/json"
    body_html = article.json()["body_html"]
    for dangerous in ("<script", "onerror", "onload", "javascript:", "<style", "<svg"):
        assert dangerous not in body_html.lower(), body_html
    assert article.json()["title"] == cli_checks.EVERY_PAYLOAD  # data, kept as given


def test_a_preview_of_hostile_content_is_free_of_active_content(
    site: Site, module_client: TestClient, editor: Headers
) -> None:
    for story in STORIES:
        if story.id not in ("everything", "bypass-classics"):
            continue
        body = {name: value for name, value in story.data.items() if name != "slug"}
        module_client.put(f"/v1/articles/draft-{story.id}", headers=editor, json=body)
        preview = module_client.post(f"/v1/articles/draft-{story.id}/preview", headers=editor)
        # The link alone is given: its file is the same path under the site folder.
        link = preview.json()["url"].removeprefix("https://news.example.com/")
        page = site.root / link / "index.html"
        # The preview's own <base> (so its links reach the site) is the one allowed.
        own_base = "<base> element: '<base href=\"https://news.example.com/\"/>'"
        assert [p for p in cli_checks.html_problems(page) if p != own_base] == []
        assert not any(payload in page.read_text() for payload in PAYLOADS.values())
