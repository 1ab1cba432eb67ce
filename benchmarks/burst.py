"""Publish bursts on the real stack: `pressrun api` (uvicorn, one process) over PostgreSQL, a
Redis broker, moto_server and 1, 2, 4 `pressrun worker` processes.

A site of --size articles is built once (kept as a database template, `--template`, so a
later run starts from a copy; the bucket starts empty, which changes nothing a publish does:
the manifest, not a listing, says what is stored). Then, per worker count and round, --clients
HTTP clients publish --publishes new articles as fast as the API takes them
(`PUT /v1/articles/{slug}?publish=true`), while one more client publishes one article at a
time and waits for it (a newsroom's own publish during the burst). Measured:

- accepted/s: publishes over the time the API took to accept them all;
- live/s: publishes over the time from the first accept to the last live (sustained);
- publish-to-live p50 / p99: each event's accepted → live, from its stage timestamps;
- objects written per publish: PUTs (and deletes) counted by the pipeline, over the burst;
- the S3 server's own PUT ceiling for objects of an article page's size, on the same server.

    .venv/bin/python -m benchmarks.burst --size 10000 --publishes 1000 --clients 8 --workers 1 2 4
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import psutil
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from benchmarks.event_times import percentile, wait_live
from benchmarks.scale import put_ceiling, sample_page
from pipeline.cli.demo_content import generate_articles
from pipeline.content import articles
from pipeline.content.inputs import parse_article
from pipeline.db import transaction
from pipeline.events.models import Event, EventStatus
from pipeline.events.processing import dispatch_event
from pipeline.observe import counters
from pipeline.services import Services
from tests.realstack import Stack, bench_stack, copy_database, database_exists, database_name

START = datetime(2018, 1, 1, tzinfo=UTC)
CONSOLE = Console(width=None if sys.stdout.isatty() else 160)


@dataclass
class Round:
    workers: int
    publishes: int
    accept_s: float = 0.0
    live_s: float = 0.0
    live_ms: list[float] = field(default_factory=list)
    page_ms: list[float] = field(default_factory=list)
    probe_ms: list[float] = field(default_factory=list)
    objects: int = 0
    worker_cpu_s: float = 0.0
    wait_ms: list[float] = field(default_factory=list)

    @property
    def accepted_per_s(self) -> float:
        return self.publishes / self.accept_s

    @property
    def live_per_s(self) -> float:
        return self.publishes / self.live_s


# -- the site -----------------------------------------------------------------------------------


def build_site(stack: Stack, size: int) -> None:
    """Import `size` generated articles and build them with two workers (then stopped)."""
    records = []
    for number, record in enumerate(generate_articles(size)):
        moment = START + timedelta(minutes=number * 30)
        records.append(
            {**record, "slug": f"{record['slug']}-{number}",
             "published_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ")}
        )  # fmt: skip
    inputs = [parse_article(record)[0] for record in records]
    services = stack.services
    started = time.perf_counter()
    with transaction(services.sessions) as session:
        event_id = articles.import_articles(session, inputs, actor="burst").event_id
    stack.start_workers(2)
    dispatch_event(services, stack.dispatcher, event_id)
    wait_live(services, [event_id], timeout=7200)
    stack.wait_quiet(600)
    stack.stop_workers()
    CONSOLE.print(f"site of {size:,} articles built in {time.perf_counter() - started:.0f} s")


def template_name(prefix: str, size: int) -> str:
    """The kept site's database, named for the schema it was built with: a branch that adds
    a migration builds its own."""
    migrations = Path(__file__).resolve().parents[1] / "migrations" / "versions"
    names = "\n".join(sorted(path.name for path in migrations.glob("*.py")))
    return f"{prefix}_{size}_{hashlib.sha256(names.encode()).hexdigest()[:8]}"


def copy_as_template(stack: Stack, template: str) -> None:
    """Keep the built database for later runs (no one may be connected to it)."""
    stack.services.engine.dispose()
    copy_database(database_name(stack.settings.database_url), template)


# -- the burst ----------------------------------------------------------------------------------


_numbers = count()
_bodies = generate_articles(500)


def story(prefix: str) -> tuple[str, dict[str, Any]]:
    """A new article (slug, body of the API's PUT) with the demo's sections, tags and text."""
    number = next(_numbers)
    record = dict(_bodies[number % len(_bodies)])
    record.pop("slug", None)
    record.pop("published_at", None)
    record["title"] = f"{record['title']} ({prefix} {number})"
    return f"{prefix}-{number}", record


def publish(client: httpx.Client, prefix: str) -> int:
    """One publish through the API; returns its event id."""
    slug, body = story(prefix)
    for _ in range(5):
        answer = client.put(f"/v1/articles/{slug}", params={"publish": "true"}, json=body)
        if answer.status_code != 429:
            break
        time.sleep(float(answer.headers.get("Retry-After", "1")))
    assert answer.status_code == 202, answer.text
    return int(answer.json()["event"]["id"])


def probe(client: httpx.Client, stop: threading.Event, out: list[float]) -> None:
    """One publish at a time, each followed until live: a newsroom's publish mid-burst."""
    while not stop.is_set():
        started = time.perf_counter()
        event_id = publish(client, "probe")
        while True:
            answer = client.get(f"/v1/events/{event_id}", params={"wait": 30}).json()
            if answer["done"]:
                break
        assert answer["status"] == "live", answer
        out.append((time.perf_counter() - started) * 1000)


def output_totals(services: Services) -> int:
    with transaction(services.sessions) as session:
        found = counters.totals(session)
    return found["outputs_uploaded"] + found["outputs_deleted"]


def worker_cpu_seconds(stack: Stack) -> float:
    """CPU time the running workers' processes have used so far (a measure of work that
    the machine's other load does not inflate as it does wall time)."""
    total = 0.0
    for worker in stack.alive_workers():
        try:
            root = psutil.Process(worker.process.pid)
            for process in [root, *root.children(recursive=True)]:
                times = process.cpu_times()
                total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def record_stages(services: Services, event_ids: list[int], result: Round) -> None:
    """Each event's accepted → live, → page live and → started (ms), and the seconds from
    the first accept to the last live."""
    with transaction(services.sessions) as session:
        rows = session.execute(
            select(
                Event.accepted_at, Event.started_at, Event.page_live_at, Event.live_at,
                Event.status,
            ).where(Event.id.in_(event_ids))
        ).all()  # fmt: skip
    failed = [row for row in rows if row.status != EventStatus.LIVE]
    assert not failed, f"{len(failed)} events did not go live"

    def after(row: Any, moment: datetime) -> float:
        return (moment - row.accepted_at).total_seconds() * 1000

    result.live_ms = [after(row, row.live_at) for row in rows]
    result.page_ms = [after(row, row.page_live_at) for row in rows]
    result.wait_ms = [after(row, row.started_at) for row in rows]
    span = max(row.live_at for row in rows) - min(row.accepted_at for row in rows)
    result.live_s = span.total_seconds()


def run_round(stack: Stack, url: str, headers: dict[str, str], options: Any, workers: int) -> Round:
    services = stack.services
    result = Round(workers, options.publishes)
    before = output_totals(services)
    cpu_before = worker_cpu_seconds(stack)
    clients = [
        httpx.Client(base_url=url, headers=headers, timeout=120) for _ in range(options.clients)
    ]
    shares = [options.publishes // options.clients] * options.clients
    for extra in range(options.publishes % options.clients):
        shares[extra] += 1
    stop = threading.Event()
    prober = httpx.Client(base_url=url, headers=headers, timeout=120)
    watcher = threading.Thread(target=probe, args=(prober, stop, result.probe_ms))
    try:
        watcher.start()
        started = time.perf_counter()
        with ThreadPoolExecutor(options.clients) as pool:
            batches = pool.map(
                lambda pair: [publish(pair[0], f"burst-w{workers}") for _ in range(pair[1])],
                zip(clients, shares, strict=True),
            )
            event_ids = [event_id for batch in batches for event_id in batch]
        result.accept_s = time.perf_counter() - started
        wait_live(services, event_ids, timeout=3600)
    finally:
        stop.set()
        watcher.join()
        for client in [*clients, prober]:
            client.close()
    stack.wait_quiet(600)
    result.worker_cpu_s = worker_cpu_seconds(stack) - cpu_before
    record_stages(services, event_ids, result)
    probes = len(result.probe_ms)
    result.objects = output_totals(services) - before
    # The probe's publishes wrote objects and took work too: shared out evenly.
    share = options.publishes / (options.publishes + probes)
    result.objects = round(result.objects * share)
    result.worker_cpu_s *= share
    return result


# -- the report ---------------------------------------------------------------------------------


def spread(values: list[float], digits: int = 1) -> str:
    middle = statistics.median(values)
    if len(values) == 1:
        return f"{middle:.{digits}f}"
    return f"{middle:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def report(rounds: list[Round], options: Any, ceiling: float) -> None:
    table = Table(
        title=f"Bursts of {options.publishes} publishes from {options.clients} clients through "
        f"the API into {options.size:,} articles, real stack with S3: median (lowest-highest "
        f"round) over {options.rounds} round(s)"
    )
    columns = ("workers", "accepted/s", "live/s", "p50 to live (s)", "p99 to live (s)",
               "p50 to a worker (s)", "p50 page live (s)", "worker CPU ms/publish",
               "objects/publish", "PUTs/s", "share of S3 ceiling",
               "probe to live p50 / max (s)")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="right")
    for workers in options.workers:
        mine = [r for r in rounds if r.workers == workers]
        objects = [r.objects / r.publishes for r in mine]
        puts = [r.objects / r.live_s for r in mine]
        probes = [p for r in mine for p in r.probe_ms] or [float("nan")]
        table.add_row(
            str(workers),
            spread([r.accepted_per_s for r in mine]),
            spread([r.live_per_s for r in mine]),
            spread([percentile(r.live_ms, 0.5) / 1000 for r in mine], 2),
            spread([percentile(r.live_ms, 0.99) / 1000 for r in mine], 2),
            spread([percentile(r.wait_ms, 0.5) / 1000 for r in mine], 2),
            spread([percentile(r.page_ms, 0.5) / 1000 for r in mine], 2),
            spread([r.worker_cpu_s * 1000 / r.publishes for r in mine], 0),
            spread(objects),
            spread(puts, 0),
            f"{statistics.median(puts) / ceiling:.0%}" if ceiling else "-",
            f"{percentile(probes, 0.5) / 1000:.2f} / {max(probes) / 1000:.2f}",
        )
    CONSOLE.print(table)
    CONSOLE.print(f"S3 server's own PUT ceiling (article-page-sized objects): {ceiling:.0f}/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--publishes", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--event-batch",
        type=int,
        default=None,
        help="PRESSRUN_EVENT_BATCH for the workers (1: every event alone, as before batching)",
    )
    parser.add_argument(
        "--template",
        default="pressrun_burst",
        help="keep the built site's database as TEMPLATE_SIZE_SCHEMA and start later runs "
        "from a copy ('' to build every time)",
    )
    options = parser.parse_args()
    template = template_name(options.template, options.size) if options.template else None
    reuse = template is not None and database_exists(template)
    overrides = {} if options.event_batch is None else {"event_batch": options.event_batch}
    with (
        tempfile.TemporaryDirectory() as folder,
        bench_stack(
            Path(folder), redis_db=12, template=template if reuse else None, **overrides
        ) as stack,
    ):
        if reuse:
            CONSOLE.print(f"site of {options.size:,} articles copied from {template}")
        else:
            build_site(stack, options.size)
            if template is not None:
                copy_as_template(stack, template)
        # Throughput is measured here, not the per-token limit.
        api = stack.start_api("--log-level", "warning", PRESSRUN_API_RATE_PER_MINUTE=str(10**9))
        made = stack.pressrun("tokens", "create", "--scope", "publish", "--name", "burst")
        headers = {"Authorization": f"Bearer {made.stdout.splitlines()[-1]}"}
        rounds = []
        for workers in options.workers:
            stack.start_workers(workers)
            for _ in range(options.rounds):
                rounds.append(run_round(stack, api.url, headers, options, workers))
                last = rounds[-1]
                CONSOLE.print(
                    f"{workers} workers: {last.live_per_s:.1f} live/s, p99 "
                    f"{percentile(last.live_ms, 0.99) / 1000:.1f} s, "
                    f"{last.objects / last.publishes:.1f} objects/publish"
                )
            stack.stop_workers()
        assert stack.settings.s3_endpoint_url
        ceiling = put_ceiling(stack.settings.s3_endpoint_url, sample_page(stack.services))
        report(rounds, options, ceiling)


if __name__ == "__main__":
    main()
