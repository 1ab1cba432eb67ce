"""The dashboard in the embedded default: signing in, what each page shows, retrying a
failed event, and the forms another site cannot forge."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event as sql_event
from sqlalchemy import func, select, update

from pipeline.api.app import create_app
from pipeline.api.housekeeping import purge_expired
from pipeline.api.models import ApiToken, OpsSession, Scope
from pipeline.api.ops import session as ops_session
from pipeline.api.ops.session import COOKIE
from pipeline.api.settings import ApiSettings
from pipeline.content.models import Article, Schedule, ScheduleAction
from pipeline.db import transaction
from pipeline.events.models import Event, EventKind, EventStatus
from pipeline.publish.reconcile import reconcile, record_run
from pipeline.schema import utcnow
from pipeline.services import Services
from pipeline.storage import StorageError, StoredObject
from tests.conftest import Newsroom
from tests.ops.conftest import Login, add_event, csrf_of, secret


def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def panel(html: str, name: str) -> str:
    found = soup(html).find(attrs={"data-panel": name})
    assert found is not None, f"no panel {name!r}"
    return " ".join(found.get_text(" ").split())


@pytest.fixture
def failing_storage(services: Services, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Storage refuses every write (a bucket that does not exist) until the test ends it."""

    def refuse(item: StoredObject) -> None:
        raise StorageError("NoSuchBucket: bucket 'gone' does not exist")

    monkeypatch.setattr(services.storage, "put", refuse)
    yield
    monkeypatch.undo()


def failed_publish(newsroom: Newsroom, services: Services, monkeypatch: pytest.MonkeyPatch) -> int:
    def refuse(item: StoredObject) -> None:
        raise StorageError("NoSuchBucket: bucket 'gone' does not exist")

    with monkeypatch.context() as patch:
        patch.setattr(services.storage, "put", refuse)
        outcome = newsroom.publish(slug="lost-story", title="A story that could not be stored")
    assert outcome.status == EventStatus.FAILED
    return outcome.event_id


# -- who may see it ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/ops", "/ops/events/1", "/ops/articles/1", "/ops/find?q=x"])
def test_strangers_are_sent_to_the_login_form(client: TestClient, path: str) -> None:
    answer = client.get(path, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ops/login?next=" + path.replace("?q=", "%3Fq%3D")
    form = client.get(answer.headers["location"])
    assert form.status_code == 200
    assert soup(form.text).find("input", attrs={"name": "next"})["value"] == path
    live = client.get(path.split("?")[0] + "?fragment=live")
    assert live.status_code == 401
    assert live.headers["x-ops-login"].startswith("/ops/login?next=/ops")


def test_login_sets_a_lax_cookie_and_goes_where_it_was_asked(
    client: TestClient, services: Services
) -> None:
    answer = client.post(
        "/ops/login",
        data={"token": secret(services, Scope.READ), "next": "/ops/articles/7"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ops/articles/7"
    cookie = answer.headers["set-cookie"]
    for part in ("HttpOnly", "Path=/ops", "SameSite=lax", "Max-Age=43200"):
        assert part in cookie
    assert "SameSite=Lax" in ops_session.__doc__  # the module explains the value it sets
    assert "SameSite=Strict" not in ops_session.__doc__
    assert "Secure" not in cookie  # plain http here; set behind https
    assert client.get("/ops").status_code == 200


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/ops",
        "/\\evil.example",
        "/v1/tokens",
        "javascript:1",
    ],
)
def test_login_never_sends_anyone_off_the_dashboard(
    client: TestClient, services: Services, target: str
) -> None:
    answer = client.post("/ops/login", data={"token": secret(services), "next": target},
                         follow_redirects=False)  # fmt: skip
    assert answer.headers["location"] == "/ops"


@pytest.mark.parametrize(
    ("token", "status", "message"),
    [("prt_nope", 401, "unknown or revoked token"), ("", 401, "unknown or revoked token"),
     ("sections", 403, "limited to sections")],
)  # fmt: skip
def test_bad_logins_say_why(
    client: TestClient, services: Services, token: str, status: int, message: str
) -> None:
    if token == "sections":
        token = secret(services, Scope.ADMIN, sections=["politics"])
    answer = client.post("/ops/login", data={"token": token}, follow_redirects=False)
    assert answer.status_code == status
    assert message in answer.text
    assert COOKIE not in answer.headers.get("set-cookie", "")


def test_guessing_tokens_at_the_login_form_is_limited_per_address(services: Services) -> None:
    api_settings = ApiSettings(anonymous_rate_per_minute=2)
    app = create_app(services.settings, api_settings, services=services, embedded_jobs=False)
    with TestClient(app) as client:
        guesses = [client.post("/ops/login", data={"token": "prt_nope"}) for _ in range(3)]
        assert [answer.status_code for answer in guesses] == [401, 401, 429]
        assert "too many requests without a valid token" in guesses[-1].text
        bearer = {"Authorization": "Bearer prt_nope"}
        assert client.get("/ops?fragment=live", headers=bearer).status_code == 429
        valid = client.post("/ops/login", data={"token": secret(services)}, follow_redirects=False)
        assert valid.status_code == 303


def test_a_login_posted_from_another_site_is_refused(
    client: TestClient, services: Services
) -> None:
    answer = client.post(
        "/ops/login",
        data={"token": secret(services)},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert answer.status_code == 403
    assert "set-cookie" not in answer.headers


def test_revoking_the_token_ends_the_session(login: Login, services: Services) -> None:
    browser = login("read")
    assert browser.get("/ops").status_code == 200
    with transaction(services.sessions) as session:
        for token in session.scalars(select(ApiToken)):
            token.revoked_at = utcnow()
    answer = browser.get("/ops", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/ops/login")


def test_a_bearer_header_works_for_scripts(client: TestClient, services: Services) -> None:
    headers = {"Authorization": f"Bearer {secret(services, Scope.READ)}"}
    answer = client.get("/ops?fragment=live", headers=headers)
    assert answer.status_code == 200
    assert "<html" not in answer.text
    assert 'data-panel="recent"' in answer.text


def test_sign_out_needs_the_form_token_and_clears_the_cookie(login: Login) -> None:
    browser = login("read")
    page = browser.get("/ops").text
    refused = browser.post("/ops/logout", data={"csrf": "0" * 64}, follow_redirects=False)
    assert refused.status_code == 403
    answer = browser.post("/ops/logout", data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert answer.status_code == 303
    assert f'{COOKIE}=""' in answer.headers["set-cookie"]
    assert browser.get("/ops", follow_redirects=False).status_code == 303


def signed_in(app: FastAPI, token: str) -> TestClient:
    browser = TestClient(app)
    answer = browser.post("/ops/login", data={"token": token}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return browser


def test_the_cookie_carries_a_session_id_kept_only_as_its_hash(
    app: FastAPI, services: Services
) -> None:
    token = secret(services, Scope.READ)
    with signed_in(app, token) as browser:
        cookie = browser.cookies[COOKIE]
        assert cookie != token
        assert token not in str(browser.cookies)
        with transaction(services.sessions) as session:
            rows = list(session.scalars(select(OpsSession)))
            assert [row.cookie_hash for row in rows] == [
                hashlib.sha256(cookie.encode()).hexdigest()
            ]
        # The session id is no API token: it opens the dashboard through the cookie alone.
        bearer = {"Authorization": f"Bearer {cookie}"}
        assert browser.get("/v1/articles", headers=bearer).status_code == 401
        assert browser.get("/ops?fragment=live", headers=bearer).status_code == 401


def test_signing_out_ends_the_session_for_a_copied_cookie_too(
    app: FastAPI, services: Services
) -> None:
    with signed_in(app, secret(services, Scope.READ)) as browser, TestClient(app) as thief:
        thief.cookies.set(COOKIE, browser.cookies[COOKIE], path="/ops")
        assert thief.get("/ops", follow_redirects=False).status_code == 200
        page = browser.get("/ops").text
        signed_out = browser.post("/ops/logout", data={"csrf": csrf_of(page)},
                                  follow_redirects=False)  # fmt: skip
        assert signed_out.status_code == 303
        answer = thief.get("/ops", follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/ops/login")
    assert sessions_of(services) == 0


def sessions_of(services: Services) -> int:
    with transaction(services.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(OpsSession)) or 0)


def test_revoking_the_token_deletes_its_sessions(
    app: FastAPI, services: Services, client: TestClient
) -> None:
    admin = {"Authorization": f"Bearer {secret(services, Scope.ADMIN)}"}
    reader = secret(services, Scope.READ)
    with signed_in(app, reader) as browser, signed_in(app, reader) as other:
        assert sessions_of(services) == 2
        listed = client.get("/v1/tokens", headers=admin).json()
        reader_id = next(item["id"] for item in listed if item["scope"] == "read")
        assert client.delete(f"/v1/tokens/{reader_id}", headers=admin).status_code == 200
        assert sessions_of(services) == 0
        for signed_out in (browser, other):
            assert signed_out.get("/ops", follow_redirects=False).status_code == 303


def test_an_expired_session_is_refused(app: FastAPI, services: Services) -> None:
    with signed_in(app, secret(services, Scope.READ)) as browser:
        with transaction(services.sessions) as session:
            session.execute(update(OpsSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        assert browser.get("/ops", follow_redirects=False).status_code == 303
    assert purge_expired(services, utcnow()).ops_sessions == 1
    assert sessions_of(services) == 0


# -- what it shows ----------------------------------------------------------------------------


def test_the_dashboard_shows_the_pipeline(
    login: Login, newsroom: Newsroom, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    for number in range(4):
        newsroom.publish(slug=f"story-{number}", title=f"Harbour story {number}")
    newsroom.publish(slug="story-1", title="Harbour story one, updated")
    failed = failed_publish(newsroom, services, monkeypatch)
    stuck = add_event(services, status=EventStatus.STARTED, accepted_at=utcnow() - timedelta(
        minutes=20), started_at=utcnow() - timedelta(minutes=19), attempts=2)  # fmt: skip
    waiting = add_event(services, accepted_at=utcnow() - timedelta(seconds=40))
    record_run(services, reconcile(services), "test")

    page = login("admin").get("/ops")
    assert page.status_code == 200
    html = page.text
    assert "in-process (no broker)" in panel(html, "fleet")
    assert re.search(rf"event {waiting} , accepted 4\d s ago", panel(html, "fleet"))
    assert re.search(r"just now : \d+ missing · \d+ stale · \d+ orphans of \d+ checked",
                     panel(html, "fleet"))  # fmt: skip
    latency = panel(html, "latency")
    assert "Last 15 minutes" in latency
    assert "Last 24 hours" in latency
    assert "5 changes went live" in latency  # 4 publishes, 1 update; the failed one is not live
    assert re.search(r"p50 \d+ ms", latency)
    assert soup(html).select('[data-panel="latency"] svg.chart .p50')  # a line, or a dot
    assert "publish" in panel(html, "throughput")
    failed_text = panel(html, "failed")
    assert f"#{failed}" in failed_text
    assert "NoSuchBucket" in failed_text
    assert soup(html).select(f'form[action="/ops/events/{failed}/retry"] button')
    assert f"#{stuck}" in panel(html, "stuck")
    assert "started for 19 min" in panel(html, "stuck")
    totals = panel(html, "totals")
    assert "1 failed" in totals
    assert "1 stuck" in totals
    rows = soup(html).select('[data-panel="recent"] tbody tr')
    assert len(rows) == 9
    first_publish = rows[-1]
    assert first_publish.select_one('[data-label="Status"]').get_text(strip=True) == "live"
    assert first_publish.select_one('[data-label="Live"]').get_text(strip=True).startswith("+")
    keys = [link.get_text() for link in first_publish.select('[data-label="Outputs"] a')]
    assert keys[0] == newsroom.key("story-0")
    assert first_publish.select_one('a[href^="/ops/articles/"]').get_text() == "Harbour story 0"


def test_a_reader_sees_no_retry_button(
    login: Login, newsroom: Newsroom, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    failed = failed_publish(newsroom, services, monkeypatch)
    html = login("read").get("/ops").text
    assert f"#{failed}" in panel(html, "failed")
    assert not soup(html).select("form[action$='/retry']")
    assert "an admin token can retry" in panel(html, "failed")


def test_an_empty_outbox(login: Login) -> None:
    html = login("read").get("/ops").text
    assert "No event yet" in panel(html, "recent")
    assert "never run" in panel(html, "fleet")
    assert "CDN purges no CDN configured" in panel(html, "fleet")
    assert "No failed event" in panel(html, "failed")
    assert "nothing in this window" in panel(html, "latency")


def test_pages_obey_their_content_security_policy(login: Login, newsroom: Newsroom) -> None:
    newsroom.publish(slug="story-a")
    browser = login("admin")
    for path in ("/ops", "/ops/events/1", "/ops/articles/1", "/ops/login"):
        answer = browser.get(path)
        assert answer.status_code == 200, path
        assert "script-src 'self'" in answer.headers["content-security-policy"]
        assert answer.headers["cache-control"] == "no-store"
        tree = soup(answer.text)
        assert not tree.select("[style]"), f"{path}: inline style"
        assert not tree.find("style"), f"{path}: <style>"
        assert all(script.get("src") for script in tree.find_all("script")), f"{path}: inline"
        assert not any(name.startswith("on") for tag in tree.find_all(True) for name in tag.attrs)


def test_static_files(client: TestClient) -> None:
    css = client.get("/ops/static/ops.css")
    assert css.headers["content-type"] == "text/css; charset=utf-8"
    assert "max-age" in css.headers["cache-control"]
    assert client.get("/ops/static/ops.js").headers["content-type"].startswith("text/javascript")
    for name in ("missing.css", "..%2F..%2Fpyproject.toml", "style.txt"):
        assert client.get(f"/ops/static/{name}").status_code == 404


def test_the_event_page(login: Login, newsroom: Newsroom) -> None:
    outcome = newsroom.publish(slug="harbour", title="Harbour reopens")
    html = login("read").get(f"/ops/events/{outcome.event_id}").text
    stages = [row.get_text(" ", strip=True) for row in soup(html).select("table.stages tbody tr")]
    assert [row.split()[0] for row in stages] == [
        "accepted", "dispatched", "started", "rendered", "live"]  # fmt: skip
    assert "not yet" not in " ".join(stages)
    written = [link.get_text() for link in soup(html).select('[data-panel="outputs"] li a')]
    assert outcome.report is not None
    assert written == outcome.report.written
    assert (
        soup(html)
        .select_one('[data-panel="outputs"] li a')["href"]
        .startswith("https://news.example.com/")
    )
    assert "Harbour reopens" in panel(html, "event")


def test_missing_pages_are_html(login: Login) -> None:
    browser = login("read")
    for path in ("/ops/events/999", "/ops/events/abc", "/ops/articles/0", "/ops?fragment=x"):
        answer = browser.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("text/html")


def test_find_an_event_or_an_article(login: Login, newsroom: Newsroom) -> None:
    outcome = newsroom.publish(slug="harbour")
    browser = login("read")
    assert browser.get("/ops/find?q=%23" + str(outcome.event_id), follow_redirects=False
                       ).headers["location"] == f"/ops/events/{outcome.event_id}"  # fmt: skip
    found = browser.get("/ops/find?q=harbour", follow_redirects=False)
    assert found.headers["location"].startswith("/ops/articles/")
    assert browser.get("/ops/find?q=nothing-here").status_code == 404


@pytest.mark.parametrize(
    "query", ["%C2%B2", "%D9%A3", "%00", "2147483648", "9" * 30, "x" * 300, "%ED%A0%80"]
)
def test_find_answers_404_for_what_is_neither_an_id_nor_a_slug(login: Login, query: str) -> None:
    # "²" and "٣" are digits to str.isdigit(); past 2**31 - 1 no id exists (PostgreSQL's
    # integer); NUL is text PostgreSQL refuses to compare.
    answer = login("read").get(f"/ops/find?q={query}", follow_redirects=False)
    assert answer.status_code == 404, answer.text
    assert answer.headers["content-type"].startswith("text/html")


def test_an_articles_history_shows_what_each_change_changed(
    login: Login, newsroom: Newsroom, services: Services
) -> None:
    newsroom.publish(slug="harbour", title="Harbour reopens", section="world")
    newsroom.publish(slug="harbour", title="Harbour reopens after the storm", section="world")
    newsroom.unpublish("harbour")
    with transaction(services.sessions) as session:
        article_id = session.scalar(select(Event.article_id).limit(1))
    html = login("read").get(f"/ops/articles/{article_id}").text
    changes = soup(html).select("ol.history > li")
    assert len(changes) == 3
    newest, update, first = (" ".join(item.get_text(" ").split()) for item in changes)
    assert "unpublish" in newest
    assert "status published → unpublished" in newest
    assert "deleted" in newest
    assert "title Harbour reopens → Harbour reopens after the storm" in update
    assert "Created: Harbour reopens in world" in first  # the quotes are the <q>'s own


# -- retry, and what may not trigger it ------------------------------------------------------


def test_retry_sends_a_failed_event_again_until_it_is_live(
    login: Login, newsroom: Newsroom, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    failed = failed_publish(newsroom, services, monkeypatch)
    browser = login("admin")
    page = browser.get("/ops").text
    answer = browser.post(f"/ops/events/{failed}/retry", data={"csrf": csrf_of(page)},
                          follow_redirects=False)  # fmt: skip
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/ops/events/{failed}?retried=1"
    with transaction(services.sessions) as session:
        event = session.get(Event, failed)
        assert event is not None
        assert (event.status, event.attempts, event.error) == (EventStatus.LIVE, 1, None)
    assert newsroom.read(newsroom.key("lost-story")) is not None
    shown = browser.get(answer.headers["location"]).text
    assert "Sent again" in shown
    assert "live" in panel(shown, "event")


def retry_refused(browser: TestClient, event_id: int, **options: Any) -> int:
    return browser.post(f"/ops/events/{event_id}/retry", follow_redirects=False,
                        **options).status_code  # fmt: skip


def test_retry_is_refused_without_the_right_form_token(
    login: Login, newsroom: Newsroom, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    failed = failed_publish(newsroom, services, monkeypatch)
    browser = login("admin")
    token = csrf_of(browser.get("/ops").text)
    other = csrf_of(login("admin").get("/ops").text)  # another session's token
    assert other != token
    assert retry_refused(browser, failed) == 403
    assert retry_refused(browser, failed, data={"csrf": "f" * 64}) == 403
    assert retry_refused(browser, failed, data={"csrf": other}) == 403
    assert retry_refused(browser, failed, data={"csrf": token},
                         headers={"Origin": "https://evil.example"}) == 403  # fmt: skip
    assert retry_refused(browser, failed, data={"csrf": token},
                         headers={"Sec-Fetch-Site": "cross-site"}) == 403  # fmt: skip
    assert retry_refused(browser, failed, content=f"csrf={token}".encode(),
                         headers={"Content-Type": "text/plain"}) == 400  # fmt: skip
    reader = login("read")
    assert retry_refused(reader, failed, data={"csrf": csrf_of(reader.get("/ops").text)}) == 403
    with transaction(services.sessions) as session:
        event = session.get(Event, failed)
        assert event is not None
        assert event.status == EventStatus.FAILED
        assert event.attempts == 1


def test_retry_of_a_live_or_missing_event(login: Login, newsroom: Newsroom) -> None:
    live = newsroom.publish(slug="fine").event_id
    browser = login("admin")
    token = csrf_of(browser.get("/ops").text)
    assert retry_refused(browser, live, data={"csrf": token}) == 409
    assert retry_refused(browser, 999, data={"csrf": token}) == 404


def test_a_script_with_an_admin_bearer_token_needs_no_form_token(
    client: TestClient, newsroom: Newsroom, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    failed = failed_publish(newsroom, services, monkeypatch)
    headers = {"Authorization": f"Bearer {secret(services, Scope.ADMIN)}"}
    answer = client.post(f"/ops/events/{failed}/retry", headers=headers, follow_redirects=False)
    assert answer.status_code == 303


def test_a_stuck_event_can_be_sent_again(
    login: Login, newsroom: Newsroom, services: Services
) -> None:
    newsroom.publish(slug="harbour")
    with transaction(services.sessions) as session:
        event_id = session.scalar(select(Event.id))
        session.execute(update(Event).where(Event.id == event_id).values(
            status=EventStatus.STARTED, live_at=None, accepted_at=utcnow() - timedelta(hours=1),
            started_at=utcnow() - timedelta(hours=1)))  # fmt: skip
    browser = login("admin")
    html = browser.get("/ops").text
    assert soup(html).select(f'[data-panel="stuck"] form[action="/ops/events/{event_id}/retry"]')
    browser.post(f"/ops/events/{event_id}/retry", data={"csrf": csrf_of(html)})
    with transaction(services.sessions) as session:
        assert session.get(Event, event_id).status == EventStatus.LIVE  # type: ignore[union-attr]


# -- cost ------------------------------------------------------------------------------------


def statements(services: Services, browser: TestClient, path: str) -> int:
    seen: list[str] = []

    def count(*_: Any) -> None:
        seen.append("x")

    sql_event.listen(services.engine, "before_cursor_execute", count)
    try:
        assert browser.get(path).status_code == 200
    finally:
        sql_event.remove(services.engine, "before_cursor_execute", count)
    return len(seen)


def test_the_number_of_queries_does_not_grow_with_the_events(
    login: Login, newsroom: Newsroom, services: Services
) -> None:
    browser = login("read")
    newsroom.publish(slug="first")
    few = statements(services, browser, "/ops")
    for number in range(30):
        add_event(services, kind=EventKind.UPDATE, status=EventStatus.FAILED,
                  error="boom", accepted_at=utcnow() - timedelta(minutes=number))  # fmt: skip
    assert statements(services, browser, "/ops") == few <= 20


def test_a_schedule_that_gave_up_is_shown_with_its_error(
    login: Login, newsroom: Newsroom, services: Services
) -> None:
    newsroom.publish(slug="expiring")
    now = utcnow()
    with transaction(services.sessions) as session:
        article_id = session.scalars(select(Article.id).where(Article.slug == "expiring")).one()
        gave_up = Schedule(article_id=article_id, action=ScheduleAction.UNPUBLISH, actor="desk",
                           due_at=now - timedelta(minutes=30), attempts=8, failed_at=now,
                           last_error="RuntimeError: storage refused")  # fmt: skip
        session.add(gave_up)
    panel = soup(login("read").get("/ops").text).select_one('[data-panel="failed"]')
    assert panel is not None
    shown = panel.select("li.failed-schedule")
    assert len(shown) == 1
    text = " ".join(shown[0].text.split())
    assert "scheduled unpublish" in text
    assert "after 8 attempts" in text
    assert "RuntimeError: storage refused" in text
    assert shown[0].select_one(f'a[href="/ops/articles/{article_id}"]') is not None
