"""CDN purges are recorded with the manifest and retried until the CDN took them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from pipeline.db import transaction
from pipeline.events.models import EventStatus
from pipeline.events.relay import relay
from pipeline.publish import purges
from pipeline.publish.models import PendingPurge
from pipeline.schema import utcnow
from pipeline.services import Services
from pipeline.site.outputs import url_path
from tests.conftest import FlakyCdn, Newsroom
from tests.dispatchers import Held


@pytest.fixture
def cdn(newsroom: Newsroom, monkeypatch: pytest.MonkeyPatch) -> FlakyCdn:
    flaky = FlakyCdn()
    monkeypatch.setattr(newsroom.services.publisher, "purger", flaky)
    return flaky


def pending(services: Services) -> dict[str, PendingPurge]:
    with transaction(services.sessions) as session:
        rows = {row.path: row for row in session.scalars(select(PendingPurge))}
        session.expunge_all()
        return rows


def make_due(services: Services) -> None:
    with transaction(services.sessions) as session:
        session.execute(
            update(PendingPurge).values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )


def test_a_purge_that_failed_is_retried_until_the_cdn_takes_it(
    newsroom: Newsroom, cdn: FlakyCdn
) -> None:
    """The purge ran after the manifest's commit: when it failed, the task's retry found
    nothing changed and purged nothing, and readers got the cached pages for up to a day.
    Now the purge is kept and retried until done."""
    services = newsroom.services
    cdn.down = True
    assert newsroom.publish(slug="cdn-down").status == EventStatus.LIVE
    # A first publish: every object stored is new, and each must be purged.
    changed = {url_path(key) for key in newsroom.stored_keys()}
    assert url_path(newsroom.key("cdn-down")) in changed
    cdn.down = False
    make_due(services)
    relay(services, Held())
    assert set(cdn.purged) == changed
    assert pending(services) == {}


def test_a_failed_purge_waits_for_its_next_try(newsroom: Newsroom, cdn: FlakyCdn) -> None:
    services = newsroom.services
    cdn.down = True
    outcome = newsroom.publish(slug="cdn-still-down")
    assert outcome.report is not None
    waiting = pending(services)
    assert set(waiting) == {url_path(key) for key in outcome.report.written}
    assert {row.attempts for row in waiting.values()} == {1}
    assert all("503" in (row.error or "") for row in waiting.values())
    assert all(row.next_attempt_at > utcnow() for row in waiting.values())
    cdn.down = False
    assert relay(services, Held()).purged == 0  # not due yet
    assert cdn.purged == []
    make_due(services)
    assert relay(services, Held()).purged == len(waiting)
    assert pending(services) == {}


def test_purges_done_at_once_leave_nothing_behind(newsroom: Newsroom, cdn: FlakyCdn) -> None:
    outcome = newsroom.publish(slug="cdn-up")
    assert outcome.report is not None
    assert set(cdn.purged) >= {url_path(key) for key in outcome.report.written}
    assert pending(newsroom.services) == {}


def test_a_path_written_again_while_its_purge_runs_is_purged_again(
    newsroom: Newsroom, cdn: FlakyCdn
) -> None:
    """A purge that succeeds forgets only the requests it covered: a build that wrote the
    path again meanwhile (its bytes may have landed after the CDN's purge) keeps its own."""
    services = newsroom.services
    with transaction(services.sessions) as session:
        first = purges.request(session, ["/", "/feeds/latest.xml"])
    with transaction(services.sessions) as session:
        second = purges.request(session, ["/"])
    assert first == {"/": 1, "/feeds/latest.xml": 1}
    assert second == {"/": 2}
    assert purges.purge(cdn, services.sessions, first)
    assert set(pending(services)) == {"/"}
    assert purges.purge(cdn, services.sessions, second)
    assert pending(services) == {}


def test_failures_back_off_up_to_five_minutes(newsroom: Newsroom, cdn: FlakyCdn) -> None:
    services = newsroom.services
    with transaction(services.sessions) as session:
        tickets = purges.request(session, ["/"])
    cdn.down = True
    gaps = []
    for _ in range(7):
        before = utcnow()
        assert not purges.purge(cdn, services.sessions, tickets)
        gaps.append(round((pending(services)["/"].next_attempt_at - before).total_seconds()))
    assert gaps == [20, 40, 80, 160, 300, 300, 300]
    assert pending(services)["/"].attempts == 7


def test_without_a_cdn_nothing_is_recorded(newsroom: Newsroom) -> None:
    assert newsroom.services.publisher.purger is None
    assert newsroom.publish(slug="no-cdn").status == EventStatus.LIVE
    assert pending(newsroom.services) == {}
