"""Full rebuilds in chunks: the same site as incremental publishing, and resumable."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from pipeline import rebuild
from pipeline.db import transaction
from pipeline.events import finish_unfinished
from pipeline.models import EventStatus, RebuildChunk
from tests.conftest import Newsroom


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
