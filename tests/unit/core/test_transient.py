"""Which operating-system errors a retry can cure: a reset connection or a timeout may pass;
a full disk, a refused permission, a read-only file system or a name too long will not, and
an event that meets one fails at once with the error instead of being tried again."""

from __future__ import annotations

import errno
import os

import pytest
from sqlalchemy import select

from pipeline.db import transaction
from pipeline.events.models import Event, EventStatus
from pipeline.storage import StoredObject
from pipeline.transient import is_transient
from tests.conftest import Newsroom

PERMANENT = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS,
             errno.ENAMETOOLONG)  # fmt: skip
TRANSIENT = (errno.ECONNRESET, errno.ECONNREFUSED, errno.ETIMEDOUT, errno.EAGAIN)


def os_error(code: int) -> OSError:
    return OSError(code, os.strerror(code), "site/index.html")


@pytest.mark.parametrize("code", PERMANENT, ids=errno.errorcode.get)
def test_what_a_retry_cannot_cure_is_permanent(code: int) -> None:
    assert not is_transient(os_error(code))


@pytest.mark.parametrize("code", TRANSIENT, ids=errno.errorcode.get)
def test_connections_and_timeouts_stay_transient(code: int) -> None:
    assert is_transient(os_error(code))


def test_errors_without_a_code_stay_transient() -> None:
    assert is_transient(TimeoutError("timed out"))
    assert is_transient(ConnectionResetError(errno.ECONNRESET, "reset by peer"))


def attempts_after_a_failing_put(newsroom: Newsroom, monkeypatch: pytest.MonkeyPatch,
                                 code: int) -> tuple[Event, str]:  # fmt: skip
    def put(item: StoredObject) -> None:
        raise os_error(code)

    monkeypatch.setattr(newsroom.services.storage, "put", put)
    outcome = newsroom.publish(slug="unlucky")
    with transaction(newsroom.services.sessions) as session:
        event = session.scalars(select(Event).where(Event.id == outcome.event_id)).one()
    return event, str(outcome.status)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES, errno.EROFS], ids=errno.errorcode.get)
def test_an_event_meeting_a_permanent_error_fails_on_its_first_try(
    newsroom: Newsroom, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    event, status = attempts_after_a_failing_put(newsroom, monkeypatch, code)
    assert status == EventStatus.FAILED
    assert event.attempts == 1
    assert os.strerror(code) in (event.error or "")


def test_an_event_meeting_a_reset_connection_is_tried_again(
    newsroom: Newsroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    event, _ = attempts_after_a_failing_put(newsroom, monkeypatch, errno.ECONNRESET)
    assert event.attempts > 1
