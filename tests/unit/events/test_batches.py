"""Bursts: an event started while other publishes wait on the queue takes them along, and
they are processed together (pipeline/events/processing.py, `_process_batch`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import select

from pipeline.config import Settings
from pipeline.content import articles
from pipeline.content.inputs import parse_article
from pipeline.db import transaction
from pipeline.events.models import Event, EventStatus
from pipeline.events.processing import dispatch_event, process_event
from pipeline.publish.refresh import mark_dirty_lists, refresh_lists
from pipeline.services import Services, create_services
from pipeline.site.outputs import Kind, OutputSpec
from tests.conftest import article_data
from tests.dispatchers import Held
from tests.faults.harness import compare, expected_site


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Batching is opt-in (PRESSRUN_EVENT_BATCH): these tests turn it on."""
    return replace(settings, event_batch=20)


def queued_publishes(services: Services, held: Held, count: int) -> list[int]:
    """`count` publishes committed and dispatched to a queue nobody reads yet."""
    sections = ("politics", "sport", "culture")
    event_ids = []
    for number in range(count):
        data, _ = parse_article(
            article_data(
                slug=f"burst-{number}",
                section=sections[number % 3],
                tags=[f"topic-{number % 2}"],
                body=f"Rates and markets, story {number}, about rates and markets again.",
            )
        )
        with transaction(services.sessions) as session:
            event_ids.append(articles.publish(session, data, actor="burst").event_id)
        dispatch_event(services, held, event_ids[-1])
    return event_ids


def drain(services: Services, held: Held) -> tuple[int, int]:
    """Deliver everything queued, newest first (a burst's messages arrive in any order);
    returns the event and list messages delivered."""
    events = lists = 0
    while held.sent:
        kind, item = held.sent.pop()
        if kind == "event":
            assert isinstance(item, int)
            process_event(services, held, item)
            events += 1
        else:
            assert isinstance(item, list)
            refresh_lists(services, held, item)
            lists += 1
    return events, lists


def statuses(services: Services, event_ids: list[int]) -> dict[int, EventStatus]:
    with transaction(services.sessions) as session:
        rows = session.execute(select(Event.id, Event.status).where(Event.id.in_(event_ids)))
        return {row.id: row.status for row in rows}


def assert_site_is_fresh(services: Services) -> None:
    stored = {key: services.storage.get(key) or b"" for key in services.storage.keys()}
    findings = compare(expected_site(services), stored, [])
    assert findings.clean, findings.details()


def test_a_burst_is_processed_by_its_first_started_event(services: Services) -> None:
    held = Held()
    event_ids = queued_publishes(services, held, 6)
    newest = event_ids[-1]
    held.sent.remove(("event", newest))

    process_event(services, held, newest)

    # Every publish of the burst has its pages written and, no refresh of its lists being
    # queued, its lists too, in the same task: no list task is sent.
    assert set(statuses(services, event_ids).values()) == {EventStatus.LIVE}
    assert [kind for kind, _ in held.sent].count("lists") == 0
    with transaction(services.sessions) as session:
        marks = session.scalars(select(Event.options).where(Event.id.in_(event_ids[:-1])))
        assert list(marks) == [{"batch": newest}] * 5
    # The others' own messages find nothing left to do.
    assert drain(services, held) == (5, 0)
    assert set(statuses(services, event_ids).values()) == {EventStatus.LIVE}
    assert_site_is_fresh(services)


def test_a_burst_coalesces_into_a_refresh_already_queued(services: Services) -> None:
    held = Held()
    event_ids = queued_publishes(services, held, 4)
    newest = event_ids[-1]
    held.sent.remove(("event", newest))
    with transaction(services.sessions) as session:
        queued = mark_dirty_lists(session, {"latest": {OutputSpec(Kind.HOME)}}, None)
    assert queued == ["latest"]

    process_event(services, held, newest)

    # "latest" had a refresh queued: the burst's events wait for it; its other lists were
    # refreshed in the task.
    assert set(statuses(services, event_ids).values()) == {EventStatus.RENDERED}
    with transaction(services.sessions) as session:
        pending = session.scalars(select(Event.pending_lists).where(Event.id.in_(event_ids)))
        assert {tuple(lists) for lists in pending} == {("latest",)}
    held.sent.append(("lists", ["latest"]))
    held.sent.sort(key=lambda sent: sent[0] == "lists", reverse=True)
    assert drain(services, held) == (3, 1)
    assert set(statuses(services, event_ids).values()) == {EventStatus.LIVE}
    assert_site_is_fresh(services)


def test_a_batch_makes_the_site_events_alone_make(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    sites = []
    for batch in (1, 20):
        folder = tmp_path_factory.mktemp(f"batch-{batch}")
        alone = replace(
            settings,
            database_url=f"sqlite:///{folder / 'pressrun.db'}",
            storage_url=f"file://{folder / 'site'}",
            event_batch=batch,
        )
        services = create_services(alone)
        try:
            held = Held()
            event_ids = queued_publishes(services, held, 8)
            drain(services, held)
            assert set(statuses(services, event_ids).values()) == {EventStatus.LIVE}
            assert_site_is_fresh(services)
            sites.append({key: services.storage.get(key) for key in services.storage.keys()})
        finally:
            services.engine.dispose()
    assert sites[0].keys() == sites[1].keys()


def test_a_batch_member_sent_again_after_a_stuck_period_is_processed(
    services: Services,
) -> None:
    """A batch whose worker died leaves its members started: their own messages wait for
    the relay's stuck period, then any delivery processes them."""
    held = Held()
    event_ids = queued_publishes(services, held, 3)
    with transaction(services.sessions) as session:
        for event in session.scalars(select(Event).where(Event.id.in_(event_ids[:2]))):
            event.status, event.options = EventStatus.STARTED, {"batch": event_ids[2]}
            event.started_at = event.accepted_at  # taken long ago
    quick = replace(services, settings=replace(services.settings, relay_stuck_seconds=0))
    outcome = process_event(quick, held, event_ids[0])
    assert outcome.status in (EventStatus.RENDERED, EventStatus.LIVE)
    drain(quick, held)
    assert set(statuses(services, event_ids).values()) == {EventStatus.LIVE}
    assert_site_is_fresh(services)


def publish_story(services: Services, held: Held, slug: str, words: str) -> int:
    data, _ = parse_article(
        article_data(slug=slug, section="news", tags=[], body=f"{words}. {words}, again {words}.")
    )
    with transaction(services.sessions) as session:
        event_id = articles.publish(session, data, actor="burst").event_id
    dispatch_event(services, held, event_id)
    return event_id


@pytest.fixture
def strict_services(settings: Settings) -> Iterator[Services]:
    """Only close stories are related: a change moves the rails of its own topic alone."""
    built = create_services(replace(settings, related_min_score=0.5))
    yield built
    built.engine.dispose()


def test_a_batch_that_fails_in_a_reverse_update_leaves_no_stale_page(
    strict_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch's reverse updates commit together or not at all: one member's moved rails
    committed while another's failed would leave pages nobody rewrites (the member going on
    alone finds its rails as it left them)."""
    services = strict_services
    held = Held()
    publish_story(services, held, "volcano", "volcano lava eruption ash crater")
    drain(services, held)
    publish_story(services, held, "lava", "lava volcano eruption crater ash cloud")
    publish_story(services, held, "ballot", "ballot election vote count turnout")
    leader = publish_story(services, held, "goal", "goal striker match keeper penalty")
    held.sent.remove(("event", leader))
    spread = services.related.spread_change
    calls = {"count": 0}

    def deadlocks_on_the_last(session: Any, article_id: int, pending: Any) -> set[int]:
        calls["count"] += 1
        if calls["count"] == 3:
            raise RuntimeError("deadlock detected (simulated)")
        return spread(session, article_id, pending)

    monkeypatch.setattr(services.related, "spread_change", deadlocks_on_the_last)
    process_event(services, held, leader)
    drain(services, held)

    assert calls["count"] > 3
    assert_site_is_fresh(services)
