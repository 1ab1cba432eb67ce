"""Articles through the API: drafts, publishing, republishing, unpublishing, reading back."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from pipeline.services import Services
from tests.api.conftest import Headers, content, fingerprint

PAGE = "world/2024/11/27/harbour/index.html"


def put(client: TestClient, headers: Headers, slug: str = "harbour", **body: Any) -> Any:
    return client.put(f"/v1/articles/{slug}", headers=headers, json=content(**body))


def test_put_creates_a_draft_that_touches_no_output(
    client: TestClient, editor: Headers, services: Services
) -> None:
    before = fingerprint(services)
    response = put(client, editor)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/v1/articles/harbour"
    article = response.json()["article"]
    assert article["status"] == "draft"
    assert article["version"] == 1
    assert article["url"] is None
    assert article["key"] == PAGE
    assert response.json()["event"] is None
    after = fingerprint(services)
    assert after.files == before.files
    assert after.rows["events"] == before.rows["events"]
    assert after.rows["articles"] == before.rows["articles"] + 1


def test_updating_a_draft_bumps_its_version_and_keeps_it_a_draft(
    client: TestClient, editor: Headers
) -> None:
    put(client, editor)
    response = put(client, editor, title="Harbour reopens at last")
    assert response.status_code == 200
    article = response.json()["article"]
    assert (article["status"], article["version"], article["title"]) == (
        "draft", 2, "Harbour reopens at last"
    )  # fmt: skip
    unchanged = put(client, editor, title="Harbour reopens at last")
    assert unchanged.json()["article"]["version"] == 2


def test_publish_makes_it_live_with_an_event(
    client: TestClient, editor: Headers, services: Services
) -> None:
    put(client, editor)
    response = client.post("/v1/articles/harbour/publish", headers=editor)
    assert response.status_code == 202, response.text
    event = response.json()["event"]
    assert event["kind"] == "publish"
    assert response.headers["location"] == event["url"] == f"/v1/events/{event['id']}"
    article = response.json()["article"]
    assert article["status"] == "published"
    assert article["url"] == f"https://news.example.com/{PAGE.removesuffix('index.html')}"
    followed = client.get(event["url"], headers=editor).json()
    assert followed["status"] == "live"
    assert services.storage.get(PAGE) is not None
    assert "Harbour reopens after the storm" in (services.storage.get("index.html") or b"").decode()
    got = client.get("/v1/articles/harbour", headers=editor).json()
    assert got["last_event"]["id"] == event["id"]
    assert got["last_event"]["status"] == "live"


def test_put_on_a_live_article_republishes_it(
    client: TestClient, editor: Headers, services: Services
) -> None:
    put(client, editor)
    client.post("/v1/articles/harbour/publish", headers=editor)
    response = put(client, editor, title="Harbour reopens, ferries full")
    assert response.status_code == 202
    assert response.json()["event"]["kind"] == "update"
    assert "ferries full" in (services.storage.get(PAGE) or b"").decode()


def test_put_with_publish_saves_and_publishes_in_one_event(
    client: TestClient, editor: Headers, services: Services
) -> None:
    response = client.put(
        "/v1/articles/harbour", params={"publish": "true"}, headers=editor, json=content()
    )
    assert response.status_code == 202, response.text
    assert response.json()["article"]["version"] == 1
    assert response.json()["event"]["kind"] == "publish"
    assert fingerprint(services).rows["events"] == 1


def test_an_undated_draft_takes_the_moment_it_goes_live(
    client: TestClient, editor: Headers
) -> None:
    draft = put(client, editor, published_at=...).json()["article"]
    assert draft["published_at"] is None
    assert draft["key"] is None
    live = client.post("/v1/articles/harbour/publish", headers=editor).json()["article"]
    assert live["published_at"] is not None
    assert live["published_at"] == live["updated_at"]
    assert live["published_at"] > draft["updated_at"]


def test_unpublish_takes_it_down(client: TestClient, editor: Headers, services: Services) -> None:
    put(client, editor)
    client.post("/v1/articles/harbour/publish", headers=editor)
    response = client.post("/v1/articles/harbour/unpublish", headers=editor)
    assert response.status_code == 202
    assert response.json()["event"]["kind"] == "unpublish"
    assert response.json()["article"]["status"] == "unpublished"
    assert services.storage.get(PAGE) is None
    assert "harbour" not in (services.storage.get("index.html") or b"").decode()


def test_list_filters_and_pages(client: TestClient, editor: Headers) -> None:
    for number in range(5):
        put(client, editor, f"story-{number}", title=f"Story {number} about ferries",
            published_at=f"2024-11-2{number}T08:00:00Z",
            section="world" if number % 2 else "sport")  # fmt: skip
    client.post("/v1/articles/story-4/publish", headers=editor)
    first = client.get("/v1/articles", params={"limit": 2}, headers=editor).json()
    assert [item["slug"] for item in first["items"]] == ["story-4", "story-3"]
    second = client.get(
        "/v1/articles", params={"limit": 2, "cursor": first["next_cursor"]}, headers=editor
    ).json()
    assert [item["slug"] for item in second["items"]] == ["story-2", "story-1"]
    last = client.get(
        "/v1/articles", params={"limit": 2, "cursor": second["next_cursor"]}, headers=editor
    ).json()
    assert [item["slug"] for item in last["items"]] == ["story-0"]
    assert last["next_cursor"] is None

    def slugs(**params: str) -> list[str]:
        answer = client.get("/v1/articles", params=params, headers=editor)
        assert answer.status_code == 200, answer.text
        return [item["slug"] for item in answer.json()["items"]]

    assert slugs(section="world") == ["story-3", "story-1"]
    assert slugs(status="published") == ["story-4"]
    assert slugs(status="draft", section="sport") == ["story-2", "story-0"]
    assert slugs(q="STORY 3") == ["story-3"]
    assert slugs(q="100%") == []


def test_unknown_slugs_are_404(client: TestClient, editor: Headers) -> None:
    for method, path in (
        ("GET", "/v1/articles/no-such-story"),
        ("POST", "/v1/articles/no-such-story/publish"),
        ("POST", "/v1/articles/no-such-story/unpublish"),
        ("DELETE", "/v1/articles/no-such-story/schedule"),
        ("GET", "/v1/articles/no-such-story/impact"),
        ("POST", "/v1/articles/no-such-story/preview"),
    ):
        response = client.request(method, path, headers=editor)
        assert response.status_code == 404, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert "no-such-story" in response.json()["detail"]


def test_the_edges_of_the_supported_dates_go_live_and_page(
    client: TestClient, editor: Headers, services: Services
) -> None:
    # Years 1900 to 9998 once in UTC: the latest given with an offset east of UTC.
    edges = {"earliest": "1900-01-01T00:00:00Z", "latest": "9999-01-01T13:59:59.999999+14:00"}
    for slug, moment in edges.items():
        body = content(title=f"The {slug} story", published_at=moment)
        response = client.put(
            f"/v1/articles/{slug}", params={"publish": "true"}, headers=editor, json=body
        )
        assert response.status_code == 202, response.text
    assert services.storage.get("world/1900/01/01/earliest/index.html") is not None
    assert services.storage.get("world/9998/12/31/latest/index.html") is not None

    first = client.get("/v1/articles", params={"limit": 1}, headers=editor).json()
    assert [item["slug"] for item in first["items"]] == ["latest"]
    second = client.get(
        "/v1/articles", params={"limit": 1, "cursor": first["next_cursor"]}, headers=editor
    )
    assert [item["slug"] for item in second.json()["items"]] == ["earliest"]

    put(client, editor, "embargoed")
    scheduled = client.post("/v1/articles/embargoed/publish", headers=editor,
                            json={"publish_at": "9998-12-31T23:59:59Z"})  # fmt: skip
    assert scheduled.status_code == 202, scheduled.text
    assert scheduled.json()["schedule"]["due_at"].startswith("9998-12-31T23:59:59")
