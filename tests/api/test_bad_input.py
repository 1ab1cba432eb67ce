"""The catalogue of bad input for the API. Every case gets the right 4xx as problem+json
naming the offending field, and leaves no row, no event and no stored object behind.

The world is shared by the module (one published article, one draft); each case compares
what it could change before and after itself.
"""

from __future__ import annotations

import base64
import json
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from pipeline.api.models import Scope
from pipeline.schema import utcnow
from pipeline.services import Services
from tests.api.conftest import (
    Headers,
    ServerThread,
    assert_problem,
    content,
    fingerprint,
    mint,
)
from tests.cli.test_bad_input import DEEP_BODY_HTML

LIVE, DRAFT = "allies-resume-talks", "draft-story"
MISSING = ...
MB = 1024 * 1024


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    path: str
    status: int
    named: str | None = None
    json: Any = MISSING
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def send(self, client: TestClient, auth: Headers) -> Any:
        options: dict[str, Any] = {"headers": {**auth, **self.headers}}
        if self.raw is not None:
            options["content"] = self.raw
            options["headers"].setdefault("Content-Type", "application/json")
        elif self.json is not MISSING:
            options["json"] = self.json
        return client.request(self.method, self.path, **options)


def put(case_id: str, body: Any, status: int, named: str | None) -> Case:
    return Case(case_id, "PUT", "/v1/articles/new-story", status, named, json=body)


def put_raw(
    case_id: str, raw: bytes, status: int, named: str | None = None, **headers: str
) -> Case:
    return Case(case_id, "PUT", "/v1/articles/new-story", status, named, raw=raw, headers=headers)


MALFORMED = [
    put_raw("truncated-object", b'{"title": "Harbour", "body": "x"', 400),
    put_raw("trailing-garbage", json.dumps(content()).encode() + b" x", 400),
    put_raw("single-quotes", b"{'title': 'x'}", 400),
    put_raw("nan", json.dumps({**content(), "title": "x"}).encode().replace(b'"x"', b"NaN"), 400),
    put_raw(
        "not-utf-8", json.dumps(content(title="Caf\xe9"), ensure_ascii=False).encode("latin-1"), 400
    ),
    put_raw("deeply-nested", b"[" * 100_000 + b"]" * 100_000, 400),
    put_raw("empty-body", b"", 422, "body"),
    put_raw("json-array", b"[]", 422, "body"),
    put_raw("json-string", b'"an article"', 422, "body"),
    put_raw(
        "text-plain", json.dumps(content()).encode(), 415, None, **{"Content-Type": "text/plain"}
    ),
    put_raw(
        "form-encoded",
        b"title=x",
        415,
        None,
        **{"Content-Type": "application/x-www-form-urlencoded"},
    ),
]

FIELDS = [
    put("title-missing", content(title=MISSING), 422, "title"),
    put("title-empty", content(title=""), 422, "title"),
    put("title-blank", content(title="   "), 422, "title"),
    put("section-missing", content(section=MISSING), 422, "section"),
    put("body-missing", content(body=MISSING), 422, "body"),
    put("body-empty", content(body=""), 422, "body"),
    put("body-and-body-html", content(body_html="<p>x</p>"), 422, "body"),
    put("title-is-a-number", content(title=5), 422, "title"),
    put("title-is-null", content(title=None), 422, "title"),
    put("title-is-a-list", content(title=["x"]), 422, "title"),
    put("tags-is-a-string", content(tags="x"), 422, "tags"),
    put("tags-holds-a-number", content(tags=[1]), 422, "tags.0"),
    put("authors-is-a-string", content(authors="Ann"), 422, "authors"),
    put("slug-is-null", {**content(), "slug": None}, 422, "slug"),
    put("slug-in-the-body", {**content(), "slug": "new-story"}, 422, "slug"),
    put("id-in-the-body", {**content(), "id": "cms-1"}, 422, "id"),
    put("published-at-is-a-number", content(published_at=20240101), 422, "published_at"),
    put("published-at-yesterday", content(published_at="yesterday"), 422, "published_at"),
    put("published-at-month-13", content(published_at="2024-13-45"), 422, "published_at"),
    put(
        "body-html-nested-too-deep",
        content(body=MISSING, body_html=DEEP_BODY_HTML),
        422,
        "body_html",
    ),
    put("image-is-a-string", content(image="x"), 422, "image"),
    put(
        "image-javascript-url",
        content(image={"url": "javascript:alert(1)", "alt": "x"}),
        422,
        "image",
    ),
    put(
        "image-backslash-host-url",
        content(image={"url": "/\\evil.example/a.jpg", "alt": "x"}),
        422,
        "image",
    ),
    put("image-missing-alt", content(image={"url": "https://x.example/a.jpg"}), 422, "image.alt"),
    put("unknown-field", content(colour="red"), 422, "colour"),
    put("title-501-chars", content(title="x" * 501), 422, "title"),
    put("51-tags", content(tags=[f"t{n}" for n in range(51)]), 422, "tags"),
    put("nul-in-standfirst", content(standfirst="a\x00b"), 422, "standfirst"),
    put("nul-in-an-author", content(authors=["Ann\x00"]), 422, "authors.0"),
]

# Values that are not ^[a-z0-9]+(-[a-z0-9]+)*$ once trimmed and lower-cased.
HOSTILE_NAMES = {
    "dot-dot-slash": "../x",
    "encoded-dot-dot-slash": "%2e%2e%2f",
    "inner-traversal": "a/../../b",
    "absolute": "/abs",
    "backslash": "a\\b",
    "windows-traversal": "..\\..\\x",
    "nul": "a\x00b",
    "right-to-left-override": "abc\u202eexe",
    "2kb": "x" * 2048,
    "reserved": "feeds",
    "space": "a b",
    "non-ascii": "\u00e9t\u00e9",
}
NAMES = [
    put(f"{place}-{label}", content(**{place: [value] if place == "tags" else value}), 422,
        "tags.0" if place == "tags" else place)
    for place in ("section", "tags")
    for label, value in HOSTILE_NAMES.items()
]  # fmt: skip
PATH_SLUGS = [
    Case(f"{method.lower()}{suffix.replace('/', '-') or '-article'}-slug-{label}", method,
         f"/v1/articles/{quote(value, safe='')}{suffix}", 422, "slug",
         json=content() if method == "PUT" else MISSING)
    for label, value in HOSTILE_NAMES.items()
    if label != "reserved"
    for method, suffix in (("PUT", ""), ("GET", ""), ("POST", "/publish"), ("POST", "/unpublish"),
                           ("DELETE", "/schedule"), ("GET", "/impact"), ("POST", "/preview"))
]  # fmt: skip

SOON = (utcnow() + timedelta(days=1)).isoformat()
PAST = (utcnow() - timedelta(minutes=1)).isoformat()
ACTIONS = [
    Case("publish-unknown-slug", "POST", "/v1/articles/no-such-story/publish", 404),
    Case("unpublish-unknown-slug", "POST", "/v1/articles/no-such-story/unpublish", 404),
    Case(
        "schedule-unknown-slug",
        "POST",
        "/v1/articles/no-such-story/publish",
        404,
        json={"publish_at": SOON},
    ),
    Case(
        "publish-in-the-past",
        "POST",
        f"/v1/articles/{DRAFT}/publish",
        422,
        "publish_at",
        json={"publish_at": PAST},
    ),
    Case(
        "unpublish-in-the-past",
        "POST",
        f"/v1/articles/{LIVE}/unpublish",
        422,
        "unpublish_at",
        json={"unpublish_at": PAST},
    ),
    Case(
        "publish-at-not-a-date",
        "POST",
        f"/v1/articles/{DRAFT}/publish",
        422,
        "publish_at",
        json={"publish_at": "tomorrow"},
    ),
    Case(
        "publish-at-a-number",
        "POST",
        f"/v1/articles/{DRAFT}/publish",
        422,
        "publish_at",
        json={"publish_at": 1700000000},
    ),
    Case(
        "publish-at-null",
        "POST",
        f"/v1/articles/{DRAFT}/publish",
        422,
        "publish_at",
        json={"publish_at": None},
    ),
    Case(
        "publish-unknown-field",
        "POST",
        f"/v1/articles/{DRAFT}/publish",
        422,
        "when",
        json={"when": SOON},
    ),
    Case("publish-body-a-list", "POST", f"/v1/articles/{DRAFT}/publish", 422, "body", json=[]),
    Case("publish-malformed", "POST", f"/v1/articles/{DRAFT}/publish", 400, raw=b"{"),
    Case(
        "embargo-a-live-article",
        "POST",
        f"/v1/articles/{LIVE}/publish",
        409,
        json={"publish_at": SOON},
    ),
    Case("cancel-nothing-scheduled", "DELETE", f"/v1/articles/{LIVE}/schedule", 404),
    Case(
        "cancel-bogus-action",
        "DELETE",
        f"/v1/articles/{LIVE}/schedule?action=delete",
        422,
        "action",
    ),
    Case("impact-bogus-action", "GET", f"/v1/articles/{LIVE}/impact?action=delete", 422, "action"),
]

QUERIES = [
    Case("list-section-traversal", "GET", "/v1/articles?section=..%2Fx", 422, "section"),
    Case("list-section-nul", "GET", "/v1/articles?section=a%00b", 422, "section"),
    Case("list-status-bogus", "GET", "/v1/articles?status=deleted", 422, "status"),
    Case("list-limit-zero", "GET", "/v1/articles?limit=0", 422, "limit"),
    Case("list-limit-101", "GET", "/v1/articles?limit=101", 422, "limit"),
    Case("list-limit-word", "GET", "/v1/articles?limit=ten", 422, "limit"),
    Case("list-cursor-garbage", "GET", "/v1/articles?cursor=%25%25", 422, "cursor"),
    Case("list-cursor-forged", "GET", "/v1/articles?cursor=WyJ4IiwgMV0", 422, "cursor"),
    Case("list-q-nul", "GET", "/v1/articles?q=a%00b", 422, "q"),
    Case("list-q-too-long", "GET", f"/v1/articles?q={'x' * 201}", 422, "q"),
    Case("event-not-a-number", "GET", "/v1/events/abc", 422, "event_id"),
    Case("event-zero", "GET", "/v1/events/0", 422, "event_id"),
    Case("event-huge", "GET", f"/v1/events/{10**30}", 422, "event_id"),
    Case("event-past-integer", "GET", f"/v1/events/{2**31}", 422, "event_id"),
    Case("no-such-route", "GET", "/v1/nothing", 404),
    Case("method-not-allowed", "PATCH", "/v1/events", 405),
]

# Well-formed, but out of the supported range (years 1900 to 9998 once in UTC), some so far
# out that converting them to UTC overflows.
EXTREME_DATES = {
    "year-1-east": "0001-01-01T00:00:00+14:00",
    "year-9999-west": "9999-12-31T23:59:59-14:00",
    "year-1-utc": "0001-01-01T00:00:00Z",
    "year-9999-utc": "9999-01-01T00:00:00Z",
    "1899-in-utc": "1900-01-01T00:00:00+00:01",
    "no-offset-1899": "1899-12-31T23:59:59",
}
DATES = [
    *(put(f"published-at-{label}", content(published_at=value), 422, "published_at")
      for label, value in EXTREME_DATES.items()),
    *(Case(f"{action}-at-{label}", "POST", f"/v1/articles/{DRAFT}/{action}", 422, f"{action}_at",
           json={f"{action}_at": value})
      for action in ("publish", "unpublish") for label, value in EXTREME_DATES.items()),
]  # fmt: skip


def cursor(*parts: Any) -> str:
    """A hand-made cursor: base64 of any JSON, as the API's own are."""
    raw = json.dumps(parts[0] if len(parts) == 1 else list(parts)).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


WHEN = "2024-11-27T08:00:00+00:00"
FORGED_CURSORS = {
    "huge-id": cursor(WHEN, 10**30),
    "huge-negative-id": cursor(WHEN, -(10**30)),
    "id-past-bigint": cursor(WHEN, 2**63),
    "id-past-integer": cursor(WHEN, 2**31),  # PostgreSQL's integer, the ids' column
    "id-true": cursor(WHEN, True),
    "id-false": cursor(WHEN, False),
    "id-zero": cursor(WHEN, 0),
    "id-float": cursor(WHEN, 1.5),
    "id-string": cursor(WHEN, "1"),
    "year-1": cursor("0001-01-01T00:00:00+00:00", 1),
    "year-1-east": cursor("0001-01-01T00:00:00+14:00", 1),
    "year-9999-west": cursor("9999-12-31T23:59:59-14:00", 1),
    "date-a-number": cursor(1732694400, 1),
    "no-offset": cursor("2024-11-27T08:00:00", 1),
    "three-parts": cursor(WHEN, 1, 2),
    "an-object": cursor({"published_at": WHEN, "id": 1}),
    "not-base64": "!!!!",
}
CURSORS = [
    Case(f"list-cursor-{label}", "GET", f"/v1/articles?cursor={quote(value)}", 422, "cursor")
    for label, value in FORGED_CURSORS.items()
]

TOO_BIG = [
    put_raw("put-2mb", json.dumps(content(body="x" * 2 * MB)).encode(), 413),
    Case("publish-2mb", "POST", f"/v1/articles/{DRAFT}/publish", 413, raw=b" " * 2 * MB),
    Case("webhook-2mb", "POST", "/v1/webhooks/cms", 413, raw=b"{" + b" " * 2 * MB + b"}"),
]

CASES = [*MALFORMED, *FIELDS, *NAMES, *PATH_SLUGS, *ACTIONS, *DATES, *QUERIES, *CURSORS, *TOO_BIG]
assert len({case.id for case in CASES}) == len(CASES), "case ids must be unique"


@pytest.fixture(scope="module")
def editor(module_client: TestClient, module_services: Services) -> Headers:
    """A publish token, and the world: one published article and one draft."""
    headers = mint(module_services, Scope.PUBLISH)
    live = content(title="Allies resume talks", section="politics", tags=["diplomacy"])
    for slug, body, publish in ((LIVE, live, "true"), (DRAFT, content(), "false")):
        response = module_client.put(
            f"/v1/articles/{slug}", params={"publish": publish}, headers=headers, json=body
        )
        assert response.is_success, response.text
    return headers


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_bad_input_is_refused_by_field_and_changes_nothing(
    case: Case, module_client: TestClient, module_services: Services, editor: Headers
) -> None:
    before = fingerprint(module_services)
    response = case.send(module_client, editor)
    assert_problem(response, case.status, *([case.named] if case.named else []))
    assert "Traceback" not in response.text
    after = fingerprint(module_services)
    assert after.rows == before.rows, "the database changed"
    assert after.files == before.files, "the site changed"


def test_every_field_is_named_at_once(module_client: TestClient, editor: Headers) -> None:
    response = module_client.put(
        "/v1/articles/new-story",
        headers=editor,
        json={"title": 5, "tags": "x", "section": "../x", "colour": "red", "body": "x"},
    )
    problem = assert_problem(response, 422, "title", "tags", "section", "colour")
    assert problem["errors"][0]["field"] == "title"  # parse_article's own first problem leads


# -- raw paths, as `curl --path-as-is` sends them ---------------------------------------------


@pytest.fixture(scope="module")
def server(module_client: TestClient) -> Iterator[ServerThread]:
    with ServerThread(module_client.app) as running:  # type: ignore[arg-type]
        yield running


@pytest.mark.parametrize("path", ["../x", "a/../../b", "..%2f..%2fx", "%2e%2e%2f"])
def test_dot_segments_sent_raw_are_422_naming_the_slug(
    server: ServerThread, module_services: Services, editor: Headers, path: str
) -> None:
    before = fingerprint(module_services)
    request = (
        f"POST /v1/articles/{path}/unpublish HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: {editor['Authorization']}\r\nContent-Length: 0\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 422"), answer[:300]
    assert b"content-type: application/problem+json" in head.lower()
    assert {"field": "slug"}.items() <= json.loads(body)["errors"][0].items()
    assert fingerprint(module_services) == before


def test_a_refused_cursor_keeps_the_connection_alive(
    server: ServerThread, module_services: Services, editor: Headers
) -> None:
    """A forged cursor is an answer like any other 4xx: the keep-alive connection carries the
    next request."""
    forged = quote(FORGED_CURSORS["huge-id"])
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection,
        connection.makefile("rb") as stream,
    ):
        first = exchange(connection, stream, f"/v1/articles?cursor={forged}", editor)
        second = exchange(connection, stream, "/v1/articles?limit=1", editor)
    assert first.startswith(b"HTTP/1.1 422"), first
    assert b"connection: close" not in first.lower()
    assert second.startswith(b"HTTP/1.1 200"), second


def exchange(connection: socket.socket, stream: Any, target: str, auth: Headers) -> bytes:
    """One GET on an open connection; its status line and headers."""
    connection.sendall(
        f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: {auth['Authorization']}\r\n\r\n".encode()
    )
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = stream.readline()
        if not line:
            return head  # the server closed the connection
        head += line
    length = re.search(rb"content-length: (\d+)", head.lower())
    stream.read(int(length[1]) if length else 0)
    return head
