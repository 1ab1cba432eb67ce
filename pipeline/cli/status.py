"""`pressrun status`: counts and the last events with their stage timings."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.content.models import Article
from pipeline.db import transaction
from pipeline.events.models import Event
from pipeline.publish.rebuild import progress
from pipeline.services import Services

STAGES = ("dispatched", "started", "rendered", "live")


def print_status(services: Services, broker: dict[str, Any] | None = None, limit: int = 15) -> None:
    console = Console(width=None if sys.stdout.isatty() else 160)
    with transaction(services.sessions) as session:
        article_counts = _grouped(session, Article.status)
        event_counts = _grouped(session, Event.status)
        recent = list(session.scalars(select(Event).order_by(Event.id.desc()).limit(limit)))
    console.print(f"storage: {services.storage.describe()}")
    console.print("articles: " + _counts(article_counts))
    console.print("events:   " + _counts(event_counts))
    table = Table(title="Last events (milliseconds after accepted)")
    for column in ("id", "kind", "article", "version", "status", "accepted", *STAGES, "error"):
        table.add_column(column)
    for event in recent:
        table.add_row(
            str(event.id),
            event.kind,
            str(event.article_id or "-"),
            str(event.article_version),
            event.status,
            f"{event.accepted_at:%Y-%m-%d %H:%M:%S}",
            *(_after(event.accepted_at, getattr(event, f"{stage}_at")) for stage in STAGES),
            (event.error or "")[:60],
        )
    console.print(table)
    for event in recent:
        if event.status == "failed":
            console.print(f"event {event.id} failed: {event.error}")
        if event.kind == "rebuild" and event.status not in ("live", "failed"):
            state = progress(services, event.id)
            console.print(
                f"rebuild {event.id}: {state.phase} phase, {state.done}/{state.total} chunks"
            )
    if broker is not None:
        _print_broker(console, broker)


def _print_broker(console: Console, broker: dict[str, Any]) -> None:
    if broker.get("error") and not broker["queues"]:
        console.print(f"broker: unreachable ({broker['error']})")
        return
    depths = ", ".join(
        f"{name} {'unknown' if depth is None else depth}"
        for name, depth in broker["queues"].items()
    )
    console.print(f"queues:   {depths}")
    if broker.get("error"):
        console.print(f"broker:   error ({broker['error']})")
    workers = broker["workers"]
    console.print(f"workers:  {len(workers)} online")
    for name, info in sorted(workers.items()):
        console.print(
            f"  {name}: queues {', '.join(info['queues'])}, concurrency {info['concurrency']}"
        )


def _grouped(session: Session, column: Any) -> dict[str, int]:
    rows = session.execute(select(column, func.count()).group_by(column))
    return {str(value): int(number) for value, number in rows}


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {number}" for name, number in sorted(counts.items())) or "none"


def _after(start: datetime, moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return f"{(moment - start).total_seconds() * 1000:.0f}"
