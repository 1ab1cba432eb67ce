"""Extreme but well-formed values in every parameter and body field of every route the served
OpenAPI document lists, on SQLite and on PostgreSQL: dates at the edges of what Python and
the databases hold (with offsets up to ±14:00), integers past every column's range, bools
where numbers go, hostile Unicode, and hand-made cursors built from all of those.

Each request changes one field of a request that would succeed. Whatever the value, the
answer is never a 5xx, and a refusal is problem+json naming the field that was changed.
A fixed sweep sends every edge value to every field; hypothesis then mixes them further.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.api.app import create_app
from pipeline.api.models import Scope
from pipeline.api.settings import ApiSettings
from pipeline.api.signatures import sign
from pipeline.config import Settings
from pipeline.schema import utcnow
from pipeline.services import Services, create_services
from tests.api.conftest import WEBHOOK_SECRET, content, mint
from tests.conftest import SITE_URL

FieldPath = tuple[str | int, ...]
LIVE, DRAFT = "harbour", "draft-story"
SOON = (utcnow() + timedelta(days=1)).isoformat()


def cursor(*parts: Any) -> str:
    raw = json.dumps(list(parts)).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


EDGE_DATES = [
    "0001-01-01T00:00:00+14:00",  # before datetime.min once in UTC
    "9999-12-31T23:59:59-14:00",  # after datetime.max once in UTC
    "0001-01-01T00:00:00Z",
    "1899-12-31T23:59:59Z",
    "9999-01-01T00:00:00Z",
    "1900-01-01T00:00:00Z",  # the first supported moment
    "9999-01-01T13:59:59.999999+14:00",  # the last, given east of UTC
]
EDGE_NUMBERS = [0, -1, 2**31, 2**63, 10**30, 1e308, 0.5]
EDGE_TEXTS = ["", "\u202e", "\U0001f600", "\ud800", "\x00", "x" * 5000]
EDGE_VALUES: list[Any] = [
    *EDGE_DATES,
    *EDGE_NUMBERS,
    True,
    False,
    *EDGE_TEXTS,
    None,
    [],
    {},
    cursor(EDGE_DATES[0], 1),
    cursor(EDGE_DATES[1], 2**63 - 1),
    cursor("2024-11-27T08:00:00+00:00", True),
    cursor("2024-11-27T08:00:00+00:00", 10**30),
    cursor("2024-11-27T08:00:00+00:00", 2**31),  # past PostgreSQL's integer
]

OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
DATES = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59), timezones=OFFSETS
).map(datetime.isoformat)
NUMBERS = st.one_of(st.integers(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False))
EXTREMES: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(EDGE_VALUES),
    DATES,
    NUMBERS,
    st.booleans(),
    st.text(st.characters(codec="utf-8"), max_size=30),
    st.builds(cursor, DATES, st.one_of(NUMBERS, st.booleans())),
    st.lists(st.one_of(DATES, NUMBERS, st.text(max_size=5)), max_size=3),
)


# -- the requests: one that succeeds per route, and every field of it ----------------------


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # as the document spells it
    parameters: dict[str, str]  # name -> where (path, query, header)
    body: dict[str, Any] | None = None  # one that succeeds, for routes with a body
    fields: list[FieldPath] = field(default_factory=list)


GOOD_PATH = {"slug": LIVE, "event_id": "1", "token_id": "1"}
IMAGE = {"url": "https://images.example.com/harbour.jpg", "alt": "The harbour at dawn"}
GOOD_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PUT", "/v1/articles/{slug}"): content(image=IMAGE),
    ("POST", "/v1/articles/{slug}/publish"): {"publish_at": SOON},
    ("POST", "/v1/articles/{slug}/unpublish"): {"unpublish_at": SOON},
    ("POST", "/v1/tokens"): {"name": "desk", "scope": "read", "sections": ["world"]},
    ("POST", "/v1/webhooks/cms"): {
        "action": "update",
        "article": {**content(image=IMAGE), "slug": "from-the-cms", "id": "cms-1"},
    },
}
# Drafts, so that a request that succeeds saves or schedules instead of rendering the site.
SLUG_OF = {("PUT", "/v1/articles/{slug}"): DRAFT, ("POST", "/v1/articles/{slug}/publish"): DRAFT}


def routes(document: dict[str, Any]) -> list[Route]:
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            parameters = {item["name"]: item["in"] for item in operation.get("parameters", [])}
            schema = operation.get("requestBody", {}).get("content", {}).get("application/json")
            body = GOOD_BODIES.get((method.upper(), path))
            assert (schema is None) == (body is None), f"no good body for {method} {path}"
            paths = list(body_fields(schema["schema"])) if schema else []
            found.append(Route(method.upper(), path, parameters, body, paths))
    return found


def body_fields(schema: dict[str, Any], prefix: FieldPath = ()) -> Iterator[FieldPath]:
    for name, inner in schema.get("properties", {}).items():
        where = (*prefix, name)
        yield where
        if inner.get("type") == "array":
            yield (*where, 0)
        yield from body_fields(inner, where)


@dataclass(frozen=True)
class Target:
    route: Route
    where: str  # path, query, header or body
    name: FieldPath

    @property
    def label(self) -> str:
        return ".".join(str(part) for part in self.name)

    def __str__(self) -> str:
        return f"{self.route.method} {self.route.path} {self.where} {self.label}"


def targets(document: dict[str, Any]) -> list[Target]:
    found = []
    for route in routes(document):
        found += [Target(route, where, (name,)) for name, where in route.parameters.items()]
        found += [Target(route, "body", path) for path in route.fields]
    return found


def with_value(body: dict[str, Any], path: FieldPath, value: Any) -> dict[str, Any]:
    """A copy of `body` with `value` at `path`; a missing object on the way is made (the good
    bodies hold every list)."""
    body = deepcopy(body)
    container: Any = body
    for part in path[:-1]:
        if not isinstance(container[part] if isinstance(part, int) else container.get(part),
                          dict | list):  # fmt: skip
            container[part] = {}
        container = container[part]
    container[path[-1]] = value
    return body


def as_text(value: Any) -> str:
    """A value where only text goes (URL, query, header): strings as they are, the rest as
    JSON (true, 1e+308, [...])."""
    return value if isinstance(value, str) else json.dumps(value)


# -- sending one --------------------------------------------------------------------------


@dataclass
class World:
    client: TestClient
    services: Services
    admin: dict[str, str]


UNCHANGED = object()


def send(world: World, target: Target, value: Any) -> Any:
    """The route's good request with `value` put at `target` (or as it is, with UNCHANGED)."""
    route = target.route
    slug = SLUG_OF.get((route.method, route.path), LIVE)
    values = {**GOOD_PATH, "slug": slug}
    query: dict[str, str] = {}
    headers = dict(world.admin)
    if route.path == "/v1/tokens/{token_id}":
        headers = mint(world.services, Scope.ADMIN)  # the request may revoke its own token
    body = route.body
    if value is UNCHANGED:
        pass
    elif target.where == "body" and body is not None:
        body = with_value(body, target.name, value)
    elif target.where == "path":
        values[target.label] = as_text(value)
    elif target.where == "query":
        query[target.label] = as_text(value)
    else:
        headers[target.label] = as_text(value)
    path = route.path.format(**{name: quote(text, safe="") for name, text in values.items()})
    raw = None if body is None else json.dumps(body).encode()
    if body is not None:
        headers.setdefault("Content-Type", "application/json")
    if route.path == "/v1/webhooks/cms":
        headers = {**headers, **signed(raw or b"", headers)}
    return world.client.request(route.method, path, params=query, content=raw, headers=headers)


def signed(raw: bytes, headers: dict[str, str]) -> dict[str, str]:
    """The webhook's signature over the body (unless the value under test is one of them)."""
    now = int(time.time())
    return {
        "X-Pressrun-Timestamp": headers.get("X-Pressrun-Timestamp", str(now)),
        "X-Pressrun-Signature": headers.get("X-Pressrun-Signature", sign(WEBHOOK_SECRET, now, raw)),
    }


def sendable(target: Target, value: Any) -> bool:
    """What the client can send at all: a header is printable ASCII on one line, a URL is
    UTF-8 (a lone surrogate can only travel inside a JSON body, escaped)."""
    text = as_text(value)
    if target.where == "header":
        return all(" " <= char <= "~" for char in text)
    if target.where in ("path", "query"):
        return not any("\ud800" <= char <= "\udfff" for char in text)
    return True


def answer_problem(world: World, target: Target, value: Any) -> str | None:
    """What is wrong with the answer to `value` at `target`, or None. A 422 that names another
    field is right when the request is refused for the same fields without the change: the
    examples share one world, and an earlier one may have taken the slug the route uses."""
    response = send(world, target, value)
    found = problem(target, value, response)
    named = _named(response)
    if found and named is not None and named == _named_unchanged(world, target):
        return None
    return found


def _named(response: Any) -> list[str] | None:
    if response.status_code != 422:
        return None
    return sorted(error["field"] for error in response.json()["errors"])


def _named_unchanged(world: World, target: Target) -> list[str] | None:
    return _named(send(world, target, UNCHANGED))


def problem(target: Target, value: Any, response: Any) -> str | None:
    """What is wrong with the answer, or None."""
    status = response.status_code
    if status >= 500:
        return f"{status} for {target} = {value!r}: {response.text[:300]}"
    if status < 400:
        return None
    if response.headers["content-type"] != "application/problem+json":
        return f"{status} not problem+json for {target} = {value!r}"
    named = [error["field"] for error in response.json()["errors"]]
    if status == 422 and not names_the_field(target, named):
        return f"422 names {named}, not {target.label}, for {target} = {value!r}"
    return None


def names_the_field(target: Target, named: list[str]) -> bool:
    """The refusal names the changed field, one inside it (`tags.0`) or the object holding it
    (`image` for `image.url`). `body` names the rule `body_html` shares: one of them, not both."""
    wanted = {target.label}
    if target.label.endswith("body_html"):
        wanted.add(target.label.removesuffix("_html"))
    if target.label == "article.id":  # another CMS id for the same slug: the slug is taken
        wanted.add("article.slug")
    return any(
        name == want or name.startswith(f"{want}.") or want.startswith(f"{name}.")
        for name in named
        for want in wanted
    )


# -- the worlds: SQLite (the embedded default) and PostgreSQL ----------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    database = f"sqlite:///{tmp_path / 'pressrun.db'}"
    if request.param == "postgresql":
        database = request.getfixturevalue("database_url")
    services = create_services(
        Settings(database_url=database, storage_url=f"file://{tmp_path / 'site'}",
                 site_url=SITE_URL, site_name="The Test Gazette")
    )  # fmt: skip
    api = ApiSettings(webhook_secret=WEBHOOK_SECRET, rate_per_minute=10**9)
    app = create_app(services.settings, api, services=services, embedded_jobs=False)
    with TestClient(app) as client:
        editor = mint(services, Scope.PUBLISH)
        for slug, publish in ((LIVE, "true"), (DRAFT, "false")):
            answer = client.put(f"/v1/articles/{slug}", params={"publish": publish},
                                headers=editor, json=content())  # fmt: skip
            assert answer.is_success, answer.text
        yield World(client, services, mint(services, Scope.ADMIN))
    services.engine.dispose()


def every_target(world: World) -> list[Target]:
    """Every field of every route, from the served document (checked to reach the ones this
    module was written for, so the sweep cannot silently shrink)."""
    found = targets(world.client.get("/openapi.json").json())
    named = {str(target) for target in found}
    for article_field in ("published_at", "tags.0", "image.url", "authors.0"):
        assert f"PUT /v1/articles/{{slug}} body {article_field}" in named
        assert f"POST /v1/webhooks/cms body article.{article_field}" in named
    assert "GET /v1/articles query cursor" in named
    assert "POST /v1/articles/{slug}/unpublish body unpublish_at" in named
    assert "GET /v1/events/{event_id} query wait" in named
    return found


def test_every_edge_value_in_every_field_is_answered_without_a_server_error(world: World) -> None:
    failures = []
    for target in every_target(world):
        for value in EDGE_VALUES:
            if sendable(target, value):
                failures.append(answer_problem(world, target, value))
    wrong = [failure for failure in failures if failure]
    assert not wrong, "\n".join(wrong)


def test_mixed_extreme_values_are_answered_without_a_server_error(world: World) -> None:
    found = every_target(world)

    @given(target=st.sampled_from(found), value=EXTREMES)
    @settings(max_examples=150, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def check(target: Target, value: Any) -> None:
        if sendable(target, value):
            assert answer_problem(world, target, value) is None

    check()
