"""Impact is a read: it answers as making the change would, takes no write lock, writes
nothing, and a publish never waits for it (on SQLite and on PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import Connection, event, select

from pipeline.api.app import create_app
from pipeline.api.settings import ApiSettings
from pipeline.config import Settings
from pipeline.content import articles, schedule
from pipeline.content.inputs import parse_article
from pipeline.content.models import Article
from pipeline.db import transaction
from pipeline.events.models import Event
from pipeline.events.processing import process_event
from pipeline.render.renderer import key_of
from pipeline.services import Services, create_services
from pipeline.site import impact
from pipeline.site.outputs import OutputSpec
from pipeline.site.planner import plan_change
from tests.api.conftest import Headers, ServerThread, content, fingerprint
from tests.conftest import Newsroom, article_data
from tests.integration.conftest import database_url  # noqa: F401 (a fixture)

NOW = datetime(2024, 12, 3, 9, 0, tzinfo=UTC)
# Three beats, so "More like this" rails hold some articles and not others.
BEATS = {
    "harbour": "Ferries harbour storm repairs quay sailings resume crews",
    "budget": "Budget minister taxes spending deficit parliament vote",
    "league": "League match goal striker season coach stadium fans",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def services(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Services]:
    # Short pages and rails: an article entering a list moves several pages and rails.
    settings = replace(settings, page_size=3, rail_size=3)
    if request.param == "postgresql":
        settings = replace(settings, database_url=request.getfixturevalue("database_url"))
    built = create_services(settings)
    yield built
    built.engine.dispose()


def story(slug: str, beat: str, day: int, **overrides: Any) -> dict[str, Any]:
    moment = datetime(2024, 11, day, 8, tzinfo=UTC)
    fields: dict[str, Any] = {
        "slug": slug,
        "title": f"{beat.title()} {slug} {BEATS[beat].split()[day % 5]}",
        "body": f"{BEATS[beat]} {slug}.\n\n{BEATS[beat]} again.",
        "tags": [beat],
        "section": "world" if beat == "harbour" else "politics",
        "published_at": moment.isoformat(),
    }
    return article_data(**(fields | overrides))


@pytest.fixture
def newsroom(services: Services) -> Newsroom:
    """Nine live articles over three beats in November, two drafts (one dated, one not) and
    one article taken down."""
    room = Newsroom(services)
    for day in range(1, 10):
        beat = list(BEATS)[day % 3]
        assert room.publish(**story(f"{beat}-{day}", beat, day)).status == "live"
    assert room.publish(**story("gone", "harbour", 12)).status == "live"
    assert room.unpublish("gone").status == "live"
    for slug, dated in (("dated-draft", True), ("undated-draft", False)):
        data, _ = parse_article(story(slug, "harbour", 5))
        if not dated:
            data = data.model_copy(update={"published_at": None})
        with transaction(services.sessions) as session:
            schedule.save(session, data, actor="test", now=NOW)
    return room


def impact_by_writing(services: Services, slug: str, action: impact.Action) -> list[OutputSpec]:
    """The answer impact gave by making the change for real in a transaction rolled back
    (the path a publish takes: schedule, the related index, the planner)."""
    with impact.rolled_back(services.sessions) as session:
        if action == "publish":
            change = schedule.publish_now(session, slug, actor="oracle", now=NOW)
        else:
            change = schedule.unpublish_now(session, slug, actor="oracle", now=NOW)
        event = session.get(Event, change.event_id)
        article = session.get(Article, change.article_id)
        assert event is not None
        assert article is not None
        rails = services.related.apply_change(session, article)
        specs = plan_change(session, services.settings, article, event.previous, rails)
    return sorted(specs - services.kinds.furniture)


CHANGES = [
    ("dated-draft", "publish"),  # enters lists mid-way, and like articles' rails
    ("undated-draft", "publish"),  # dated now: a new month
    ("harbour-3", "unpublish"),  # leaves lists, and the rails that showed it
    ("harbour-3", "publish"),  # live already: re-sent
    ("gone", "publish"),  # back after being taken down
    ("dated-draft", "unpublish"),  # never live: leaves nothing
]


@pytest.mark.parametrize(("slug", "action"), CHANGES)
def test_impact_answers_as_making_the_change_would(
    services: Services, newsroom: Newsroom, slug: str, action: impact.Action
) -> None:
    expected = impact_by_writing(services, slug, action)
    before = fingerprint(services)
    assert impact.impact(services, slug, action, NOW) == expected
    assert fingerprint(services) == before


def test_the_catalogue_reaches_rails(services: Services, newsroom: Newsroom) -> None:
    """An older like article is in the draft's answer only through its "More like this"
    rail (the "Latest articles" rails that change are those of newer articles)."""
    keys = {spec.key for spec in impact_by_writing(services, "dated-draft", "publish")}
    assert "world/2024/11/03/harbour-3/index.html" in keys


def test_rails_showing_a_reindexed_article_are_counted_as_changed(
    services: Services, newsroom: Newsroom
) -> None:
    """A live article edited but not indexed again yet: whether the rails showing it change
    only its new postings in the database could tell. Impact names their pages: a page too
    many, never one too few."""
    data, _ = parse_article(story("harbour-3", "harbour", 3, body="Quay repairs overrun."))
    with transaction(services.sessions) as session:
        articles.publish(session, data, actor="test")  # saved; its event not processed
        edited = articles.article_by_slug(session, "harbour-3").id
        holders = {
            key_of(holder)
            for holder in session.scalars(
                select(Article).where(Article.id.in_(services.related.holders(session, edited)))
            )
        }
    assert holders
    expected = {spec.key for spec in impact_by_writing(services, "harbour-3", "publish")}
    found = {spec.key for spec in impact.impact(services, "harbour-3", "publish", NOW)}
    assert expected <= found
    assert found - expected <= holders


# -- on PostgreSQL: locks ---------------------------------------------------------------------

WRITE_LOCKS = """
    SELECT locktype, relation::regclass::text, mode FROM pg_locks
    WHERE pid = %s AND locktype <> 'virtualxid' AND mode <> 'AccessShareLock'
"""


def backend_pid(connection: Connection) -> int:
    raw = connection.connection.dbapi_connection
    assert isinstance(raw, psycopg.Connection)
    return int(raw.info.backend_pid)


def as_it_ends(services: Services, probe: Callable[[Connection], None]) -> list[Connection]:
    """Run `probe` once, as the next transaction on the engine ends, before its locks go."""
    seen: list[Connection] = []

    def hook(connection: Connection) -> None:
        if not seen:
            seen.append(connection)
            probe(connection)

    event.listen(services.engine, "rollback", hook)
    event.listen(services.engine, "commit", hook)
    return seen


def publisher(services: Services) -> Services:
    """Another process's services on the same database, whose lock waits give up after 5 s
    (so a publish blocked by impact fails the test instead of hanging it)."""
    other = create_services(services.settings)

    @event.listens_for(other.engine, "connect")
    def impatient(connection: Any, _record: Any) -> None:
        connection.execute("SET lock_timeout = '5s'")
        connection.commit()

    other.engine.dispose()  # the connections its migration check opened had no timeout
    return other


@pytest.mark.parametrize("services", ["postgresql"], indirect=True)
def test_impact_takes_no_write_lock_and_a_publish_commits_meanwhile(
    services: Services, newsroom: Newsroom
) -> None:
    other = Newsroom(publisher(services))
    found: dict[str, Any] = {}

    def probe(connection: Connection) -> None:
        # Impact's transaction is still open here, holding whatever it took.
        with psycopg.connect(services.settings.database_url, autocommit=True) as watcher:
            found["locks"] = watcher.execute(WRITE_LOCKS, [backend_pid(connection)]).fetchall()
        # A like article, in the same month and beat: it needs the same sitemap month row,
        # document counts and rails as the draft impact asks about.
        data, _ = parse_article(story("meanwhile", "harbour", 14))
        try:
            with transaction(other.services.sessions) as session:
                change = articles.publish(session, data, actor="test")
            # Processed here, not dispatched: a lock wait that times out fails at once
            # instead of being retried later.
            outcome = process_event(other.services, other.dispatcher, change.event_id)
            found["publish"] = outcome.status
        except Exception as error:  # reported by the assertion below
            found["publish"] = repr(error)

    seen = as_it_ends(services, probe)
    specs = impact.impact(services, "dated-draft", "publish", NOW)
    assert seen, "impact ran no transaction"
    assert found["locks"] == []
    assert found["publish"] == "live"
    assert specs  # and impact answered
    other.services.engine.dispose()


@pytest.mark.parametrize("services", ["postgresql"], indirect=True)
def test_impact_runs_in_a_read_only_transaction(services: Services, newsroom: Newsroom) -> None:
    """PostgreSQL itself refuses any write impact might attempt."""
    modes: list[str] = []

    def probe(connection: Connection) -> None:
        raw = connection.connection.dbapi_connection
        assert isinstance(raw, psycopg.Connection)
        row = raw.execute("SHOW transaction_read_only").fetchone()
        modes.append(str(row[0]) if row else "")

    as_it_ends(services, probe)
    impact.impact(services, "harbour-3", "unpublish", NOW)
    assert modes == ["on"]


# -- on PostgreSQL, through HTTP: publishes during a burst of impact calls ----------------------


@pytest.mark.parametrize("services", ["postgresql"], indirect=True)
def test_publishes_complete_during_a_burst_of_impact_calls(
    services: Services, newsroom: Newsroom, editor: Headers, reader: Headers
) -> None:
    app = create_app(services.settings, ApiSettings(rate_per_minute=100_000), services=services,
                     embedded_jobs=False)  # fmt: skip
    published = 6
    done = threading.Event()
    impacts: list[int] = []

    def ask(base: str) -> None:
        with httpx.Client(base_url=base, headers=reader, timeout=60) as http:
            while not done.is_set() or len(impacts) < published:
                impacts.append(http.get("/v1/articles/dated-draft/impact").status_code)

    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        askers = [threading.Thread(target=ask, args=(server.url,)) for _ in range(3)]
        for asker in askers:
            asker.start()
        try:
            outcomes = []
            for number in range(published):
                body = content(title=f"Harbour {number} " + BEATS["harbour"], tags=["harbour"],
                               published_at=f"2024-11-{15 + number}T08:00:00Z")  # fmt: skip
                response = http.put(f"/v1/articles/burst-{number}", params={"publish": "true"},
                                    headers=editor, json=body)  # fmt: skip
                assert response.status_code == 202, response.text
                # Long-polled until the change is live or failed (the whole publish: index,
                # rails, sitemap month, pages), while impact calls keep coming.
                followed = http.get(response.headers["Location"], params={"wait": 30},
                                    headers=editor)  # fmt: skip
                outcomes.append(followed.json()["status"])
        finally:
            done.set()
            for asker in askers:
                asker.join(120)
    assert outcomes == ["live"] * published
    assert len(impacts) >= published
    assert set(impacts) == {200}
    for number in range(published):
        key = f"world/2024/11/{15 + number}/burst-{number}/index.html"
        assert services.storage.get(key) is not None, key
