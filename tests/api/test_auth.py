"""Bearer tokens: scopes, sections, revocation, rate limits, and `pressrun tokens`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pipeline.api.app import create_app
from pipeline.api.models import Scope
from pipeline.api.settings import ApiSettings
from pipeline.cli.main import main
from pipeline.services import Services
from tests.api.conftest import Headers, Token, assert_problem, content, fingerprint, mint

EVERY_ROUTE = [
    ("GET", "/v1/articles"),
    ("GET", "/v1/articles/harbour"),
    ("GET", "/v1/articles/harbour/impact"),
    ("PUT", "/v1/articles/harbour"),
    ("POST", "/v1/articles/harbour/publish"),
    ("POST", "/v1/articles/harbour/unpublish"),
    ("POST", "/v1/articles/harbour/preview"),
    ("DELETE", "/v1/articles/harbour/schedule"),
    ("GET", "/v1/events"),
    ("GET", "/v1/events/1"),
    ("GET", "/v1/tokens"),
    ("POST", "/v1/tokens"),
    ("DELETE", "/v1/tokens/1"),
]
WRITES = [route for route in EVERY_ROUTE if route[0] != "GET"]


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer nope", "Basic dXNlcjpwYXNz", "Bearer prt_" + "x" * 43],
    ids=["missing", "empty", "no-token", "unknown", "basic", "well-formed-unknown"],
)
@pytest.mark.parametrize(("method", "path"), EVERY_ROUTE, ids=lambda value: str(value))
def test_every_route_needs_a_valid_token(
    module_client: TestClient,
    module_services: Services,
    authorization: str | None,
    method: str,
    path: str,
) -> None:
    before = fingerprint(module_services)
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = module_client.request(method, path, headers=headers, json=content())
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert fingerprint(module_services) == before


def test_a_revoked_token_stops_working_at_once(
    client: TestClient, token: Token, admin: Headers
) -> None:
    editor = token("publish")
    assert client.get("/v1/articles", headers=editor).status_code == 200
    listed = client.get("/v1/tokens", headers=admin).json()
    editor_id = next(item["id"] for item in listed if item["scope"] == "publish")
    assert client.delete(f"/v1/tokens/{editor_id}", headers=admin).status_code == 200
    assert_problem(client.get("/v1/articles", headers=editor), 401)


@pytest.mark.parametrize(("method", "path"), WRITES, ids=lambda value: str(value))
def test_a_read_token_cannot_write(
    module_client: TestClient, module_services: Services, method: str, path: str
) -> None:
    reader = mint(module_services, Scope.READ)
    before = fingerprint(module_services)
    response = module_client.request(method, path, headers=reader, json=content())
    assert_problem(response, 403)
    assert "scope" in response.json()["detail"]
    assert fingerprint(module_services) == before


def test_only_admin_manages_tokens(client: TestClient, editor: Headers, admin: Headers) -> None:
    assert_problem(client.get("/v1/tokens", headers=editor), 403)
    made = client.post("/v1/tokens", headers=admin, json={"name": "night desk", "scope": "read"})
    assert made.status_code == 201, made.text
    secret = made.json()["token"]
    assert client.get("/v1/articles", headers={"Authorization": f"Bearer {secret}"}).is_success
    bad = client.post("/v1/tokens", headers=admin, json={"name": "x", "scope": "root"})
    assert_problem(bad, 422, "scope")
    bad_sections = client.post(
        "/v1/tokens", headers=admin, json={"name": "x", "scope": "read", "sections": ["../x"]}
    )
    assert_problem(bad_sections, 422, "sections")
    assert_problem(client.delete("/v1/tokens/9999", headers=admin), 404)


def _token_ids(client: TestClient, headers: Headers) -> set[int]:
    answer = client.get("/v1/tokens", headers=headers)
    assert answer.status_code == 200, answer.text
    return {item["id"] for item in answer.json()}


def _bearer(made: Any) -> Headers:
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.json()['token']}"}


def test_a_sectioned_admin_creates_tokens_within_its_sections_only(
    client: TestClient, services: Services, editor: Headers, token: Token
) -> None:
    client.put("/v1/articles/budget", headers=editor, json=content(section="politics"))
    desk_admin = token("admin", ["sport"])
    made = client.post("/v1/tokens", headers=desk_admin, json={"name": "x", "scope": "admin"})
    assert made.json()["sections"] == ["sport"]  # omitted: its own sections, not every one
    assert_problem(client.get("/v1/articles/budget", headers=_bearer(made)), 404)
    narrower = token("admin", ["culture", "sport"])
    made = client.post("/v1/tokens", headers=narrower, json={"name": "y", "scope": "publish",
                                                            "sections": ["sport"]})  # fmt: skip
    assert made.json()["sections"] == ["sport"]
    before = fingerprint(services)
    for sections in (["politics"], ["sport", "politics"], []):
        wanted = {"name": "z", "scope": "read", "sections": sections}
        outside = client.post("/v1/tokens", headers=desk_admin, json=wanted)
        assert_problem(outside, 403, "sections")
    assert fingerprint(services) == before


def test_a_sectioned_admin_sees_and_revokes_only_tokens_within_its_sections(
    client: TestClient, admin: Headers
) -> None:
    def make(name: str, scope: str, sections: list[str] | None) -> Headers:
        wanted = {"name": name, "scope": scope} | ({"sections": sections} if sections else {})
        return _bearer(client.post("/v1/tokens", headers=admin, json=wanted))

    desk_admin = make("sport admin", "admin", ["sport"])
    sport_reader = make("sport reader", "read", ["sport"])
    make("two desks", "read", ["culture", "sport"])
    make("politics", "publish", ["politics"])
    make("everything", "read", None)
    ids = {item["name"]: item["id"] for item in client.get("/v1/tokens", headers=admin).json()}
    listed = client.get("/v1/tokens", headers=desk_admin).json()
    assert {item["name"] for item in listed} == {"sport admin", "sport reader"}
    for hidden in ("admin-token", "two desks", "politics", "everything"):
        revoked = client.delete(f"/v1/tokens/{ids[hidden]}", headers=desk_admin)
        assert assert_problem(revoked, 404)["detail"] == f"no token with id {ids[hidden]}"
    assert not any(item["revoked_at"] for item in client.get("/v1/tokens", headers=admin).json())
    revoked = client.delete(f"/v1/tokens/{ids['sport reader']}", headers=desk_admin)
    assert revoked.status_code == 200, revoked.text
    assert_problem(client.get("/v1/articles", headers=sport_reader), 401)


def test_a_sport_desk_token_cannot_touch_politics(
    client: TestClient, services: Services, editor: Headers, token: Token
) -> None:
    politics = content(section="politics", title="Budget passes")
    sport = content(section="sport", title="Cup final tonight")
    client.put("/v1/articles/budget", params={"publish": "true"}, headers=editor, json=politics)
    client.put("/v1/articles/final", params={"publish": "true"}, headers=editor, json=sport)
    desk = token("publish", ["sport"])
    before = fingerprint(services)
    # The section named is the request's own: refusing it tells nothing about any article.
    for method, path, body in (
        ("PUT", "/v1/articles/budget", politics),
        ("PUT", "/v1/articles/final", {**sport, "section": "politics"}),  # moving it there
        ("PUT", "/v1/articles/new-budget-story", politics),
        ("GET", "/v1/articles?section=politics", None),
    ):
        response = client.request(method, path, headers=desk, json=body)
        assert_problem(response, 403)
        assert "politics" in response.json()["detail"], (method, path)
    assert fingerprint(services) == before
    listed = client.get("/v1/articles", headers=desk).json()["items"]
    assert [item["slug"] for item in listed] == ["final"]
    events = client.get("/v1/events", headers=desk).json()["items"]
    assert {event["article"] for event in events} == {"final"}
    assert client.post("/v1/articles/final/unpublish", headers=desk).status_code == 202


SLUG_ROUTES = [
    ("GET", ""),
    ("GET", "/impact"),
    ("POST", "/publish"),
    ("POST", "/unpublish"),
    ("POST", "/preview"),
    ("DELETE", "/schedule"),
]


def test_another_sections_article_is_answered_as_an_unknown_slug(
    client: TestClient, services: Services, editor: Headers, token: Token
) -> None:
    embargoed = content(section="politics", title="Minister resigns")
    client.put("/v1/articles/minister-resigns", headers=editor, json=embargoed)
    embargo = {"publish_at": "2099-01-01T06:00:00Z"}
    scheduled = client.post("/v1/articles/minister-resigns/publish", headers=editor, json=embargo)
    assert scheduled.status_code == 202, scheduled.text
    desk = token("publish", ["sport"])
    before = fingerprint(services)
    for method, suffix in SLUG_ROUTES:
        hidden = client.request(method, f"/v1/articles/minister-resigns{suffix}", headers=desk)
        unknown = client.request(method, f"/v1/articles/no-such-story{suffix}", headers=desk)
        assert_problem(hidden, 404)
        assert_problem(unknown, 404)
        assert hidden.json() == unknown.json() | {
            "detail": unknown.json()["detail"].replace("no-such-story", "minister-resigns")
        }, (method, suffix)
    # Into the token's own section: the slug is taken, but what holds it is not shown.
    moved = client.put("/v1/articles/minister-resigns", headers=desk, json=content(section="sport"))
    assert assert_problem(moved, 404)["detail"] == "no article with slug 'minister-resigns'"
    assert fingerprint(services) == before
    live = content(section="politics", title="Budget passes")
    published = client.put("/v1/articles/budget", params={"publish": "true"}, headers=editor,
                           json=live)  # fmt: skip
    event = published.json()["event"]["id"]
    hidden_event = client.get(f"/v1/events/{event}", headers=desk)
    assert assert_problem(hidden_event, 404)["detail"] == f"no event with id {event}"


def test_a_token_over_its_rate_gets_429_with_retry_after(
    services: Services, editor: Headers
) -> None:
    app: FastAPI = create_app(
        services.settings, ApiSettings(rate_per_minute=3), services=services, embedded_jobs=False
    )
    with TestClient(app) as client:
        for _ in range(3):
            assert client.get("/v1/articles", headers=editor).status_code == 200
        limited = client.get("/v1/articles", headers=editor)
        assert_problem(limited, 429)
        assert int(limited.headers["retry-after"]) >= 1


# -- pressrun tokens ----------------------------------------------------------------------------


def run(tmp_path: Path, *args: str) -> tuple[int, str]:
    env = {"PRESSRUN_DATABASE_URL": f"sqlite:///{tmp_path / 'tokens.db'}",
           "PRESSRUN_STORAGE_URL": f"file://{tmp_path / 'site'}"}  # fmt: skip
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.output


def test_tokens_create_list_revoke(tmp_path: Path) -> None:
    code, output = run(tmp_path, "tokens", "create", "--scope", "publish",
                       "--sections", "sport,culture", "--name", "sport desk")  # fmt: skip
    assert code == 0, output
    lines = output.splitlines()
    assert re.fullmatch(r"prt_[A-Za-z0-9_-]{43}", lines[-1]), lines
    assert "scope publish, sections culture,sport" in lines[0]
    code, listed = run(tmp_path, "tokens", "list")
    assert code == 0
    assert "sport desk" in listed
    assert lines[-1] not in listed  # never shown again
    assert lines[-1][:10] in listed  # its hint is
    assert run(tmp_path, "tokens", "revoke", "1") == (0, "token 1 revoked\n")
    assert "revoked" in run(tmp_path, "tokens", "list")[1]
    code, output = run(tmp_path, "tokens", "revoke", "99")
    assert code == 1
    assert "no token with id 99" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--scope", "root"), "Invalid value for '--scope'"),
        (("--scope", "read", "--sections", "../x"), "sections"),
    ],
)
def test_tokens_create_refuses_bad_options(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    code, output = run(tmp_path, "tokens", "create", *args)
    assert code == 2
    assert message in output
