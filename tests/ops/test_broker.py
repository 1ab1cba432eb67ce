"""The broker watch: nobody waits for the broker; answers are kept and refreshed behind."""

from __future__ import annotations

import threading
from typing import Any

from pipeline.api.ops.broker import BrokerWatch


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def overview(depth: int) -> dict[str, Any]:
    return {
        "queues": {"events": depth, "lists": 0, "rebuild": 0},
        "workers": {"celery@b": {"queues": ["events", "lists"], "concurrency": 2},
                    "celery@a": {"queues": ["rebuild"], "concurrency": None}},
        "error": None,
    }  # fmt: skip


def test_asks_in_the_background_and_keeps_the_answer() -> None:
    clock = Clock()
    asked = []
    gate = threading.Event()

    def ask() -> dict[str, Any]:
        gate.wait(5)
        asked.append(clock.now)
        return overview(len(asked))

    watch = BrokerWatch(ask, max_age=5.0, clock=clock)
    assert watch.snapshot() is None  # nobody waits: the first answer is on its way
    gate.set()
    first = watch.snapshot(wait=5)
    assert first is not None
    assert first.queues == {"events": 1, "lists": 0, "rebuild": 0}
    assert [worker.name for worker in first.workers] == ["celery@a", "celery@b"]
    assert first.workers[1].queues == ("events", "lists")
    assert first.workers[1].concurrency == 2
    assert watch.snapshot() is first  # fresh: not asked again
    clock.now += 6
    assert watch.age(first) == 6
    assert watch.snapshot() is first  # stale: answered at once, asked again behind
    for _ in range(100):
        if (latest := watch.snapshot()) is not first:
            break
        threading.Event().wait(0.02)
    assert latest is not None
    assert latest.queues["events"] == 2
    assert len(asked) == 2


def test_an_error_is_an_answer() -> None:
    def ask() -> dict[str, Any]:
        raise ConnectionError("refused")

    watch = BrokerWatch(ask)
    found = watch.snapshot(wait=5)
    assert found is not None
    assert found.error == "ConnectionError: refused"
    assert found.queues == {}


def test_status_prints_a_queue_the_broker_could_not_count_as_unknown() -> None:
    from rich.console import Console

    from pipeline.cli.status import _print_broker

    console = Console(record=True, width=200)
    answer = {"queues": {"events": 2, "lists": None}, "workers": {}, "error": "queue lists: boom"}
    _print_broker(console, answer)
    printed = console.export_text()
    assert "queues:   events 2, lists unknown" in printed
    assert "error (queue lists: boom)" in printed
