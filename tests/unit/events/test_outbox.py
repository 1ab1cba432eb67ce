"""The outbox's hand-off: sessions note the events their transaction wrote and hand them on
once it has committed and closed; a rollback forgets them."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from pipeline.content import schedule
from pipeline.content.inputs import parse_article
from pipeline.db import transaction
from pipeline.events import outbox
from pipeline.events.models import Event, EventStatus
from pipeline.events.processing import Outcome
from pipeline.publish.reconcile import ReconcileReport, record_run
from pipeline.schema import utcnow
from pipeline.services import Services
from tests.conftest import article_data


class Recorder:
    """A dispatch that only says which events it was handed."""

    def __init__(self) -> None:
        self.handed: list[int] = []

    def __call__(self, event_id: int) -> Outcome:
        self.handed.append(event_id)
        return Outcome(event_id, EventStatus.DISPATCHED)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def desk(services: Services, recorder: Recorder) -> Services:
    return services.dispatching(recorder)


def publish(written: outbox.Written, slug: str) -> int:
    data, _ = parse_article(article_data(slug=slug))
    return schedule.save_and_publish(written.session, data, actor="t", now=utcnow()).event_id


def event_count(services: Services) -> int:
    with transaction(services.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(Event)) or 0)


def test_each_event_is_handed_on_once_after_the_transaction_closed(
    desk: Services, recorder: Recorder
) -> None:
    with outbox.writing(desk.sessions) as written:
        first, second = publish(written, "one"), publish(written, "two")
        written.session.flush()  # flushed again: still noted once
        assert recorder.handed == []
    assert recorder.handed == [first, second]
    assert [outcome.event_id for outcome in written.dispatched] == [first, second]


def test_an_error_after_the_event_was_flushed_dispatches_nothing(
    desk: Services, recorder: Recorder
) -> None:
    handles: list[outbox.Written] = []

    def fail_after_the_flush() -> None:
        with outbox.writing(desk.sessions) as written:
            handles.append(written)
            event_id = publish(written, "one")
            assert written.session.get(Event, event_id) is not None  # flushed, with its id
            raise RuntimeError("before the commit")

    with pytest.raises(RuntimeError):
        fail_after_the_flush()
    assert (recorder.handed, handles[0].pending, handles[0].dispatched) == ([], [], [])
    assert event_count(desk) == 0
    # The session forgot it: the next transaction hands on only its own.
    with outbox.writing(desk.sessions) as written:
        event_id = publish(written, "two")
    assert recorder.handed == [event_id]


def test_a_plain_transaction_dispatches_too(desk: Services, recorder: Recorder) -> None:
    with transaction(desk.sessions) as session:
        data, _ = parse_article(article_data(slug="one"))
        event_id = schedule.save_and_publish(session, data, actor="t", now=utcnow()).event_id
    assert recorder.handed == [event_id]


def test_later_holds_them_until_the_caller_dispatches(desk: Services, recorder: Recorder) -> None:
    with outbox.writing(desk.sessions, later=True) as written:
        event_id = publish(written, "one")
    assert (recorder.handed, written.pending) == ([], [event_id])
    assert [outcome.event_id for outcome in written.dispatch()] == [event_id]
    assert written.dispatch() == []  # handed on once
    assert recorder.handed == [event_id]


def test_sessions_without_a_dispatch_leave_events_to_the_relay(
    services: Services, desk: Services, recorder: Recorder
) -> None:
    with outbox.writing(services.sessions) as written:
        publish(written, "one")
    assert (recorder.handed, written.dispatched) == ([], [])
    assert event_count(services) == 1


def test_a_record_written_live_is_not_dispatched(desk: Services, recorder: Recorder) -> None:
    record_run(desk, ReconcileReport(checked=0), actor="test")
    assert recorder.handed == []
    assert event_count(desk) == 1


def test_sending_again_dispatches_a_failed_or_accepted_event_once(
    services: Services, desk: Services, recorder: Recorder
) -> None:
    with outbox.writing(desk.sessions) as written:
        event_id = publish(written, "one")
    # An accepted one (the broker was down) does not change status: send_again notes it.
    for status in (EventStatus.FAILED, EventStatus.ACCEPTED):
        with transaction(services.sessions) as session:
            event = session.get(Event, event_id)
            assert event is not None
            event.status, event.attempts, event.error = status, 3, "boom"
        with outbox.writing(desk.sessions) as written:
            outbox.send_again(written.session, event_id)
        assert [outcome.event_id for outcome in written.dispatched] == [event_id]
    assert recorder.handed == [event_id] * 3


def test_sending_again_refuses_a_live_or_missing_event(desk: Services, recorder: Recorder) -> None:
    with outbox.writing(desk.sessions) as written:
        event_id = publish(written, "one")
    with transaction(desk.sessions) as session:
        event = session.get(Event, event_id)
        assert event is not None
        event.status = EventStatus.LIVE
    with pytest.raises(outbox.AlreadyLive), transaction(desk.sessions) as session:
        outbox.send_again(session, event_id)
    with pytest.raises(outbox.NoSuchEvent), transaction(desk.sessions) as session:
        outbox.send_again(session, event_id + 1)
    assert recorder.handed == [event_id]
