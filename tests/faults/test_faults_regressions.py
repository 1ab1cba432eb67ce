"""Regression tests, in-process and fast, for the bugs the fault scenarios found. Each names
the scenario that found it; the scenario itself shows the bug on the real stack."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from pipeline.config import Settings
from pipeline.content import articles
from pipeline.content.inputs import InvalidInput, parse_article
from pipeline.db import transaction
from pipeline.events.models import Event, EventStatus
from pipeline.events.processing import process_event
from pipeline.events.relay import relay
from pipeline.publish import build
from pipeline.publish.build import Publisher
from pipeline.publish.models import ListRefresh, Output, RefreshState
from pipeline.publish.refresh import mark_dirty_lists, refresh_lists
from pipeline.schema import utcnow
from pipeline.services import Services
from pipeline.site.outputs import Kind, OutputSpec
from pipeline.storage import Storage, StoredObject, TransientStorageError
from tests.conftest import Newsroom, article_data
from tests.dispatchers import Held
from tests.realstack import RedisServer


def test_an_event_whose_every_try_died_ends_failed(services: Services) -> None:
    """Poison scenario: a render that kills its process never records an error, and Celery
    hands the message straight back; the event used to start again forever."""
    data, _ = parse_article(article_data(slug="crashes-its-worker"))
    with transaction(services.sessions) as session:
        change = articles.publish(session, data, actor="test")
    with transaction(services.sessions) as session:
        # What five starts that each died mid-render leave behind.
        session.execute(
            update(Event)
            .where(Event.id == change.event_id)
            .values(status=EventStatus.STARTED, attempts=services.settings.max_attempts)
        )
    outcome = process_event(services, Held(), change.event_id)
    assert outcome.status == EventStatus.FAILED
    with transaction(services.sessions) as session:
        event = session.get(Event, change.event_id)
        assert event is not None
        assert event.status == EventStatus.FAILED
        assert event.error == "gave up after 5 attempts: none of them finished"
        assert event.attempts == 5


def test_a_rendered_event_sent_again_is_not_counted_out(newsroom: Newsroom) -> None:
    """The bound above is for tries that never finished: an event whose pages are done and
    that waits for its lists (the relay re-sends those) is not failed for its count."""
    services = newsroom.services
    event_id, queue = _rendered_and_waiting(services, "waits-for-its-lists")
    with transaction(services.sessions) as session:
        session.execute(
            update(Event)
            .where(Event.id == event_id)
            .values(attempts=services.settings.max_attempts)
        )
    assert process_event(services, queue, event_id).status == EventStatus.RENDERED


def _rendered_and_waiting(services: Services, slug: str) -> tuple[int, Held]:
    """A published article's event with its pages out, waiting for its lists' refreshes
    (which the returned recorder holds, unsent): the refresh its own task tried first failed
    (a store hiccup), which queues them as a refresh task."""
    data, _ = parse_article(article_data(slug=slug))
    with transaction(services.sessions) as session:
        change = articles.publish(session, data, actor="test")
    queue = Held()
    build_outputs = services.publisher.build

    def lists_fail(factory: Any, specs: Any, **options: Any) -> Any:
        if options.get("event_id") is None:  # a list refresh: the event's builds name it
            raise TransientStorageError("503 from the store")
        return build_outputs(factory, specs, **options)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(services.publisher, "build", lists_fail)
        assert process_event(services, queue, change.event_id).status == EventStatus.RENDERED
    assert [kind for kind, _ in queue.sent] == ["lists"]
    return change.event_id, queue


def test_a_refresh_whose_worker_died_is_resent_while_publishes_keep_coming(
    services: Services,
) -> None:
    """SIGKILL scenario: every publish stamped the list row, so the relay, which re-sends a
    refresh running for longer than PRESSRUN_RELAY_STUCK_SECONDS, never saw it as stuck while
    publishes kept coming, and every event waiting for the list stayed unfinished."""
    long_ago = utcnow() - timedelta(hours=1)
    with transaction(services.sessions) as session:
        mark_dirty_lists(session, {"latest": {OutputSpec(Kind.HOME)}}, None)
        session.execute(
            update(ListRefresh)
            .where(ListRefresh.list_key == "latest")
            .values(state=RefreshState.RUNNING, updated_at=long_ago)
        )
    with transaction(services.sessions) as session:  # a publish while it "runs"
        assert not mark_dirty_lists(session, {"latest": {OutputSpec(Kind.FEED_LATEST)}}, None)
    recorder = Held()
    report = relay(services, recorder)
    assert report.lists == ["latest"]
    assert ("lists", ["latest"]) in recorder.sent
    with transaction(services.sessions) as session:
        row = session.scalars(select(ListRefresh)).one()
        assert row.state == RefreshState.QUEUED
        assert row.rerun


def test_an_event_waiting_on_its_queue_is_resent_once_per_stuck_period(
    services: Services,
) -> None:
    """Burst scenario: events queued behind a backlog for longer than the stuck limit were
    sent again on every relay round (thousands of duplicates in one burst); now once per
    stuck period, and a re-sent undispatched event is marked dispatched."""
    long_ago = utcnow() - timedelta(hours=1)
    events = []
    for number, status in enumerate((EventStatus.DISPATCHED, EventStatus.ACCEPTED)):
        data, _ = parse_article(article_data(slug=f"queued-behind-a-backlog-{number}"))
        with transaction(services.sessions) as session:
            events.append(articles.publish(session, data, actor="test").event_id)
        with transaction(services.sessions) as session:
            session.execute(
                update(Event)
                .where(Event.id == events[-1])
                .values(status=status, accepted_at=long_ago)
            )
    recorder = Held()
    assert relay(services, recorder).events == events
    assert relay(services, recorder).events == []
    assert recorder.sent == [("event", event_id) for event_id in events]
    with transaction(services.sessions) as session:
        rows = session.scalars(select(Event).where(Event.id.in_(events))).all()
        assert {row.status for row in rows} == {EventStatus.DISPATCHED}
        assert all(row.relayed_at is not None for row in rows)
        session.execute(update(Event).values(relayed_at=long_ago))
    assert relay(services, recorder).events == events


def test_a_list_that_keeps_failing_fails_the_events_waiting_on_it(
    newsroom: Newsroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Poison hunt: a list whose render always raised was given back and re-sent by the relay
    for ever, and the events waiting on it never finished. Transient errors are retried up to
    `max_attempts`; then (or at once for any other error) the waiting events fail with the
    error, and the list's outputs stay dirty for the next change."""
    services = newsroom.services
    event_id, queue = _rendered_and_waiting(services, "waits-on-a-broken-list")
    list_key = _first_list(queue)

    def broken(*_: object, **__: object) -> None:
        raise TransientStorageError("503 from the store")

    monkeypatch.setattr(services.publisher, "build", broken)
    for _ in range(services.settings.max_attempts - 1):
        with pytest.raises(TransientStorageError):
            refresh_lists(services, queue, [list_key])
        assert _status(services, event_id) == EventStatus.RENDERED
    with pytest.raises(TransientStorageError):
        refresh_lists(services, queue, [list_key])
    with transaction(services.sessions) as session:
        event = session.get(Event, event_id)
        assert event is not None
        assert event.status == EventStatus.FAILED
        assert event.error is not None
        assert list_key in event.error
        assert "503" in event.error
        row = session.get(ListRefresh, list_key)
        assert row is not None
        assert row.state == RefreshState.IDLE
        assert row.specs
        assert row.failures == 0


def test_a_list_failing_for_good_fails_its_events_at_once(
    newsroom: Newsroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = newsroom.services
    event_id, queue = _rendered_and_waiting(services, "waits-on-a-template-bug")
    list_key = _first_list(queue)

    def broken(*_: object, **__: object) -> None:
        raise ValueError("the template broke")

    monkeypatch.setattr(services.publisher, "build", broken)
    with pytest.raises(ValueError, match="template broke"):
        refresh_lists(services, queue, [list_key])
    assert _status(services, event_id) == EventStatus.FAILED


def test_one_broken_list_does_not_hold_back_the_others_built_with_it(
    newsroom: Newsroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An event's lists are refreshed as one build; when one of them cannot render, the
    batch splits into one refresh per list: the others go live, the broken one fails its
    events as a single list always did."""
    services = newsroom.services
    event_id, queue = _rendered_and_waiting(services, "shares-a-batch-with-a-broken-list")
    [(kind, batch)] = queue.sent
    assert kind == "lists"
    assert {"latest", "sitemaps"} <= set(batch)
    original = services.publisher.build

    def sitemaps_broken(factory: object, specs: object, **options: object) -> object:
        chosen = set(specs)  # type: ignore[call-overload]
        if any(spec.kind == Kind.SITEMAP_INDEX for spec in chosen):
            raise ValueError("the sitemap template broke")
        return original(factory, chosen, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(services.publisher, "build", sitemaps_broken)
    before = services.storage.get("index.html")
    assert refresh_lists(services, queue, batch) is None
    singles = queue.sent[1:]
    assert sorted(singles) == sorted(("lists", [key]) for key in batch)
    for _, keys in singles:
        if keys == ["sitemaps"]:
            with pytest.raises(ValueError, match="sitemap template"):
                refresh_lists(services, queue, keys)
        else:
            assert refresh_lists(services, queue, keys) is not None
    assert services.storage.get("index.html") != before
    assert b"shares-a-batch-with-a-broken-list" in (services.storage.get("index.html") or b"")
    with transaction(services.sessions) as session:
        event = session.get(Event, event_id)
        assert event is not None
        assert event.status == EventStatus.FAILED
        assert event.pending_lists == ["sitemaps"]


def _first_list(queue: Held) -> str:
    """The first list key the recorder was asked to refresh."""
    return next(keys[0] for kind, keys in queue.sent if kind == "lists")  # type: ignore[index]


def _status(services: Services, event_id: int) -> EventStatus:
    with transaction(services.sessions) as session:
        event = session.get(Event, event_id)
        assert event is not None
        return event.status


def test_the_last_supported_month_does_not_block_the_sitemaps(newsroom: Newsroom) -> None:
    """Poison hunt: a real input that broke rendering. The month after December 9999 does
    not exist in Python, so its sitemap raised, and with it every refresh of the sitemaps.
    December 9999 is now refused at the door; the last month taken still renders."""
    with pytest.raises(InvalidInput) as refused:
        parse_article(article_data(published_at="9999-12-31T09:00:00Z"))
    assert refused.value.field == "published_at"
    last = newsroom.publish(slug="until-further-notice", published_at="9998-12-31T23:59:59Z")
    later = newsroom.publish(slug="an-ordinary-day", published_at="2024-05-02T09:00:00Z")
    assert last.status == EventStatus.LIVE
    assert later.status == EventStatus.LIVE
    assert "until-further-notice" in (newsroom.read("sitemaps/9998-12.xml") or "")
    assert "an-ordinary-day" in (newsroom.read("sitemaps/2024-05.xml") or "")
    assert "sitemaps/9998-12.xml" in (newsroom.read("sitemap.xml") or "")


def test_sending_to_a_stopped_broker_gives_up_at_once(tmp_path: Path) -> None:
    """Redis scenario: each publish while the broker was down waited about 6 s for kombu's
    connection retries (the README promises 3 s at most); the relay sends it later anyway."""
    from workers.app import CeleryDispatcher, create_app

    server = RedisServer(tmp_path)
    server.start()
    try:
        dispatcher = CeleryDispatcher(
            create_app(Settings(broker_url=server.url, queue_prefix="regression-"))
        )
        dispatcher.dispatch(1)
        server.stop()
        for _ in range(3):
            started = time.monotonic()
            try:
                dispatcher.dispatch(2)
            except Exception:  # refused: what the domain catches
                pass
            else:
                raise AssertionError("sent to a stopped broker")
            assert time.monotonic() - started < 3
        server.start()
        dispatcher.dispatch(3)  # and it sends again as soon as the broker is back
        assert server.client().llen("regression-events") == 1
    finally:
        server.stop()


class LandsThenFails:
    """A store whose PUTs take effect and then answer an error (a 500 or a reset after the
    request reached the server, once botocore's own retries are spent): the caller cannot
    tell that its bytes landed. `before` runs first: what other workers did meanwhile."""

    def __init__(self, storage: Storage, before: Callable[[], object] = lambda: None) -> None:
        self.storage = storage
        self.before = before

    def put_many(self, items: Sequence[StoredObject]) -> None:
        self.before()
        self.storage.put_many(items)
        raise TransientStorageError("InternalError on S3 put: injected after the store took it")

    def __getattr__(self, name: str) -> object:
        return getattr(self.storage, name)


def _month_with_an_article_about_to_go(newsroom: Newsroom) -> OutputSpec:
    """A month sitemap listing `goes`, with one more article committed for it that no
    event has written yet: a build of the sitemap has bytes to write."""
    newsroom.publish(slug="stays", published_at="2024-03-01T09:00:00Z")
    newsroom.publish(slug="goes", published_at="2024-03-02T09:00:00Z")
    data, _ = parse_article(article_data(slug="arrives", published_at="2024-03-03T09:00:00Z"))
    with transaction(newsroom.services.sessions) as session:
        articles.publish(session, data, actor="test")  # its event is never sent
    return OutputSpec(Kind.SITEMAP_MONTH, "2024-03")


def _assert_current(newsroom: Newsroom, spec: OutputSpec) -> None:
    sitemap = newsroom.read(spec.key) or ""
    assert "/arrives/" in sitemap
    assert "/goes/" not in sitemap, "the sitemap still lists an unpublished article"


def test_a_failed_put_that_landed_after_a_newer_write_is_written_again_by_its_retry(
    newsroom: Newsroom,
) -> None:
    """S3 scenario (stale and resurrected `sitemaps/2024-03.xml`): a refresh rendered the
    month's sitemap, an unpublish then wrote a newer one, and the refresh's PUT landed after
    it but answered 500. The build raised before its re-check, so the older sitemap stayed;
    its retry rendered the newer bytes, found them in the manifest (recorded by the
    unpublish) and skipped the write as unchanged."""
    services = newsroom.services
    spec = _month_with_an_article_about_to_go(newsroom)
    failing = Publisher(
        services.renderer,
        LandsThenFails(services.storage, before=lambda: newsroom.unpublish("goes")),
    )
    with pytest.raises(TransientStorageError):
        failing.build(services.sessions, [spec])
    assert "/goes/" in (newsroom.read(spec.key) or "")  # the older render landed last
    services.publisher.build(services.sessions, [spec])  # the task's retry
    _assert_current(newsroom, spec)


def test_a_failed_put_that_lands_while_the_newer_write_records_is_written_again(
    newsroom: Newsroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same race, with the newer writer recording its manifest row only after the failed
    build gave up: it must not take the failed build's mark away (it cannot tell whose PUT
    landed last), so the retry still writes the key."""
    services = newsroom.services
    spec = _month_with_an_article_about_to_go(newsroom)
    with transaction(services.sessions) as session:
        stale, _ = services.publisher.render_all(session, [spec])
    failing = Publisher(services.renderer, LandsThenFails(services.storage))
    storage = services.publisher.storage
    landed = []

    class NewerWriter:
        """The unpublish's store: after its sitemap PUT, the older PUT lands and fails."""

        def put_many(self, items: Sequence[StoredObject]) -> None:
            storage.put_many(items)
            if any(item.key == spec.key for item in items) and not landed:
                landed.append(spec.key)
                with pytest.raises(TransientStorageError):
                    failing.sync(services.sessions, stale, None)

        def __getattr__(self, name: str) -> object:
            return getattr(storage, name)

    monkeypatch.setattr(services.publisher, "storage", NewerWriter())
    newsroom.unpublish("goes")
    assert landed == [spec.key]
    assert "/goes/" in (newsroom.read(spec.key) or "")  # the older render landed last
    services.publisher.build(services.sessions, [spec])  # the failed task's retry
    _assert_current(newsroom, spec)


def test_a_build_whose_manifest_write_fails_after_a_late_put_is_written_again(
    newsroom: Newsroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Postgres scenario, the same hole from the database's side: the PUTs went through, but
    the manifest's transaction failed (a killed connection, a deadlock victim), so the build
    ended before its re-check while its older sitemap had landed after the newer one."""
    services = newsroom.services
    spec = _month_with_an_article_about_to_go(newsroom)
    with transaction(services.sessions) as session:
        stale, _ = services.publisher.render_all(session, [spec])
    newsroom.unpublish("goes")
    original = build.record_manifest

    def connection_lost(*args: Any, **kwargs: Any) -> None:
        monkeypatch.setattr(build, "record_manifest", original)
        raise OperationalError("INSERT INTO outputs", {}, Exception("server closed the connection"))

    monkeypatch.setattr(build, "record_manifest", connection_lost)
    with pytest.raises(OperationalError):
        services.publisher.sync(services.sessions, stale, None)
    assert "/goes/" in (newsroom.read(spec.key) or "")
    services.publisher.build(services.sessions, [spec])  # the task's retry
    _assert_current(newsroom, spec)


def test_an_unsettled_output_no_retry_builds_is_built_by_the_relay(newsroom: Newsroom) -> None:
    """The mark is cleared by the next build of the key, usually the failed task's retry; when
    that retry plans other outputs (an event's retry does not plan again the rails its first
    try changed) or gives up, the relay builds what stayed marked for a stuck period."""
    services = newsroom.services
    spec = _month_with_an_article_about_to_go(newsroom)
    failing = Publisher(
        services.renderer,
        LandsThenFails(services.storage, before=lambda: newsroom.unpublish("goes")),
    )
    with pytest.raises(TransientStorageError):
        failing.build(services.sessions, [spec])
    assert relay(services, Held()).rewritten == 0  # the retry's turn first
    with transaction(services.sessions) as session:
        session.execute(update(Output).values(updated_at=utcnow() - timedelta(hours=1)))
    assert relay(services, Held()).rewritten == 1
    _assert_current(newsroom, spec)
    with transaction(services.sessions) as session:
        session.execute(update(Output).values(updated_at=utcnow() - timedelta(hours=1)))
    assert relay(services, Held()).rewritten == 0  # built and cleared: nothing left
