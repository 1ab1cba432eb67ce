"""The broker's queues and workers, for the dashboard and /metrics.

`workers.app.broker_overview` asks every worker to answer within a second, twice, so one
answer takes two seconds or more: far too slow for a page that must load in well under one.
The watch keeps the last answer and asks again in a background thread when it is older than
`max_age` and somebody wants it, so a request never waits for the broker (the page says how
old the figures are), and nobody asking means the broker is never asked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Ask = Callable[[], dict[str, Any]]


@dataclass(frozen=True)
class WorkerInfo:
    name: str
    queues: tuple[str, ...]
    concurrency: int | None


@dataclass(frozen=True)
class BrokerSnapshot:
    taken_at: float  # time.monotonic() when the answer came
    # None: the broker could not say (the error says why), which is not the same as empty.
    queues: dict[str, int | None] = field(default_factory=dict)
    workers: tuple[WorkerInfo, ...] = ()
    error: str | None = None

    @classmethod
    def of(cls, overview: dict[str, Any], taken_at: float) -> BrokerSnapshot:
        workers = tuple(
            WorkerInfo(name, tuple(info.get("queues") or ()), info.get("concurrency"))
            for name, info in sorted((overview.get("workers") or {}).items())
        )
        queues = {
            name: None if depth is None else int(depth)
            for name, depth in (overview.get("queues") or {}).items()
        }
        return cls(taken_at, queues, workers, overview.get("error"))


class BrokerWatch:
    def __init__(
        self, ask: Ask, max_age: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ask = ask
        self.max_age = max_age
        self.clock = clock
        self._latest: BrokerSnapshot | None = None
        self._asking: threading.Thread | None = None
        self._lock = threading.Lock()
        self._answered = threading.Event()

    def snapshot(self, wait: float = 0.0) -> BrokerSnapshot | None:
        """The latest answer (None before the first), asking again in the background when it
        is stale. `wait` seconds at most are spent waiting for a first answer."""
        with self._lock:
            latest = self._latest
            stale = latest is None or self.clock() - latest.taken_at > self.max_age
            if stale and self._asking is None:
                self._asking = threading.Thread(
                    target=self._refresh, name="ops-broker-watch", daemon=True
                )
                self._asking.start()
        if latest is None and wait > 0:
            self._answered.wait(wait)
            with self._lock:
                latest = self._latest
        return latest

    def _refresh(self) -> None:
        try:
            overview = self.ask()
        except Exception as error:  # broker_overview never raises; a stand-in might
            overview = {"error": f"{type(error).__name__}: {error}"}
        with self._lock:
            self._latest = BrokerSnapshot.of(overview, self.clock())
            self._asking = None
        self._answered.set()

    def age(self, snapshot: BrokerSnapshot) -> float:
        return max(0.0, self.clock() - snapshot.taken_at)
