"""The write path and event processing: one transaction, dispatch after commit, idempotent."""

from __future__ import annotations

from sqlalchemy import select, update

from pipeline.content import articles
from pipeline.content.inputs import parse_article
from pipeline.content.models import Article
from pipeline.db import transaction
from pipeline.events.models import Event, EventKind, EventStatus
from pipeline.events.processing import finish_unfinished, process_event
from tests.conftest import Newsroom, article_data


def test_publish_writes_article_and_event_in_one_transaction(newsroom: Newsroom) -> None:
    data, _ = parse_article(article_data(slug="one"))
    with transaction(newsroom.services.sessions) as session:
        change = articles.publish(session, data, actor="desk")
        session.rollback()
    with transaction(newsroom.services.sessions) as session:
        assert session.scalar(select(Article).where(Article.slug == "one")) is None
        assert session.get(Event, change.event_id) is None


def test_event_reaches_live_with_every_stage_timed(newsroom: Newsroom) -> None:
    outcome = newsroom.publish(slug="timed")
    assert outcome.status == EventStatus.LIVE
    with transaction(newsroom.services.sessions) as session:
        event = session.get(Event, outcome.event_id)
        assert event is not None
        stages = [event.accepted_at, event.dispatched_at, event.started_at, event.rendered_at]
        assert all(stage is not None for stage in stages)
        assert event.live_at is not None
        assert stages == sorted(stages)
        assert event.live_at >= event.rendered_at  # type: ignore[operator]
        assert event.kind == EventKind.PUBLISH
        assert event.outputs is not None
        assert newsroom.key("timed") in event.outputs["written"]


def test_running_a_task_twice_writes_nothing_the_second_time(newsroom: Newsroom) -> None:
    outcome = newsroom.publish(slug="twice")
    before = {key: newsroom.services.storage.get(key) for key in newsroom.stored_keys()}
    with transaction(newsroom.services.sessions) as session:
        session.execute(
            update(Event).where(Event.id == outcome.event_id).values(status=EventStatus.DISPATCHED)
        )
    again = process_event(newsroom.services, newsroom.dispatcher, outcome.event_id)
    assert again.report is not None
    assert again.report.written == []
    assert again.report.deleted == []
    assert again.report.unchanged > 0
    assert {key: newsroom.services.storage.get(key) for key in newsroom.stored_keys()} == before


def test_republishing_identical_content_keeps_the_version(newsroom: Newsroom) -> None:
    first = newsroom.publish(slug="same", title="Same title", published_at="2024-02-01T00:00:00Z")
    second = newsroom.publish(slug="same", title="Same title", published_at="2024-02-01T00:00:00Z")
    assert first.report is not None
    assert second.report is not None
    assert second.report.written == []
    with transaction(newsroom.services.sessions) as session:
        versions = session.scalars(select(Event.article_version).order_by(Event.id)).all()
    assert versions == [1, 1]


def test_update_bumps_version_and_unpublish_bumps_again(newsroom: Newsroom) -> None:
    newsroom.publish(slug="grow", title="First headline")
    newsroom.publish(slug="grow", title="Second headline")
    newsroom.unpublish("grow")
    with transaction(newsroom.services.sessions) as session:
        kinds = session.execute(select(Event.kind, Event.article_version).order_by(Event.id))
        assert [(str(k), v) for k, v in kinds] == [
            ("publish", 1),
            ("update", 2),
            ("unpublish", 3),
        ]


def test_unfinished_events_are_finished_by_the_next_process(newsroom: Newsroom) -> None:
    # A process that committed and crashed before dispatching leaves an accepted event.
    data, _ = parse_article(article_data(slug="orphaned"))
    with transaction(newsroom.services.sessions) as session:
        change = articles.publish(session, data, actor="crashed")
    assert newsroom.read(newsroom.key("orphaned")) is None
    outcomes = finish_unfinished(newsroom.services, newsroom.dispatcher)
    assert [o.event_id for o in outcomes] == [change.event_id]
    assert outcomes[0].status == EventStatus.LIVE
    assert newsroom.read(newsroom.key("orphaned")) is not None


def test_a_render_error_marks_the_event_failed_but_keeps_the_change(
    newsroom: Newsroom, monkeypatch: object
) -> None:
    import pytest

    renderer = newsroom.services.renderer

    def broken(*args: object) -> None:
        raise RuntimeError("template exploded")

    patch = pytest.MonkeyPatch()
    patch.setattr(renderer, "article_page", broken)
    try:
        outcome = newsroom.publish(slug="broken")
    finally:
        patch.undo()
    assert outcome.status == EventStatus.FAILED
    assert "template exploded" in (outcome.error or "")
    with transaction(newsroom.services.sessions) as session:
        assert session.scalar(select(Article).where(Article.slug == "broken")) is not None
