"""The article page first, the rest in the same task (pipeline/events/processing.py): a page
goes live before its rail is computed (a new article) or with its stored rail (an update),
and the lists it enters are refreshed by the event's own task when no refresh of them is
queued, coalesced into the queued one when there is."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select

from pipeline.content import articles, schedule
from pipeline.content.inputs import parse_article
from pipeline.db import transaction
from pipeline.events.models import Event, EventStatus
from pipeline.events.processing import dispatch_event, process_event
from pipeline.publish.refresh import mark_dirty_lists, refresh_lists
from pipeline.render.renderer import Renderer
from pipeline.schema import utcnow
from pipeline.services import Services
from pipeline.site.outputs import Kind, OutputSpec
from pipeline.storage import StoredObject
from tests.conftest import Newsroom, article_data
from tests.dispatchers import Held
from tests.unit.related.topics import publish_topic

HOME = OutputSpec(Kind.HOME).key


class PutLog:
    """Every object the storage was given, in order."""

    def __init__(self, services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
        self.puts: list[StoredObject] = []
        storage = services.storage
        put_many = storage.put_many

        def logged(items: Sequence[StoredObject]) -> None:
            put_many(items)
            self.puts.extend(items)

        monkeypatch.setattr(storage, "put_many", logged)

    def bodies(self, key: str) -> list[bytes]:
        return [item.body for item in self.puts if item.key == key]

    def keys(self) -> list[str]:
        return [item.key for item in self.puts]


def rail_of(body: bytes) -> list[str]:
    page = BeautifulSoup(body.decode("utf-8"), "html5lib")
    return [a["href"].rstrip("/").split("/")[-1] for a in page.select("#related-rail li a")]


def test_a_new_articles_page_goes_live_before_its_rail_then_with_it(
    newsroom: Newsroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish_topic(newsroom, "volcano-first", "volcano")
    log = PutLog(newsroom.services, monkeypatch)

    outcome = publish_topic(newsroom, "volcano-next", "volcano", extra="ash closes roads")

    key = newsroom.key("volcano-next")
    first, *_, last = log.bodies(key)
    assert log.keys()[0] == key  # before anything else of the event
    assert rail_of(first) == []  # its rail was not known yet
    assert rail_of(last) == ["volcano-first"]  # rewritten once it was
    assert outcome.report is not None
    assert outcome.report.written.count(key) == 1
    with transaction(newsroom.services.sessions) as session:
        event = session.get(Event, outcome.event_id)
        assert event is not None
        assert event.page_live_at is not None
        assert event.started_at is not None
        assert event.rendered_at is not None
        assert event.started_at <= event.page_live_at <= event.rendered_at


def test_an_updates_page_goes_live_once_with_its_stored_rail(
    newsroom: Newsroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish_topic(newsroom, "volcano-a", "volcano")
    publish_topic(newsroom, "volcano-b", "volcano", extra="lava")
    log = PutLog(newsroom.services, monkeypatch)

    outcome = publish_topic(newsroom, "volcano-b", "volcano", extra="lava, corrected")

    key = newsroom.key("volcano-b")
    assert log.keys()[0] == key
    assert [rail_of(body) for body in log.bodies(key)] == [["volcano-a"]]
    assert outcome.status == EventStatus.LIVE


def held_publish(services: Services, held: Held, slug: str) -> int:
    data, _ = parse_article(article_data(slug=slug, section="sport", tags=["cup"]))
    with transaction(services.sessions) as session:
        event_id = articles.publish(session, data, actor="test").event_id
    dispatch_event(services, held, event_id)
    assert held.take("event") == [event_id]
    return event_id


def event_row(services: Services, event_id: int) -> Event:
    with transaction(services.sessions) as session:
        event = session.get(Event, event_id)
        assert event is not None
        session.expunge(event)
        return event


def test_lists_are_refreshed_by_the_events_own_task_when_none_is_queued(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = Held()
    event_id = held_publish(services, held, "final-whistle")
    log = PutLog(services, monkeypatch)

    process_event(services, held, event_id)

    event = event_row(services, event_id)
    assert event.status == EventStatus.LIVE
    assert held.sent == []  # no list task: the same task did it all
    assert event.pending_lists == []
    assert event.outputs is not None
    assert HOME in event.outputs["written"]
    # Lists still land after the pages they link to.
    keys = log.keys()
    assert keys.index(HOME) > keys.index(event.outputs["written"][0])
    assert "final-whistle" in (services.storage.get(HOME) or b"").decode()


def test_lists_with_a_refresh_queued_are_coalesced_into_it(services: Services) -> None:
    held = Held()
    event_id = held_publish(services, held, "extra-time")
    with transaction(services.sessions) as session:
        assert mark_dirty_lists(session, {"latest": {OutputSpec(Kind.HOME)}}, None) == ["latest"]

    process_event(services, held, event_id)

    # Its other lists were refreshed in the task; "latest" waits for the queued refresh.
    event = event_row(services, event_id)
    assert event.status == EventStatus.RENDERED
    assert event.pending_lists == ["latest"]
    assert held.sent == []
    assert "extra-time" not in (services.storage.get(HOME) or b"").decode()
    refresh_lists(services, held, ["latest"])
    assert event_row(services, event_id).status == EventStatus.LIVE
    assert "extra-time" in (services.storage.get(HOME) or b"").decode()


def test_a_list_failing_in_the_events_task_is_queued_as_a_refresh(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = Held()
    event_id = held_publish(services, held, "penalties")
    render = Renderer.render

    def broken_home(self: Renderer, session: object, spec: OutputSpec) -> object:
        if spec.kind == Kind.HOME:
            raise RuntimeError("home template exploded")
        return render(self, session, spec)  # type: ignore[arg-type]

    monkeypatch.setattr(Renderer, "render", broken_home)
    process_event(services, held, event_id)

    # The event's pages are live; its lists went back to the queue, as one refresh task.
    event = event_row(services, event_id)
    assert event.status == EventStatus.RENDERED
    assert event.page_live_at is not None
    queued = held.take("lists")
    assert len(queued) == 1
    monkeypatch.setattr(Renderer, "render", render)
    refresh_lists(services, held, queued[0])  # type: ignore[arg-type]
    assert event_row(services, event_id).status == EventStatus.LIVE
    assert "penalties" in (services.storage.get(HOME) or b"").decode()
    with transaction(services.sessions) as session:
        assert session.scalar(select(Event.error).where(Event.id == event_id)) is None


def test_the_page_written_first_is_never_deleted_ahead_of_its_lists(newsroom: Newsroom) -> None:
    """Taken down between the event's start and its first build: that build (writes only)
    leaves the page for the take-down's own event, which deletes it after the lists that
    link to it."""
    published = newsroom.publish(slug="taken-down")
    assert published.report is not None
    key = next(key for key in published.report.written if "taken-down" in key)
    services = newsroom.services
    with transaction(services.sessions) as session:  # not dispatched: nothing processes it
        schedule.unpublish_now(session, "taken-down", actor="test", now=utcnow())
    page = {OutputSpec(Kind.ARTICLE, key)}
    first = services.publisher.build(services.sessions, page, writes_only=True)
    assert first.deleted == []
    assert newsroom.read(key) is not None
    assert "/politics/2024/01/01/taken-down/" in (newsroom.read(HOME) or "")  # linked: stays
    # The control: a build that may delete (the event's planned one, after its lists) does.
    assert services.publisher.build(services.sessions, page).deleted == [key]
