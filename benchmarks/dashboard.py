"""How fast the ops dashboard answers with a big outbox: --events synthetic events (bulk
inserted, spread over the last --days days, with the status and kind mix of a busy
newsroom) in a fresh PostgreSQL database, then --requests timed GETs of each page through
the whole ASGI app (FastAPI's TestClient, signed in with the login form's cookie).

    .venv/bin/python -m benchmarks.dashboard --events 100000 --requests 20
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from rich.console import Console
from rich.table import Table
from sqlalchemy import insert, select, text

from pipeline.api.app import create_app
from pipeline.api.models import Scope
from pipeline.api.settings import ApiSettings
from pipeline.api.tokens import create_token
from pipeline.config import Settings
from pipeline.content.models import Article, ArticleStatus, Section
from pipeline.db import transaction
from pipeline.events.models import Event, EventKind, EventStatus
from pipeline.services import Services, create_services
from tests.realstack import create_database, drop_database

SECTIONS = ("politics", "business", "culture", "sport", "science")
# (status, share) of a day's events: nearly all live, a few failed or on their way.
STATUSES = (
    (EventStatus.LIVE, 0.972),
    (EventStatus.FAILED, 0.015),
    (EventStatus.RENDERED, 0.005),
    (EventStatus.STARTED, 0.004),
    (EventStatus.DISPATCHED, 0.002),
    (EventStatus.ACCEPTED, 0.002),
)
KINDS = ((EventKind.PUBLISH, 0.55), (EventKind.UPDATE, 0.38), (EventKind.UNPUBLISH, 0.07))


def _pick(rng: random.Random, table: tuple[tuple[Any, float], ...]) -> Any:
    return rng.choices([value for value, _ in table], [share for _, share in table])[0]


def add_articles(services: Services, count: int, now: datetime) -> list[tuple[int, str]]:
    """Bulk-inserted articles (no rendering): (id, key) of each."""
    with transaction(services.sessions) as session:
        section_ids = {}
        for slug in SECTIONS:
            section = Section(slug=slug, name=slug.title())
            session.add(section)
            session.flush()
            section_ids[slug] = section.id
        rows = []
        for number in range(count):
            section = SECTIONS[number % len(SECTIONS)]
            published = now - timedelta(minutes=count - number)
            rows.append(
                {
                    "external_id": uuid.uuid4().hex,
                    "slug": f"story-{number}",
                    "title": f"Synthetic story number {number}",
                    "standfirst": "A standfirst.",
                    "body_html": "<p>Body.</p>",
                    "section_id": section_ids[section],
                    "authors": ["Bench Writer"],
                    "published_at": published,
                    "updated_at": published,
                    "created_at": published,
                    "status": ArticleStatus.PUBLISHED,
                    "version": 1,
                }
            )
        for start in range(0, len(rows), 5000):
            session.execute(insert(Article), rows[start : start + 5000])
        found = session.execute(
            select(Article.id, Article.slug, Section.slug, Article.published_at).join(Section)
        )
        return [
            (article_id, f"{section}/{published:%Y/%m/%d}/{slug}/index.html")
            for article_id, slug, section, published in found
        ]


def synthetic_events(
    articles: list[tuple[int, str]], count: int, now: datetime, days: float, seed: int = 7
) -> Iterator[dict[str, Any]]:
    """Events accepted uniformly over the last `days` days, oldest first, with stage times
    and outputs like real ones; an hourly reconcile among them."""
    rng = random.Random(seed)
    span = days * 86400
    moments = sorted(now - timedelta(seconds=rng.random() * span) for _ in range(count))
    last_reconcile = moments[0]
    for accepted in moments:
        if accepted - last_reconcile >= timedelta(hours=1):
            last_reconcile = accepted
            yield {
                "kind": EventKind.RECONCILE, "article_id": None, "article_version": 0,
                "actor": "beat", "status": EventStatus.LIVE, "accepted_at": accepted,
                "started_at": accepted, "rendered_at": accepted, "live_at": accepted,
                "attempts": 0,
                "outputs": {"missing": 0, "stale": rng.choice((0, 0, 0, 1)), "orphans": 0,
                            "checked": len(articles) + 40, "repaired": False},
            }  # fmt: skip
            continue
        article_id, key = rng.choice(articles)
        status = _pick(rng, STATUSES)
        kind = _pick(rng, KINDS)
        dispatched = accepted + timedelta(milliseconds=rng.uniform(2, 20))
        started = dispatched + timedelta(milliseconds=rng.uniform(3, 40))
        rendered = started + timedelta(milliseconds=rng.lognormvariate(5.3, 0.5))
        live = rendered + timedelta(milliseconds=rng.lognormvariate(6.0, 0.7))
        reached = {
            EventStatus.ACCEPTED: 0, EventStatus.DISPATCHED: 1, EventStatus.STARTED: 2,
            EventStatus.RENDERED: 3, EventStatus.LIVE: 4, EventStatus.FAILED: 2,
        }[status]  # fmt: skip
        written = [key, f"{key.split('/')[0]}/index.html", "index.html", "feeds/latest.xml"]
        written += [f"tags/t{rng.randrange(200)}/index.html" for _ in range(rng.randrange(6))]
        yield {
            "kind": kind,
            "article_id": article_id,
            "article_version": rng.randrange(1, 6),
            "actor": rng.choice(("cli", "api:desk", "webhook")),
            "status": status,
            "accepted_at": accepted,
            "dispatched_at": dispatched if reached >= 1 else None,
            "started_at": started if reached >= 2 else None,
            "rendered_at": rendered if reached >= 3 else None,
            "live_at": live if reached >= 4 else None,
            "attempts": 1 if reached >= 2 else 0,
            "error": "StorageError: 503 SlowDown on S3 put" if status == EventStatus.FAILED
            else None,
            "previous": None if kind == EventKind.PUBLISH else {
                "status": "published", "version": 1, "slug": key.split("/")[-2],
                "title": "An older title", "section": key.split("/")[0], "tags": [],
                "published_at": accepted.isoformat(), "key": key,
            },
            "outputs": {"written": written, "deleted": [], "unchanged": rng.randrange(5, 30)}
            if reached >= 3 else None,
            "pending_lists": ["latest"] if status == EventStatus.RENDERED else [],
        }  # fmt: skip


def add_events(services: Services, events: Iterator[dict[str, Any]], chunk: int = 5000) -> int:
    total = 0
    batch: list[dict[str, Any]] = []
    for row in events:
        batch.append(row)
        if len(batch) == chunk:
            total += _insert(services, batch)
            batch = []
    return total + (_insert(services, batch) if batch else 0)


def _insert(services: Services, rows: list[dict[str, Any]]) -> int:
    columns = {column.name for column in Event.__table__.columns} - {"id"}
    full = [{name: row.get(name) for name in columns} for row in rows]
    with transaction(services.sessions) as session:
        session.execute(insert(Event), full)
    return len(rows)


@contextmanager
def fresh_database() -> Iterator[str]:
    url = create_database("pressrun_bench")
    try:
        yield url
    finally:
        drop_database(url)


def timed(client: TestClient, path: str, requests: int) -> list[float]:
    client.get(path).raise_for_status()  # warm: templates compiled, connections open
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return times


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--articles", type=int, default=5_000)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--requests", type=int, default=20)
    options = parser.parse_args()
    console = Console()
    now = datetime.now(UTC)
    with fresh_database() as url, tempfile.TemporaryDirectory() as folder:
        settings = Settings(database_url=url, storage_url=f"file://{Path(folder) / 'site'}")
        services = create_services(settings)
        started = time.perf_counter()
        articles = add_articles(services, options.articles, now)
        inserted = add_events(
            services, synthetic_events(articles, options.events, now, options.days)
        )
        loaded = time.perf_counter() - started
        with services.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                text("VACUUM ANALYZE events")
            )
        with transaction(services.sessions) as session:
            secret = create_token(session, name="bench", scope=Scope.ADMIN).secret
            article_id = session.scalar(select(Event.article_id).order_by(Event.id.desc()).limit(1))
            event_id = session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1))
            day = session.scalar(
                select(text("count(*)"))
                .select_from(Event)
                .where(Event.accepted_at >= now - timedelta(hours=24))
            )
        console.print(
            f"{inserted} events ({day} in the last 24 h) and {len(articles)} articles "
            f"inserted in {loaded:.1f} s into PostgreSQL; VACUUM ANALYZE done"
        )
        app = create_app(settings, ApiSettings(rate_per_minute=10**6), services=services,
                         embedded_jobs=False)  # fmt: skip
        table = Table(title=f"GET over {options.requests} requests each (ms)")
        for column in ("page", "p50", "p95", "max", "bytes"):
            table.add_column(column, justify="left" if column == "page" else "right")
        with TestClient(app) as client:
            client.post("/ops/login", data={"token": secret, "next": "/ops"})
            for path in ("/ops", "/ops?fragment=live", f"/ops/events/{event_id}",
                         f"/ops/articles/{article_id}", "/metrics"):  # fmt: skip
                times = timed(client, path, options.requests)
                size = len(client.get(path).content)
                figures = (statistics.median(times), percentile(times, 0.95), max(times))
                table.add_row(path, *(f"{value:.0f}" for value in figures), str(size))
        console.print(table)
        services.engine.dispose()


if __name__ == "__main__":
    main()
