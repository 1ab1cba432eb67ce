"""Publish-to-live, stage by stage, beside the floor: the bare work of the same publish.

For each size, sequential publishes go through the pipeline and each event's stage stamps are
read back as milliseconds since it was accepted (dispatched, started, page live, rendered,
live); on the real stack a client also waits on `GET /v1/events/{id}?wait=30` and the moment
it sees the event live is recorded. After each publish is live, the same process does its
bare work with no pipeline, warm: (a) the article page alone, rendered by the pipeline's
Renderer on the same database and PUT (boto3) to a scratch bucket of the same S3 server, or
written to a scratch folder; (b) every object the event wrote (its SyncReport, lists
included) rendered and PUT, one after another and also with the pipeline's upload threads.
The primitives the floor is made of (a hop through Redis, a 10-latest query, an article
render, a 30 KB PUT, a transaction round trip; and the article's neighbour query, which a
new article's page waits for today) are timed alone. Ratios pipeline/floor are
of medians taken in the same run, so a loaded machine moves both sides. The real stack
(PostgreSQL, Redis, moto_server, 2 `pressrun worker` processes, the beat, `pressrun api`) runs
on a copy of a built site kept as a PostgreSQL template (`--site-template NAME` keeps
NAME_<size>; the first run builds it as `benchmarks.scale` does, `pressrun import` and the
rebuild it requests, to folder storage: about 25 minutes at 100,000 articles on a quiet
machine, well over an hour on a busy one). The copy is
migrated to head and its publishes go to an S3 bucket without the site's older objects: the
pipeline writes only the outputs whose bytes changed (the manifest in the database decides,
not the bucket), so a publish does the same work, and its latency is that of the real work.
The embedded default (SQLite, folder storage, in process) builds its site in the run.

    .venv/bin/python -m benchmarks.site_template --size 100000   # the template alone, ahead
    .venv/bin/python -m benchmarks.publish_latency --sizes 1000 100000 --embedded-sizes 1000
    .venv/bin/python -m benchmarks.publish_latency --sizes 1000 --publishes 30 --no-api
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from kombu.connection import Connection
from rich.table import Table
from sqlalchemy import select, text

from benchmarks import scale
from benchmarks.event_times import percentile, wait_live
from benchmarks.site_template import ensure_template, site_records, template_name
from pipeline.config import Settings
from pipeline.content import articles
from pipeline.content.inputs import ArticleInput, parse_article
from pipeline.content.models import Article
from pipeline.db import transaction
from pipeline.events.models import Event, EventStatus
from pipeline.events.processing import dispatch_event
from pipeline.publish.build import SyncReport, upload_threads
from pipeline.publish.models import Output
from pipeline.render.renderer import key_of
from pipeline.services import Services, create_services
from pipeline.site import lists
from pipeline.site.outputs import OutputSpec
from tests.realstack import PREFIX, Stack, bench_stack, database_exists, s3_client
from workers.app import CeleryDispatcher, create_app

WIDE = scale.WIDE
# Each stage's stamp on the event, in the order an event passes them.
STAGES = {
    "dispatched": Event.dispatched_at,
    "started": Event.started_at,
    "page live": Event.page_live_at,
    "rendered": Event.rendered_at,
    "live": Event.live_at,
}
CLIENT = "client sees live (?wait=)"
THIRTY_KB = 30 * 1024

Write = Callable[[str, bytes], None]
# Given an event id just dispatched, returns when a client learnt that it is live (or None
# when no client waits: the benchmark then polls the database).
ClientWait = Callable[[int], datetime | None]


# -- the bare writes ----------------------------------------------------------------------------


class S3Writer:
    """PUTs straight through boto3 to a scratch bucket of the same S3 server."""

    def __init__(self, endpoint: str) -> None:
        self.client = s3_client(endpoint, connections=32)
        self.bucket = f"floor-{uuid.uuid4().hex[:12]}"
        self.client.create_bucket(Bucket=self.bucket)

    def __call__(self, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=f"{PREFIX}/{key}", Body=body)


class FolderWriter:
    """Writes to a scratch folder as a folder store must: a temporary file renamed over."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(self, key: str, body: bytes) -> None:
        path = self.folder / key
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        partial.write_bytes(body)
        os.replace(partial, path)


# -- the floor of one publish -------------------------------------------------------------------


@dataclass(frozen=True)
class Affected:
    """What one event wrote: its article's page, and every object (the page included)."""

    article_id: int
    page: OutputSpec
    every: list[OutputSpec]


def affected(services: Services, event_id: int) -> Affected:
    with transaction(services.sessions) as session:
        event = session.get(Event, event_id)
        assert event is not None
        assert event.article_id is not None
        written = SyncReport.from_json(event.outputs).written
        rows = session.execute(
            select(Output.key, Output.kind, Output.subject, Output.page).where(
                Output.key.in_(written)
            )
        ).all()
        article = session.get(Article, event.article_id)
        assert article is not None
        page_key = key_of(article)
    specs = {row.key: OutputSpec(row.kind, row.subject, row.page) for row in rows}
    return Affected(article.id, specs[page_key], sorted(specs.values()))


class Floor:
    """The bare work of a publish in this process, warm: renders by the pipeline's Renderer
    in one transaction on the same database, writes by `write`."""

    def __init__(self, services: Services, write: Write) -> None:
        self.services = services
        self.write = write
        self.threads = upload_threads(services.storage)
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="floor")

    def close(self) -> None:
        self.pool.shutdown()

    def article_page(self, spec: OutputSpec) -> float:
        """Render the article page and write it: milliseconds."""
        began = time.perf_counter()
        with transaction(self.services.sessions) as session:
            rendered = self.services.renderer.render(session, spec)
        assert rendered is not None
        self.write(rendered.key, rendered.body)
        return (time.perf_counter() - began) * 1000

    def every_object(self, specs: list[OutputSpec], *, parallel: bool = False) -> float:
        """Render every object (read in bulk first, as the pipeline's builds do) and write
        them, one after another or `threads` at once: milliseconds."""
        began = time.perf_counter()
        with transaction(self.services.sessions) as session:
            self.services.renderer.prefetch(session, specs)
            rendered = [self.services.renderer.render(session, spec) for spec in specs]
        bodies = [(item.key, item.body) for item in rendered if item is not None]
        if parallel:
            list(self.pool.map(lambda pair: self.write(*pair), bodies))
        else:
            for key, body in bodies:
                self.write(key, body)
        return (time.perf_counter() - began) * 1000


def timed(action: Callable[[], object], samples: int) -> list[float]:
    times = []
    for _ in range(samples):
        began = time.perf_counter()
        action()
        times.append((time.perf_counter() - began) * 1000)
    return times


def primitives(
    services: Services, write: Write, broker_url: str | None, work: Affected, samples: int = 50
) -> dict[str, list[float]]:
    """The parts the floor is made of, each alone and warm (milliseconds); and the article's
    neighbour query, which a new article's page waits for today (its "More like this")."""
    found: dict[str, list[float]] = {}
    if broker_url:
        found["hop through Redis (kombu put → blocked get)"] = redis_hops(broker_url, samples)
    with transaction(services.sessions) as session:
        found["10-latest query"] = timed(lambda: lists.newest(session, lists.LATEST, 10), samples)
    with transaction(services.sessions) as session:
        session.info.clear()
        found["article page render"] = timed(
            lambda: services.renderer.render(session, work.page), samples
        )
    with transaction(services.sessions) as session:
        size = services.settings.related_size
        found["related query (the article's neighbours)"] = timed(
            lambda: services.related.neighbours(session, work.article_id, size), samples
        )
    body = os.urandom(THIRTY_KB)
    found["30 KB PUT" if isinstance(write, S3Writer) else "30 KB write"] = timed(
        lambda: write(f"floor/{uuid.uuid4().hex}", body), samples
    )

    def round_trip() -> None:
        with transaction(services.sessions) as session:
            session.execute(text("SELECT 1"))

    found["transaction (SELECT 1, COMMIT)"] = timed(round_trip, samples)
    return found


def broker(url: str) -> Any:
    return Connection(url)  # type: ignore[no-untyped-call]  # kombu is untyped


def redis_hops(broker_url: str, samples: int) -> list[float]:
    """A message's way through the broker to a consumer already blocked waiting for it, as a
    worker waits: the transport part of a Celery hop."""
    name = f"floor-{uuid.uuid4().hex[:8]}"
    hops: list[float] = []
    ready = threading.Event()

    def consume() -> None:
        with broker(broker_url) as connection:
            queue = connection.SimpleQueue(name)
            ready.set()
            for _ in range(samples):
                message = queue.get(block=True, timeout=30)
                hops.append((time.perf_counter() - message.payload["sent"]) * 1000)
                message.ack()
            queue.clear()
            queue.close()

    consumer = threading.Thread(target=consume)
    consumer.start()
    ready.wait(30)
    with broker(broker_url) as connection:
        queue = connection.SimpleQueue(name)
        for _ in range(samples):
            time.sleep(0.02)  # the consumer is back in its blocking wait
            queue.put({"sent": time.perf_counter()})
        queue.close()
    consumer.join(60)
    return hops


# -- the pipeline's side ------------------------------------------------------------------------


@dataclass
class Run:
    size: int
    setup: str
    note: str = ""
    stages: dict[str, list[float]] = field(default_factory=dict)
    client_ms: list[float] = field(default_factory=list)
    objects: list[int] = field(default_factory=list)
    floor_page: list[float] = field(default_factory=list)
    floor_every: list[float] = field(default_factory=list)
    floor_every_parallel: list[float] = field(default_factory=list)
    primitives: dict[str, list[float]] = field(default_factory=dict)
    threads: int = 1


def measure(
    services: Services,
    dispatcher: CeleryDispatcher,
    inputs: list[ArticleInput],
    floor: Floor,
    run: Run,
    *,
    warm: int,
    client_wait: ClientWait | None = None,
    broker_url: str | None = None,
) -> None:
    """Publish `inputs` one at a time (the first `warm` untimed), each followed, once live,
    by its floor."""
    events: list[int] = []
    seen: dict[int, datetime] = {}
    last: Affected | None = None
    for number, data in enumerate(inputs):
        with transaction(services.sessions) as session:
            event_id = articles.publish(session, data, actor="bench").event_id
        dispatch_event(services, dispatcher, event_id)
        moment = client_wait(event_id) if client_wait is not None else None
        if moment is None:
            wait_live(services, [event_id])
        work = last = affected(services, event_id)
        page_ms = floor.article_page(work.page)
        every_ms = floor.every_object(work.every)
        parallel_ms = floor.every_object(work.every, parallel=True)
        if number < warm:
            continue
        events.append(event_id)
        if moment is not None:
            seen[event_id] = moment
        run.objects.append(len(work.every))
        run.floor_page.append(page_ms)
        run.floor_every.append(every_ms)
        run.floor_every_parallel.append(parallel_ms)
    run.stages, run.client_ms = stage_ms(services, events, seen)
    run.threads = floor.threads
    assert last is not None
    run.primitives = primitives(services, floor.write, broker_url, last)


def stage_ms(
    services: Services, event_ids: list[int], seen: dict[int, datetime]
) -> tuple[dict[str, list[float]], list[float]]:
    """Each stage's milliseconds since the event was accepted (a stage an event has no stamp
    for is left out), and the client's."""
    with transaction(services.sessions) as session:
        rows = session.execute(
            select(Event.id, Event.status, Event.accepted_at, *STAGES.values()).where(
                Event.id.in_(event_ids)
            )
        ).all()
    failed = [row.id for row in rows if row.status != EventStatus.LIVE]
    assert not failed, f"events {failed} did not go live"
    stages: dict[str, list[float]] = {name: [] for name in STAGES}
    client = []
    for row in rows:
        accepted = as_utc(row.accepted_at)
        for name, column in STAGES.items():
            stamp = getattr(row, column.key)
            if stamp is not None:
                stages[name].append((as_utc(stamp) - accepted).total_seconds() * 1000)
        if row.id in seen:
            client.append((seen[row.id] - accepted).total_seconds() * 1000)
    return stages, client


def as_utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes (stored as UTC).
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- the setups ---------------------------------------------------------------------------------


def api_waiter(stack: Stack) -> tuple[ClientWait, Callable[[], None]]:
    """`pressrun api` and a client that waits on `?wait=30` for each event; and its closing."""
    api = stack.start_api("--log-level", "warning", PRESSRUN_API_RATE_PER_MINUTE=str(10**9))
    made = stack.pressrun("tokens", "create", "--scope", "publish", "--name", "bench")
    secret = made.stdout.splitlines()[-1]
    client = httpx.Client(
        base_url=api.url, headers={"Authorization": f"Bearer {secret}"}, timeout=60
    )

    def wait(event_id: int) -> datetime:
        answer = client.get(f"/v1/events/{event_id}", params={"wait": 30})
        moment = datetime.now(UTC)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == EventStatus.LIVE, answer.text
        return moment

    return wait, client.close


def real(size: int, folder: Path, options: argparse.Namespace) -> Run:
    began = time.perf_counter()
    (folder / "build").mkdir()
    existed = database_exists(template_name(options.site_template, size))
    # Built on Redis database 12: a template build of another size may be running on 13.
    template = ensure_template(size, options.site_template, folder / "build", redis_db=12)
    built = "" if existed else f", built in this run in {time.perf_counter() - began:.0f} s"
    records = site_records(size, options.warm + options.publishes)
    inputs = [parse_article(record)[0] for record in records[size + scale.DURING :]]
    with bench_stack(folder, template=template) as stack:
        services = create_services(stack.settings, migrate=False)
        stack.start_workers(options.workers)
        stack.start_beat()
        dispatcher = CeleryDispatcher(create_app(stack.settings, lambda: services))
        assert stack.settings.s3_endpoint_url
        floor = Floor(services, S3Writer(stack.settings.s3_endpoint_url))
        client_wait, close_client = (None, None) if options.no_api else api_waiter(stack)
        run = Run(size, f"real stack (S3), {options.workers} workers")
        run.note = f"site: a copy of the template {template}{built}"
        try:
            measure(
                services, dispatcher, inputs, floor, run, warm=options.warm,
                client_wait=client_wait, broker_url=stack.settings.broker_url,
            )  # fmt: skip
        finally:
            floor.close()
            if close_client is not None:
                close_client()
            services.engine.dispose()
    return run


def embedded(size: int, folder: Path, options: argparse.Namespace) -> Run:
    settings = Settings(
        database_url=f"sqlite:///{folder / 'site.db'}", storage_url=f"file://{folder / 'site'}"
    )
    services = create_services(settings)
    dispatcher = CeleryDispatcher(create_app(settings, lambda: services))
    _, inputs = scale.corpus(size, options.warm + options.publishes)
    built = scale.Row(size, "embedded")
    scale.build(services, dispatcher, inputs, size, built, eager=True)
    run = Run(size, "embedded (SQLite, folder, in process)")
    run.note = f"site built in the run ({built.import_s + built.rebuild_s:.0f} s)"
    floor = Floor(services, FolderWriter(folder / "floor"))
    try:
        measure(services, dispatcher, inputs[size:], floor, run, warm=options.warm)
    finally:
        floor.close()
        services.engine.dispose()
    return run


# -- the tables ---------------------------------------------------------------------------------


def p50_p99(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{percentile(values, 0.5):.1f} / {percentile(values, 0.99):.1f}"


def ratio(pipeline: list[float], floor: list[float]) -> str:
    if not pipeline or not floor:
        return "-"
    return f"{statistics.median(pipeline) / statistics.median(floor):.1f}x"


def stage_table(runs: list[Run]) -> Table:
    """Each stage's time since accepted; the ratio is to the article page's floor up to
    page live, to every object's floor (one after another) after it."""
    table = Table(
        title="Publish to live, stage by stage: ms since accepted, p50 / p99 "
        "[p50 ÷ floor p50: article page's floor up to page live, every object's after]"
    )
    for column in ("articles", "setup", "n", "objects med (max)", *STAGES, CLIENT):
        table.add_column(column, justify="right")
    for run in runs:
        cells = []
        for name in STAGES:
            floor = run.floor_page if name in ("dispatched", "started", "page live") else (
                run.floor_every
            )  # fmt: skip
            values = run.stages.get(name, [])
            cells.append(f"{p50_p99(values)} [{ratio(values, floor)}]" if values else "-")
        client = (
            f"{p50_p99(run.client_ms)} [{ratio(run.client_ms, run.floor_every)}]"
            if run.client_ms
            else "-"
        )
        table.add_row(
            f"{run.size:,}",
            run.setup,
            str(len(run.floor_page)),
            f"{statistics.median(run.objects):.0f} ({max(run.objects)})" if run.objects else "-",
            *cells,
            client,
        )
    return table


def floor_table(runs: list[Run]) -> Table:
    """The pipeline beside the bare work of the same publishes."""
    table = Table(
        title="The pipeline beside the floor (the same renders and writes, no pipeline), ms: "
        "p50 / p99 (min to max)"
    )
    for column in ("articles", "setup", "measure", "pipeline", "floor", "pipeline ÷ floor"):
        table.add_column(column, justify="right")
    for run in runs:
        live = run.stages.get("live", [])
        measures = [
            ("article page", run.stages.get("page live", []), run.floor_page),
            ("every object, writes one by one", live, run.floor_every),
        ]
        if run.threads > 1:  # the pipeline's store writes several at once
            measures.append(
                (f"every object, {run.threads} writes at once", live, run.floor_every_parallel)
            )
        for measure_name, pipeline, floor in measures:
            table.add_row(
                f"{run.size:,}", run.setup, measure_name, spread(pipeline), spread(floor),
                ratio(pipeline, floor),
            )  # fmt: skip
    return table


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{p50_p99(values)} ({min(values):.1f} to {max(values):.1f})"


def primitives_table(runs: list[Run]) -> Table:
    table = Table(title="The floor's parts, each alone and warm, ms: p50 / p99")
    table.add_column("primitive")
    for run in runs:
        table.add_column(f"{run.size:,}, {run.setup}", justify="right")
    names = list(dict.fromkeys(name for run in runs for name in run.primitives))
    for name in names:
        table.add_row(name, *(p50_p99(run.primitives.get(name, [])) for run in runs))
    return table


def print_tables(runs: list[Run]) -> None:
    WIDE.print(stage_table(runs))
    WIDE.print(floor_table(runs))
    WIDE.print(primitives_table(runs))
    for run in runs:
        if run.note:
            WIDE.print(f"{run.size:,}, {run.setup}: {run.note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000], help="real stack")
    parser.add_argument("--embedded-sizes", type=int, nargs="*", default=[1000])
    parser.add_argument("--publishes", type=int, default=30)
    parser.add_argument("--warm", type=int, default=3, help="untimed publishes first")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--site-template",
        default="pressrun_latency_site",
        metavar="NAME",
        help="the built site of each size is kept as the PostgreSQL database NAME_<size> and "
        "later runs start from a copy (migrated to head); drop it (DROP DATABASE) when the "
        "corpus or the rendering changes",
    )
    parser.add_argument("--no-api", action="store_true", help="no client waiting on ?wait=")
    options = parser.parse_args()
    runs: list[Run] = []
    for size in options.embedded_sizes:
        with tempfile.TemporaryDirectory() as name:
            runs.append(embedded(size, Path(name), options))
        print_tables(runs)
    for size in options.sizes:
        with tempfile.TemporaryDirectory() as name:
            runs.append(real(size, Path(name), options))
        print_tables(runs)


if __name__ == "__main__":
    main()
