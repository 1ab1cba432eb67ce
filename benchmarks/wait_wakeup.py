"""How soon a client waiting on `GET /v1/events/{id}?wait=` has the answer once the event
records itself live: the client's receipt minus the event's own `live_at` (both on this
machine's clock), with `pressrun api` over PostgreSQL in a process of its own.

Two modes, both on a private stack (`tests.realstack.bench_stack`):
- bare (`--workers 0`, the default): for each sample the benchmark writes an accepted event,
  a client starts waiting on it, and another connection commits it live the way a worker's
  last transaction does (`live_at` stamped just before the commit). The delay is the commit,
  the NOTIFY, the API's listener, its read of the event and the answer: the wake-up alone.
- `--workers N`: each sample is a publish through the API rendered by N `pressrun worker`
  processes, waited on at once; the delay runs from the worker's `live_at` to the receipt.

    PYTHONPATH=$PWD .venv/bin/python -m benchmarks.wait_wakeup --samples 50
    PYTHONPATH=$PWD .venv/bin/python -m benchmarks.wait_wakeup --samples 30 --workers 2

Another benchmark calls `measure_bare(api_url, secret, database_url, services, samples)` or
`measure_publishes(api_url, secret, samples)` on a stack of its own: each returns the delays
in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import func, select

from pipeline.db import transaction
from pipeline.events.models import Event, EventKind, EventStatus
from pipeline.schema import utcnow
from pipeline.services import Services
from tests.realstack import Stack, bench_stack

WAIT_SECONDS = 30
WARM_UP = 5
# How long the benchmark lets a waiting request reach the API before committing the move
# (a move committed before the request waits is answered at once: still measured as is).
WAITING_HEAD_START = 0.1
_numbers = count()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def delay_ms(event: dict[str, Any], received: datetime) -> float:
    """Milliseconds from the event's recorded live time to `received`."""
    assert event["status"] == "live", event
    live_at = datetime.fromisoformat(event["stages"]["live"])
    return (received - live_at).total_seconds() * 1000


def wait_for(client: httpx.Client, event_id: int) -> tuple[dict[str, Any], datetime]:
    """The event as `?wait=` answers it, and when the answer was in."""
    answer = client.get(f"/v1/events/{event_id}", params={"wait": WAIT_SECONDS})
    received = datetime.now(UTC)
    assert answer.status_code == 200, answer.text
    event: dict[str, Any] = answer.json()
    return event, received


# -- bare: the benchmark moves the event ----------------------------------------------------


def accepted_event(services: Services) -> int:
    """An event nobody else will move (a rebuild of no article, never dispatched)."""
    with transaction(services.sessions) as session:
        event = Event(kind=EventKind.REBUILD, actor="bench", status=EventStatus.ACCEPTED,
                      accepted_at=utcnow())  # fmt: skip
        session.add(event)
        session.flush()
        return event.id


def measure_bare(
    api_url: str, secret: str, database_url: str, services: Services, samples: int
) -> list[float]:
    headers = {"Authorization": f"Bearer {secret}"}
    with (
        httpx.Client(base_url=api_url, headers=headers, timeout=WAIT_SECONDS + 30) as client,
        psycopg.connect(database_url, autocommit=True) as mover,
    ):
        return [bare_sample(client, mover, services) for _ in range(samples)]


def bare_sample(client: httpx.Client, mover: psycopg.Connection[Any], services: Services) -> float:
    event_id = accepted_event(services)
    answers: list[tuple[dict[str, Any], datetime]] = []
    waiter = threading.Thread(target=lambda: answers.append(wait_for(client, event_id)))
    waiter.start()
    time.sleep(WAITING_HEAD_START)
    mover.execute(
        "UPDATE events SET status = 'live', live_at = clock_timestamp() WHERE id = %s",
        (event_id,),
    )
    waiter.join()
    return delay_ms(*answers[0])


def measure_plain_reads(api_url: str, secret: str, event_id: int, samples: int) -> list[float]:
    """Milliseconds of a `GET /v1/events/{id}` of a live event, waiting for nothing: the part
    of any answer that is not the wake-up (the read, the HTTP round trip)."""
    headers = {"Authorization": f"Bearer {secret}"}
    timings = []
    with httpx.Client(base_url=api_url, headers=headers, timeout=30) as client:
        for _ in range(samples):
            started = time.perf_counter()
            answer = client.get(f"/v1/events/{event_id}")
            timings.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200, answer.text
    return timings


# -- publishes: workers move the event ------------------------------------------------------


def article(number: int) -> dict[str, object]:
    return {
        "title": f"Wake-up story {number}",
        "standfirst": "A story published to measure how soon a waiter hears of it.",
        "body": f"Paragraph one of story {number}.\n\nParagraph two, with more words in it.",
        "section": ("politics", "business", "sport", "culture")[number % 4],
        "tags": [f"topic-{number % 10}"],
        "authors": ["Bench Writer"],
    }


def measure_publishes(api_url: str, secret: str, samples: int) -> list[float]:
    delays = []
    headers = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=api_url, headers=headers, timeout=WAIT_SECONDS + 30) as client:
        for _ in range(samples):
            number = next(_numbers)
            answer = client.put(
                f"/v1/articles/wake-{number}", params={"publish": "true"}, json=article(number)
            )
            assert answer.status_code == 202, answer.text
            delays.append(delay_ms(*wait_for(client, answer.json()["event"]["id"])))
    return delays


# -- the run ----------------------------------------------------------------------------------


def token(stack: Stack, scope: str) -> str:
    made = stack.pressrun("tokens", "create", "--scope", scope, "--name", f"wake-{scope}")
    return made.stdout.splitlines()[-1]


def summary(delays: list[float]) -> str:
    return (
        f"{len(delays)}: median {statistics.median(delays):.1f} ms, "
        f"p99 {percentile(delays, 0.99):.1f} ms, max {max(delays):.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--workers", type=int, default=0, help="0: the benchmark moves events")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, bench_stack(Path(folder), redis_db=12) as stack:
        api = stack.start_api("--log-level", "warning", PRESSRUN_API_RATE_PER_MINUTE=str(10**9))
        if options.workers:
            stack.start_workers(options.workers)
            secret = token(stack, "publish")
            measure_publishes(api.url, secret, WARM_UP)
            delays = measure_publishes(api.url, secret, options.samples)
            mode = f"publishes rendered by {options.workers} workers"
        else:
            secret = token(stack, "read")
            database_url = stack.settings.database_url
            measure_bare(api.url, secret, database_url, stack.services, WARM_UP)
            delays = measure_bare(api.url, secret, database_url, stack.services, options.samples)
            mode = "moves committed by another connection"
        print(f"?wait= answer after the event's live_at ({mode}), {summary(delays)}")
        # The floor of any answer, in the same run: the same GET of a live event, no wait.
        with transaction(stack.services.sessions) as session:
            live = session.scalar(select(func.max(Event.id)).where(Event.status == "live"))
        assert live is not None
        plain = measure_plain_reads(api.url, secret, live, options.samples)
        print(f"the same GET of a live event, no wait (the answer's floor), {summary(plain)}")
        api.stop()


if __name__ == "__main__":
    main()
