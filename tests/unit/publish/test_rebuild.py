"""Full rebuilds in chunks: the same site as incremental publishing, and resumable."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from pipeline.content import articles
from pipeline.db import transaction
from pipeline.events.models import Event, EventStatus
from pipeline.events.processing import dispatch_event, finish_unfinished, process_event
from pipeline.events.relay import relay
from pipeline.publish import rebuild
from pipeline.publish.models import RebuildChunk
from pipeline.schema import utcnow
from pipeline.services import Services
from pipeline.storage import TransientStorageError
from tests.conftest import Newsroom
from tests.dispatchers import Held


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rebuild, "CHUNK_ARTICLES", 2)
    monkeypatch.setattr(rebuild, "CHUNK_OUTPUTS", 5)


def snapshot(newsroom: Newsroom) -> dict[str, bytes | None]:
    return {key: newsroom.services.storage.get(key) for key in newsroom.stored_keys()}


def test_a_chunked_rebuild_of_a_consistent_site_changes_nothing(
    newsroom: Newsroom, small_chunks: None
) -> None:
    for number in range(7):
        newsroom.publish(slug=f"story-{number}", section=("world", "sport")[number % 2])
    before = snapshot(newsroom)
    outcome = newsroom.rebuild()
    assert outcome.status == EventStatus.LIVE
    assert outcome.report is not None
    assert outcome.report.written_total == 0
    assert outcome.report.deleted_total == 0
    assert snapshot(newsroom) == before
    with transaction(newsroom.services.sessions) as session:
        phases = session.scalars(select(RebuildChunk.phase)).all()
    assert phases.count("index") == 4
    assert phases.count("rails") == 4
    assert phases.count("render") > 5


def test_a_rebuild_restores_a_wiped_site(newsroom: Newsroom, small_chunks: None) -> None:
    for number in range(5):
        newsroom.publish(slug=f"story-{number}")
    before = snapshot(newsroom)
    newsroom.services.storage.delete(list(before))
    # The manifest still says every key is in place: only --force writes them all again.
    assert newsroom.rebuild().status == EventStatus.LIVE
    assert newsroom.stored_keys() == set()
    outcome = newsroom.rebuild(force=True)
    assert outcome.report is not None
    assert outcome.report.written_total == len(before)
    assert snapshot(newsroom) == before


def test_a_crashed_rebuild_resumes_where_it_stopped(
    newsroom: Newsroom, small_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for number in range(5):
        newsroom.publish(slug=f"story-{number}")
    before = snapshot(newsroom)
    real = rebuild._work
    calls = {"render": 0}

    def crash_on_third_render(*args: object, **kwargs: object) -> dict[str, object]:
        if args[2] == "render":
            calls["render"] += 1
            if calls["render"] == 3:
                raise RuntimeError("worker died")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(rebuild, "_work", crash_on_third_render)
    # A process killed mid-chunk records nothing: its chunk is left running.
    monkeypatch.setattr(rebuild, "_record_failure", lambda *_: None)
    outcome = newsroom.rebuild()
    assert outcome.status != EventStatus.LIVE
    with transaction(newsroom.services.sessions) as session:
        states = session.scalars(select(RebuildChunk.state)).all()
    assert "running" in states  # the crashed chunk
    done_before = states.count("done")
    monkeypatch.setattr(rebuild, "_work", real)
    outcomes = finish_unfinished(newsroom.services, newsroom.dispatcher)
    assert [o.status for o in outcomes] == [EventStatus.LIVE]
    with transaction(newsroom.services.sessions) as session:
        chunks = session.scalars(select(RebuildChunk)).all()
    assert all(chunk.state == "done" for chunk in chunks)
    # Chunks done before the crash were not run again.
    assert sum(chunk.attempts for chunk in chunks) == len(chunks) + 1
    assert done_before >= 2
    assert snapshot(newsroom) == before


LONG_AGO = timedelta(hours=1)


def _started_rebuild(newsroom: Newsroom, queue: Held) -> tuple[int, list[int]]:
    """Articles published, then a rebuild started whose first chunks wait on the queue."""
    for number in range(5):
        newsroom.publish(slug=f"story-{number}")
    services = newsroom.services
    with transaction(services.sessions) as session:
        event_id = articles.request_rebuild(session, actor="test").event_id
    assert process_event(services, queue, event_id).status == EventStatus.STARTED
    chunks = queue.take("chunk")
    assert len(chunks) == 3
    return event_id, [int(chunk_id) for chunk_id in chunks]  # type: ignore[call-overload]


def _age(services: Services, *statements: Any) -> None:
    with transaction(services.sessions) as session:
        for statement in statements:
            session.execute(statement)


def _event(services: Services, event_id: int) -> Event:
    with transaction(services.sessions) as session:
        event = session.get(Event, event_id)
        assert event is not None
        session.expunge(event)
        return event


def _chunks(services: Services, event_id: int) -> list[RebuildChunk]:
    with transaction(services.sessions) as session:
        rows = list(
            session.scalars(
                select(RebuildChunk)
                .where(RebuildChunk.event_id == event_id)
                .order_by(RebuildChunk.id)
            )
        )
        session.expunge_all()
        return rows


def test_a_chunk_waiting_behind_a_backlog_is_resent_once_per_stuck_period(
    newsroom: Newsroom, small_chunks: None
) -> None:
    """Chunks queued behind a backlog for longer than the stuck period were sent again on
    every relay round (every 5 s), multiplying the backlog; now once per stuck period."""
    services, queue = newsroom.services, Held()
    event_id, chunks = _started_rebuild(newsroom, queue)
    long_ago = utcnow() - LONG_AGO
    _age(services, update(RebuildChunk).values(updated_at=long_ago))
    relay(services, queue)
    assert queue.take("chunk") == chunks
    relay(services, queue)
    assert queue.take("chunk") == []
    assert all(chunk.relayed_at is not None for chunk in _chunks(services, event_id))
    _age(services, update(RebuildChunk).values(relayed_at=long_ago))
    assert relay(services, queue).chunks == chunks
    assert queue.take("chunk") == chunks


def test_a_chunk_whose_every_try_died_fails_its_rebuild(
    newsroom: Newsroom, small_chunks: None
) -> None:
    """A chunk that kills its worker is handed back by Celery at once (and re-sent by the
    relay): its tries used to be counted and never read, so it ran for ever. Like an event,
    it gives up after `max_attempts` starts, and fails its rebuild with the reason."""
    services, queue = newsroom.services, Held()
    event_id, chunks = _started_rebuild(newsroom, queue)
    limit = services.settings.max_attempts
    _age(
        services,
        update(RebuildChunk)
        .where(RebuildChunk.id == chunks[1])
        .values(state="running", attempts=limit),
    )
    rebuild.run_chunk(services, queue, chunks[1])
    event = _event(services, event_id)
    assert event.status == EventStatus.FAILED
    assert event.error == (
        f"rebuild chunk {chunks[1]} (index 1) gave up after {limit} attempts: none of them finished"
    )
    assert [chunk.state for chunk in _chunks(services, event_id)] == [
        "pending",
        "failed",
        "pending",
    ]
    assert _chunks(services, event_id)[1].attempts == limit


def test_the_relay_gives_up_on_a_stuck_chunk_out_of_tries(
    newsroom: Newsroom, small_chunks: None
) -> None:
    services, queue = newsroom.services, Held()
    event_id, chunks = _started_rebuild(newsroom, queue)
    limit = services.settings.max_attempts
    _age(
        services,
        update(RebuildChunk).values(updated_at=utcnow() - LONG_AGO),
        update(RebuildChunk)
        .where(RebuildChunk.id == chunks[0])
        .values(state="running", attempts=limit),
    )
    report = relay(services, queue)
    assert report.failed == [event_id]
    # The rebuild failed: none of its chunks is sent again.
    assert queue.take("chunk") == []
    assert _event(services, event_id).status == EventStatus.FAILED
    assert "gave up after 5 attempts" in (_event(services, event_id).error or "")


def test_a_chunk_that_raises_fails_its_rebuild_with_the_error(
    newsroom: Newsroom, small_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    services, queue = newsroom.services, Held()
    event_id, chunks = _started_rebuild(newsroom, queue)

    def broken(*_: object, **__: object) -> dict[str, object]:
        raise ValueError("the index broke")

    monkeypatch.setattr(rebuild, "_work", broken)
    with pytest.raises(ValueError, match="index broke"):
        rebuild.run_chunk(services, queue, chunks[0])
    event = _event(services, event_id)
    assert event.status == EventStatus.FAILED
    assert event.error == f"rebuild chunk {chunks[0]} (index 0) failed: ValueError: the index broke"
    assert _chunks(services, event_id)[0].state == "failed"


def test_a_chunk_with_a_transient_error_is_retried_until_its_tries_run_out(
    newsroom: Newsroom, small_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    services, queue = newsroom.services, Held()
    event_id, chunks = _started_rebuild(newsroom, queue)

    def unreachable(*_: object, **__: object) -> dict[str, object]:
        raise TransientStorageError("503 from the store")

    monkeypatch.setattr(rebuild, "_work", unreachable)
    for _ in range(services.settings.max_attempts - 1):
        with pytest.raises(TransientStorageError):
            rebuild.run_chunk(services, queue, chunks[0])
        assert _event(services, event_id).status == EventStatus.STARTED
    with pytest.raises(TransientStorageError):
        rebuild.run_chunk(services, queue, chunks[0])
    event = _event(services, event_id)
    assert event.status == EventStatus.FAILED
    assert "TransientStorageError: 503 from the store" in (event.error or "")


def test_the_chunks_of_a_failed_rebuild_stop(
    newsroom: Newsroom, small_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuild that failed (a chunk gave up, the relay counted it out) used to keep its
    other chunks running and re-sent: the queue filled with work nobody would finish."""
    services, queue = newsroom.services, Held()
    event_id, chunks = _started_rebuild(newsroom, queue)
    _age(
        services,
        update(Event).where(Event.id == event_id).values(status=EventStatus.FAILED),
        update(RebuildChunk).values(updated_at=utcnow() - LONG_AGO),
    )
    worked: list[int] = []
    monkeypatch.setattr(rebuild, "_work", lambda *args: worked.append(1) or {})
    for chunk_id in chunks:
        rebuild.run_chunk(services, queue, chunk_id)
    assert worked == []
    assert [chunk.attempts for chunk in _chunks(services, event_id)] == [0, 0, 0]
    relay(services, queue)
    assert queue.sent == []


def test_a_failed_rebuild_retried_resumes_with_fresh_tries(
    newsroom: Newsroom, small_chunks: None
) -> None:
    """`pressrun events retry` on a rebuild that failed: the chunk that gave up runs again
    with a fresh count of tries, and the rebuild goes live."""
    services, queue = newsroom.services, Held()
    event_id, chunks = _started_rebuild(newsroom, queue)
    before = snapshot(newsroom)
    limit = services.settings.max_attempts
    _age(
        services,
        update(RebuildChunk)
        .where(RebuildChunk.id == chunks[2])
        .values(state="running", attempts=limit),
    )
    rebuild.run_chunk(services, queue, chunks[2])
    assert _event(services, event_id).status == EventStatus.FAILED
    # What `pressrun events retry` and the dashboard's Retry do.
    _age(
        services,
        update(Event)
        .where(Event.id == event_id)
        .values(status=EventStatus.ACCEPTED, attempts=0, error=None),
    )
    assert dispatch_event(services, newsroom.dispatcher, event_id).status == EventStatus.LIVE
    assert _chunks(services, event_id)[2].attempts == 1
    assert snapshot(newsroom) == before


def test_a_long_rebuild_is_not_counted_out_by_the_relay_while_its_chunks_run(
    newsroom: Newsroom, small_chunks: None
) -> None:
    """The relay re-sent a running rebuild's event every stuck period, each start counted
    an attempt, and after `max_attempts` periods it failed a rebuild that was progressing.
    Its chunks are relayed and counted on their own; the event is re-sent only when none
    is left to run (the worker died between two phases)."""
    services, queue = newsroom.services, Held()
    event_id, _ = _started_rebuild(newsroom, queue)
    long_ago = utcnow() - LONG_AGO
    for _ in range(services.settings.max_attempts + 1):
        _age(
            services,
            update(Event).values(accepted_at=long_ago, started_at=long_ago, relayed_at=None),
        )
        relay(services, queue)
        for resent in queue.take("event"):
            process_event(services, queue, int(resent))  # type: ignore[call-overload]
    assert _event(services, event_id).status == EventStatus.STARTED
    # Every chunk done, but the worker died before opening the next phase.
    _age(services, update(RebuildChunk).values(state="done", result={"fresh": []}))
    relay(services, queue)
    assert queue.take("event") == [event_id]
    process_event(services, queue, event_id)
    assert len(queue.take("chunk")) == 3  # the rails phase opened


def test_a_failed_rebuild_is_listed_with_its_reason(
    newsroom: Newsroom, small_chunks: None, tmp_path: Path
) -> None:
    """`pressrun events list --failed` shows a rebuild whose chunk gave up, as any event."""
    services, queue = newsroom.services, Held()
    event_id, chunks = _started_rebuild(newsroom, queue)
    _age(
        services,
        update(RebuildChunk)
        .where(RebuildChunk.id == chunks[0])
        .values(state="running", attempts=services.settings.max_attempts),
    )
    rebuild.run_chunk(services, queue, chunks[0])
    env = {name: value for name, value in os.environ.items() if not name.startswith("PRESSRUN_")}
    env |= {
        "PRESSRUN_DATABASE_URL": services.settings.database_url,
        "PRESSRUN_STORAGE_URL": services.settings.storage_url,
    }
    listed = subprocess.run(
        [str(Path(sys.executable).parent / "pressrun"), "events", "list", "--failed"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    [line] = listed.stdout.splitlines()
    assert line.startswith(f"{event_id}  rebuild")
    assert "failed" in line
    assert line.endswith(
        f"rebuild chunk {chunks[0]} (index 0) gave up after 5 attempts: none of them finished"
    )
