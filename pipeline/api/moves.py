"""Event moves heard from the database: one LISTEN connection per API process, fanned out to
the requests that wait on an event (`?wait=`) and to the dashboard's live stream.

PostgreSQL notifies `CHANNEL` whenever an event is written or changes stage (a trigger,
migration 0024: whatever process commits the change, at its commit). Nothing here is the
source of truth: a waiter is only told to read the event again. A notification can be lost
(the connection drops and is made again), so on every (re)connection all waiters are woken,
and waiters keep a slow safety poll. SQLite has no NOTIFY: there, `listening` stays False and
waiters poll as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Collection, Iterator
from dataclasses import dataclass

import psycopg
from sqlalchemy import Engine

log = logging.getLogger("pressrun.api.moves")
CHANNEL = "pressrun_events"
# How the listening connection shows in pg_stat_activity.
APPLICATION_NAME = "pressrun api: event moves"
# Between two attempts to listen again after the connection failed.
RECONNECT_SECONDS = 1.0
# A listening connection that heard nothing this long checks it is still alive (a silently
# dead peer gives no error until something is sent).
HEALTH_CHECK_SECONDS = 30.0
# How long stopping waits for the listener to close its connection.
STOP_SECONDS = 5.0
# Moves a dashboard stream can fall behind by before it is told to read everything again.
FOLLOWER_BACKLOG = 100


@dataclass(frozen=True)
class EventMove:
    """One notification: the event `event_id` is now at `status`. `event_id` 0 means "some
    moves may have been missed, read everything again" (a (re)connection, a full backlog)."""

    event_id: int
    status: str = ""
    article_id: int | None = None

    @property
    def resync(self) -> bool:
        return self.event_id == 0


RESYNC = EventMove(0)


def parse_payload(payload: str) -> EventMove | None:
    """`id:status:article_id` (as the trigger writes it), or None when it is not one."""
    parts = payload.split(":")
    if len(parts) != 3 or not parts[0].isascii() or not parts[0].isdigit():
        return None
    article = parts[2]
    article_id = int(article) if article.isascii() and article.isdigit() else None
    return EventMove(int(parts[0]), parts[1], article_id)


class EventMoves:
    """Who waits for which event, and the task that listens (when there is a `conninfo`)."""

    def __init__(self, conninfo: str | None) -> None:
        self.conninfo = conninfo
        self._waiters: dict[int, dict[asyncio.Event, frozenset[str] | None]] = {}
        self._followers: set[asyncio.Queue[EventMove]] = set()
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self.connections = 0  # how many times it started listening (tests watch reconnects)

    @classmethod
    def of(cls, engine: Engine) -> EventMoves:
        """Listening on PostgreSQL; on any other database, a hub that never listens."""
        if engine.dialect.name != "postgresql":
            return cls(None)
        url = engine.url.set(drivername="postgresql")
        return cls(url.render_as_string(hide_password=False))

    @property
    def listening(self) -> bool:
        """True while notifications arrive: waiters may then trust them and poll slowly."""
        return self._connected.is_set()

    async def start(self) -> None:
        """Listen from the running loop (the one that serves the app: the waiters' loop)."""
        if self.conninfo is None or (self._task is not None and not self._task.done()):
            return
        # Made here, in the loop that serves the app (a test may run one app in several).
        self._connected = asyncio.Event()
        self._task = asyncio.create_task(self._listen_forever(self.conninfo))

    async def stop(self) -> None:
        task = self._task
        if task is None or task.get_loop() is not asyncio.get_running_loop():
            return  # another loop's lifespan started it, and stops it
        self._task = None
        task.cancel()
        # Bounded: a shutdown never hangs on a connection that will not close.
        finished, _ = await asyncio.wait({task}, timeout=STOP_SECONDS)
        if not finished:
            log.warning("the event moves listener did not stop within %ss", STOP_SECONDS)
        self._connected.clear()

    def waiting(self, event_id: int) -> int:
        """How many requests wait for event `event_id`."""
        return len(self._waiters.get(event_id, ()))

    # -- who waits ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def watch(
        self, event_id: int, statuses: Collection[str] | None = None
    ) -> Iterator[asyncio.Event]:
        """An asyncio.Event set whenever event `event_id` moves to one of `statuses` (any
        stage when None), or moves may have been missed. Clear it before reading the event,
        then wait on it."""
        moved = asyncio.Event()
        waiters = self._waiters.setdefault(event_id, {})
        waiters[moved] = None if statuses is None else frozenset(statuses)
        try:
            yield moved
        finally:
            waiters.pop(moved, None)
            if not waiters and self._waiters.get(event_id) is waiters:
                del self._waiters[event_id]

    @contextlib.asynccontextmanager
    async def follow(self) -> AsyncIterator[asyncio.Queue[EventMove]]:
        """A queue of every move (and RESYNC when some may have been missed)."""
        queue: asyncio.Queue[EventMove] = asyncio.Queue(FOLLOWER_BACKLOG)
        self._followers.add(queue)
        try:
            yield queue
        finally:
            self._followers.discard(queue)

    def deliver(self, move: EventMove) -> None:
        """Wake who waits for this move (all waiters for a RESYNC)."""
        if move.resync:
            for waiters in self._waiters.values():
                for moved in waiters:
                    moved.set()
        else:
            for moved, statuses in self._waiters.get(move.event_id, {}).items():
                if statuses is None or move.status in statuses:
                    moved.set()
        for queue in self._followers:
            _offer(queue, move)

    # -- the listening connection ------------------------------------------------------------

    async def _listen_forever(self, conninfo: str) -> None:
        while True:
            try:
                await self._listen(conninfo)
            except (psycopg.Error, OSError) as error:
                log.warning("listening for event moves failed (%s): again in %ss", error,
                            RECONNECT_SECONDS)  # fmt: skip
            except Exception:  # whatever it was, waiters poll quickly until it listens again
                log.exception("listening for event moves failed: again in %ss", RECONNECT_SECONDS)
            finally:
                self._connected.clear()
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _listen(self, conninfo: str) -> None:
        async with await psycopg.AsyncConnection.connect(
            conninfo,
            autocommit=True,
            connect_timeout=5,
            application_name=APPLICATION_NAME,
            # TCP keepalives: a peer silent for about 25 s is taken for dead.
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
        ) as connection:
            await connection.execute(f"LISTEN {CHANNEL}")
            self.connections += 1
            self._connected.set()
            # Whatever moved while nobody listened was not heard: everyone reads again.
            self.deliver(RESYNC)
            while True:
                async for notify in connection.notifies(timeout=HEALTH_CHECK_SECONDS):
                    move = parse_payload(notify.payload)
                    if move is not None:
                        self.deliver(move)
                # A peer gone without a word (a dropped network) fails this once the TCP
                # keepalives below give up on it.
                await connection.execute("SELECT 1")


def _offer(queue: asyncio.Queue[EventMove], move: EventMove) -> None:
    """A follower that fell behind gets one RESYNC in place of what it has not read."""
    try:
        queue.put_nowait(move)
    except asyncio.QueueFull:
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(RESYNC)
