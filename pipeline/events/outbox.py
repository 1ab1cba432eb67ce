"""The outbox's hand-off: the events a transaction wrote are dispatched by the session itself,
once that transaction has committed and closed, so no writer has to remember to.

Each event is still written in the same transaction as the change it announces; the relay
still sends one that a crash between the commit and the dispatch left behind. Sessions of a
factory given a dispatch (`dispatch_after_commit`, done by each entry point) note the events
their flushes insert or move back to accepted; a commit hands them on when the transaction
is closed (`db.transaction` runs what a commit left to do after it), never inside the commit,
since an in-process dispatch runs the whole task. A rollback forgets them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from pipeline.db import SessionFactory, after_close, transaction
from pipeline.events.models import Event, EventStatus

if TYPE_CHECKING:
    from pipeline.events.processing import Outcome

Dispatch = Callable[[int], "Outcome"]
_DISPATCH = "pressrun.outbox.dispatch"
_NOTED = "pressrun.outbox.noted"
_HANDLE = "pressrun.outbox.handle"


class NoSuchEvent(LookupError):
    def __init__(self, event_id: int) -> None:
        super().__init__(f"no event {event_id}")


class AlreadyLive(ValueError):
    def __init__(self, event_id: int) -> None:
        super().__init__(f"event {event_id} is already live")


def dispatch_after_commit(factory: SessionFactory, dispatch: Dispatch) -> None:
    """Hand every event this factory's transactions commit to `dispatch`, after each closes."""
    factory.configure(info={_DISPATCH: dispatch})
    if not event.contains(factory, "after_flush", _note_flush):
        event.listen(factory, "after_flush", _note_flush)
        event.listen(factory, "after_commit", _hand_on)
        event.listen(factory, "after_rollback", _forget)


@dataclass
class Written:
    """A transaction's events: `dispatched` holds their outcomes once it has closed. With
    `later`, they wait in `pending` until the caller calls `dispatch` (the API answers
    first; a rebuild runs beside its progress bar)."""

    session: Session
    later: bool = False
    pending: list[int] = field(default_factory=list)
    dispatched: list[Outcome] = field(default_factory=list)
    _dispatch: Dispatch | None = None

    def hold(self, event_ids: list[int], dispatch: Dispatch) -> None:
        self.pending += event_ids
        self._dispatch = dispatch

    def dispatch(self) -> list[Outcome]:
        ids, self.pending = self.pending, []
        outcomes = [self._dispatch(event_id) for event_id in ids] if self._dispatch else []
        self.dispatched += outcomes
        return outcomes

    @property
    def outcome(self) -> Outcome:
        """The outcome of the one event this transaction wrote."""
        assert len(self.dispatched) == 1, f"dispatched {len(self.dispatched)} events, not one"
        return self.dispatched[0]


@contextmanager
def writing(factory: SessionFactory, *, later: bool = False) -> Iterator[Written]:
    """`db.transaction`, with a handle on the events it dispatched."""
    with transaction(factory) as session:
        handle = Written(session, later)
        session.info[_HANDLE] = handle
        yield handle


def send_again(session: Session, event_id: int) -> Event:
    """Back to accepted with a fresh count of tries, to be dispatched after commit (a failed
    event, or one stuck in any stage but live)."""
    found = session.get(Event, event_id, with_for_update=True)
    if found is None:
        raise NoSuchEvent(event_id)
    if found.status == EventStatus.LIVE:
        raise AlreadyLive(event_id)
    found.status, found.attempts, found.error = EventStatus.ACCEPTED, 0, None
    # One already accepted (the broker was down) does not change status: note it here.
    _note(session, [event_id])
    return found


def _note(session: Session, event_ids: list[int]) -> None:
    noted: dict[int, None] = session.info.setdefault(_NOTED, {})
    noted.update(dict.fromkeys(event_ids))


def _note_flush(session: Session, _context: Any) -> None:
    _note(
        session,
        [row.id for row in session.new if isinstance(row, Event) and _inserted_accepted(row)]
        + [row.id for row in session.dirty if isinstance(row, Event) and _moved_back(row)],
    )


def _inserted_accepted(row: Event) -> bool:
    # A row written as it stands elsewhere (a reconcile's record is live) is no change to send.
    status = inspect(row).dict.get("status", EventStatus.ACCEPTED)
    return bool(status == EventStatus.ACCEPTED)


def _moved_back(row: Event) -> bool:
    history = inspect(row).attrs.status.history
    return list(history.added) == [EventStatus.ACCEPTED] and bool(history.deleted)


def _hand_on(session: Session) -> None:
    noted = session.info.pop(_NOTED, None)
    dispatch = session.info.get(_DISPATCH)
    if not noted or dispatch is None:
        return
    handle = session.info.get(_HANDLE) or Written(session)
    handle.hold(list(noted), dispatch)
    if not handle.later:
        after_close(session, handle.dispatch)


def _forget(session: Session) -> None:
    session.info.pop(_NOTED, None)
