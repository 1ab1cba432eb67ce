"""Versioned writes: an output rendered from older data never stays in storage."""

from __future__ import annotations

from pipeline.db import transaction
from pipeline.publish.build import SyncReport
from pipeline.site.outputs import Kind, OutputSpec
from tests.conftest import Newsroom


def test_a_stale_render_that_lands_last_is_corrected(newsroom: Newsroom) -> None:
    newsroom.publish(slug="racing", title="First version of the story")
    key = newsroom.key("racing")
    publisher = newsroom.services.publisher
    sessions = newsroom.services.sessions
    spec = OutputSpec(Kind.ARTICLE, key)
    # Worker A renders from the data as it is now...
    with transaction(sessions) as session:
        slow_steps, _ = publisher.render_all(session, [spec], force=True)
    # ...worker B publishes a correction and writes it first...
    newsroom.publish(slug="racing", title="Corrected version of the story")
    assert "Corrected version" in (newsroom.read(key) or "")
    # ...then A's upload lands, stale, and A re-checks what it wrote.
    report = publisher.sync(sessions, slow_steps, None)
    assert "First version" in (newsroom.read(key) or "")
    publisher._settle(sessions, slow_steps, None, report)
    page = newsroom.read(key) or ""
    assert "Corrected version of the story" in page
    assert "First version" not in page
    assert report.written == [key, key]


def test_a_page_resurrected_by_a_late_render_is_deleted_again(newsroom: Newsroom) -> None:
    newsroom.publish(slug="taken-down", title="Soon gone")
    key = newsroom.key("taken-down")
    publisher = newsroom.services.publisher
    sessions = newsroom.services.sessions
    with transaction(sessions) as session:
        late_steps, _ = publisher.render_all(session, [OutputSpec(Kind.ARTICLE, key)], force=True)
    newsroom.unpublish("taken-down")
    assert newsroom.read(key) is None
    report = publisher.sync(sessions, late_steps, None)  # the update delivered after
    assert newsroom.read(key) is not None
    publisher._settle(sessions, late_steps, None, report)
    assert newsroom.read(key) is None
    assert report.deleted == [key]
    assert isinstance(report, SyncReport)
