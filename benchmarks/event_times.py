"""Reading an event's stage timings back: what the latency benchmarks share."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from pipeline.db import transaction
from pipeline.events.models import Event, EventStatus
from pipeline.services import Services


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def wait_live(services: Services, event_ids: list[int], timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with transaction(services.sessions) as session:
            done = session.scalar(
                select(func.count()).where(
                    Event.id.in_(event_ids),
                    Event.status.in_([EventStatus.LIVE, EventStatus.FAILED]),
                )
            )
        if done == len(event_ids):
            return
        time.sleep(0.005 if len(event_ids) == 1 else 0.2)
    raise TimeoutError(f"events not live after {timeout}s")


def stage_times(services: Services, event_ids: list[int]) -> tuple[list[float], list[float]]:
    """Milliseconds from accepted to live, and to the article's own page live, per event."""
    with transaction(services.sessions) as session:
        rows = session.execute(
            select(Event.accepted_at, Event.page_live_at, Event.live_at, Event.status).where(
                Event.id.in_(event_ids)
            )
        ).all()
    failed = [row for row in rows if row.status != EventStatus.LIVE]
    assert not failed, f"{len(failed)} events did not go live"
    live = [(row.live_at - row.accepted_at).total_seconds() * 1000 for row in rows]
    page = [(row.page_live_at - row.accepted_at).total_seconds() * 1000 for row in rows]
    return live, page
