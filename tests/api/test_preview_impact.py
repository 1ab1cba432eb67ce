"""What a change would touch (impact), and private previews that expire."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from pipeline.api.housekeeping import purge_expired
from pipeline.schema import utcnow
from pipeline.services import Services
from tests.api.conftest import Headers, content, fingerprint


def publish(client: TestClient, headers: Headers, slug: str, **body: object) -> None:
    response = client.put(
        f"/v1/articles/{slug}", params={"publish": "true"}, headers=headers, json=content(**body)
    )
    assert response.status_code == 202, response.text


def test_impact_of_publishing_a_draft_changes_nothing(
    client: TestClient, editor: Headers, reader: Headers, services: Services
) -> None:
    publish(client, editor, "earlier", published_at="2024-11-26T08:00:00Z", tags=["weather"])
    client.put("/v1/articles/harbour", headers=editor, json=content())
    before = fingerprint(services)
    response = client.get("/v1/articles/harbour/impact", headers=reader)
    assert response.status_code == 200, response.text
    impact = response.json()
    keys = {output["key"] for output in impact["outputs"]}
    assert impact["action"] == "publish"
    assert impact["count"] == len(keys)
    assert {
        "world/2024/11/27/harbour/index.html",
        "index.html",
        "world/index.html",
        "tags/weather/index.html",
        "tags/ferries/index.html",
        "feeds/latest.xml",
        "world/feed.xml",
        "sitemaps/2024-11.xml",
        "sitemap.xml",
    } <= keys
    assert "static/style.css" not in keys  # furniture no article changes
    # A like article's "More like this" rail would take the new one in.
    assert "world/2024/11/26/earlier/index.html" in keys
    groups = {output["key"]: output["group"] for output in impact["outputs"]}
    assert groups["index.html"] == "latest"
    assert groups["world/2024/11/27/harbour/index.html"] is None
    assert fingerprint(services) == before
    assert client.get("/v1/articles/harbour", headers=reader).json()["status"] == "draft"


def test_impact_of_unpublishing(client: TestClient, editor: Headers, services: Services) -> None:
    publish(client, editor, "harbour")
    before = fingerprint(services)
    impact = client.get(
        "/v1/articles/harbour/impact", params={"action": "unpublish"}, headers=editor
    ).json()
    keys = {output["key"] for output in impact["outputs"]}
    assert {"world/2024/11/27/harbour/index.html", "index.html", "world/index.html"} <= keys
    assert fingerprint(services) == before


def test_a_preview_is_private_and_expires(
    client: TestClient, editor: Headers, services: Services
) -> None:
    publish(client, editor, "earlier", published_at="2024-11-26T08:00:00Z")
    client.put("/v1/articles/harbour", headers=editor, json=content(title="Embargoed scoop"))
    before = fingerprint(services)
    response = client.post("/v1/articles/harbour/preview", headers=editor)
    assert response.status_code == 201, response.text
    link = response.json()
    assert set(link) == {"url", "expires_at"}  # the link alone: no path on the server
    assert services.settings.storage_url.removeprefix("file://") not in response.text
    assert link["url"].startswith("https://news.example.com/_previews/")
    name = link["url"].split("/")[-2]
    assert len(name) >= 40  # 256 random bits
    key = f"_previews/{name}/index.html"
    page = (services.storage.get(key) or b"").decode()
    assert "Embargoed scoop" in page
    assert '<base href="https://news.example.com/">' in page
    assert 'content="noindex, nofollow"' in page
    # Rendered as it would be live, rails and all.
    assert "Latest articles" in page
    assert "/world/2024/11/26/earlier/" in page

    after = fingerprint(services)
    assert set(after.files) - set(before.files) == {key}
    assert after.rows["outputs"] == before.rows["outputs"]  # never in the manifest
    assert after.rows["events"] == before.rows["events"]
    assert client.get("/v1/articles/harbour", headers=editor).json()["status"] == "draft"
    for stored in services.storage.keys():
        if not stored.startswith("_previews/"):
            assert "Embargoed scoop" not in (services.storage.get(stored) or b"").decode(), stored

    purge_expired(services, utcnow() + timedelta(seconds=3599))
    assert services.storage.get(key) is not None
    purged = purge_expired(services, utcnow() + timedelta(seconds=3601))
    assert purged.previews == 1
    assert services.storage.get(key) is None
    assert fingerprint(services).rows["previews"] == 0


def test_a_preview_link_replays_with_its_idempotency_key(
    client: TestClient, editor: Headers
) -> None:
    client.put("/v1/articles/harbour", headers=editor, json=content())
    headers = {**editor, "Idempotency-Key": "preview-1"}
    first = client.post("/v1/articles/harbour/preview", headers=headers)
    second = client.post("/v1/articles/harbour/preview", headers=headers)
    assert first.json() == second.json()


def test_the_api_serves_nothing_from_the_site_folder(
    client: TestClient, editor: Headers, services: Services
) -> None:
    # The folder's pages and previews are served by whatever serves the site, never by the
    # API: neither the preview, nor its folder, nor a page, nor a way out of /ops/static.
    client.put("/v1/articles/harbour", headers=editor, json=content(title="Embargoed scoop"))
    link = client.post("/v1/articles/harbour/preview", headers=editor).json()["url"]
    preview = link.removeprefix("https://news.example.com")
    assert services.storage.get(preview.lstrip("/") + "index.html") is not None
    site_paths = [preview, "/_previews/", "/404.html", "/static/style.css", "/pressrun.db"]
    escapes = ["/ops/static/..%2fbase.html", "/ops/static/%2e%2e%2f%2e%2e%2fpressrun.db"]
    for path in site_paths + escapes:
        response = client.get(path, headers=editor)
        assert response.status_code == 404, path
        assert "Embargoed scoop" not in response.text
