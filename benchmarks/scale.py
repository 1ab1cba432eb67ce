"""Cost of a whole build and of publishing against archive size: 1,000 / 10,000 / 100,000
articles.

For each size, on the embedded default (SQLite, folder, in-process) and on the real stack
(PostgreSQL, Redis, 2 `pressrun worker` processes and the beat, folder or S3 storage). On the
real stack the archive is loaded as a newsroom loads it, `pressrun import FILE`, and the
rebuild it requests is followed phase by phase (index, rails, render; objects/s over the
render phase), with one article published through the pipeline midway through each phase
(its publish-to-live); then single publishes, then `rebuild --force` (templates changed,
rails kept). The peak RSS of every process of ours (the import, each worker and its pool
process, the beat) is each process's own VmHWM, read from /proc while the run lasts.

With Hugo installed (Debian: `apt-get install hugo`), the same corpus is built as an
equivalent Hugo site beside ours (up to 50,000 articles): one table per run puts the full
build (import + index + rails + render) beside Hugo's full build, with the ratio. A second
table gives the cost of single publishes; a PNG plots it against archive size.

    .venv/bin/python -m benchmarks.scale --sizes 1000 10000 --skip-embedded
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from benchmarks import hugo_site
from benchmarks.event_times import percentile, stage_times, wait_live
from pipeline.cli.demo_content import generate_articles
from pipeline.config import Settings
from pipeline.content import articles
from pipeline.content.inputs import ArticleInput, parse_article
from pipeline.content.models import Article
from pipeline.db import transaction
from pipeline.events.models import Event, EventKind, EventStatus
from pipeline.events.processing import dispatch_event, event_outcome
from pipeline.publish import rebuild
from pipeline.publish.models import Output
from pipeline.publish.rebuild import CHUNK_ARTICLES, index_chunk, refresh_statistics, weigh_chunk
from pipeline.related.models import RelatedDocument
from pipeline.schema import utcnow
from pipeline.services import Services, create_services
from tests.realstack import (
    Stack,
    bench_stack,
    copy_database,
    database_exists,
    database_name,
    executable,
    s3_client,
    spawn,
)
from workers.app import CeleryDispatcher, create_app

RESULTS = Path(__file__).resolve().parent / "results"
# Wide enough for every column when the output goes to a file or a pipe.
WIDE = Console(width=240)
START = datetime(2018, 1, 1, tzinfo=UTC)


@dataclass
class Row:
    size: int
    setup: str
    import_s: float = 0.0
    rebuild_s: float = 0.0
    pages_per_s: float = 0.0
    objects: list[int] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    page_ms: list[float] = field(default_factory=list)
    related_ms: list[float] = field(default_factory=list)
    peak_rss_mb: list[float] = field(default_factory=list)
    # Index-only setup: the archive imported and indexed, its rails and pages never built.
    index_only: bool = False
    index_s: float = 0.0
    # The index-only database copied from a template an earlier run left (--index-template).
    reused: bool = False
    # Real stack: the rebuild's render phase (the only one that writes objects) on its own,
    # and, on S3, the server's own PUT rate measured after it on the same server.
    render_s: float = 0.0
    # Real stack: the rebuild's phases (rebuild.PHASES), each from first seen to the
    # next one's start (the index phase's time includes sending its chunks).
    phase_s: list[float] = field(default_factory=list)
    written: int = 0
    put_ceiling: float = 0.0
    # Real stack, whole build: peak RSS (MiB) of each process of ours, by role ("import",
    # "worker 1", "worker 1 pool", "beat"); the publish-to-live (ms) of one article published
    # midway through each phase of the rebuild; `rebuild --force` afterwards, by phase.
    rss_mb: dict[str, float] = field(default_factory=dict)
    during_ms: dict[str, float] = field(default_factory=dict)
    force_s: float = 0.0
    force_phase_s: list[float] = field(default_factory=list)

    @property
    def full_build_s(self) -> float:
        """Import, index, rails and render: what Hugo's one full build is compared with."""
        return self.import_s + sum(self.phase_s)

    @property
    def render_rate(self) -> float:
        return self.written / self.render_s if self.render_s else 0.0

    @property
    def label(self) -> str:
        return f"{self.setup}, index only" if self.index_only else self.setup


def corpus(size: int, extra: int) -> tuple[list[dict[str, Any]], list[ArticleInput]]:
    """Generated articles, spread over the years before now; `extra` newest ones to publish."""
    records = corpus_records(size, extra)
    return records, [parse_article(record)[0] for record in records]


def corpus_records(size: int, extra: int) -> list[dict[str, Any]]:
    """`corpus`'s records, unparsed."""
    records = []
    for number, record in enumerate(generate_articles(size + extra)):
        moment = START + timedelta(minutes=number * 30)
        records.append(
            {
                **record,
                "slug": f"{record['slug']}-{number}",
                "published_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
    return records


def build_and_publish(
    services: Services,
    dispatcher: CeleryDispatcher,
    inputs: list[ArticleInput],
    size: int,
    row: Row,
    *,
    eager: bool,
) -> None:
    if row.index_only:
        import_and_index(services, inputs, size, row)
    else:
        build(services, dispatcher, inputs, size, row, eager=eager)
    publish(services, dispatcher, inputs[size : len(inputs) - DURING], row, eager=eager)


def import_and_index(services: Services, inputs: list[ArticleInput], size: int, row: Row) -> None:
    """Index-only setup: the archive imported and indexed, no rails or pages built."""
    started = time.perf_counter()
    with transaction(services.sessions) as session:
        change = articles.import_articles(session, inputs[:size], actor="scale")
        close_unbuilt(session, change.event_id)
    row.import_s = time.perf_counter() - started
    started = time.perf_counter()
    index_everything(services)
    row.index_s = time.perf_counter() - started


def build(
    services: Services,
    dispatcher: CeleryDispatcher,
    inputs: list[ArticleInput],
    size: int,
    row: Row,
    *,
    eager: bool,
) -> None:
    """The archive imported, then the whole site built by the rebuild the import requests."""
    started = time.perf_counter()
    with transaction(services.sessions) as session:
        change = articles.import_articles(session, inputs[:size], actor="scale")
    row.import_s = time.perf_counter() - started
    # The rebuild is timed on its own: from the import's rebuild event sent to the whole
    # site stored (the import itself is a one-off bulk load of the database).
    started = time.perf_counter()
    outcome = dispatch_event(services, dispatcher, change.event_id)
    if not eager:
        seen = wait_rebuilt(services, change.event_id)
        row.phase_s = phase_seconds(started, seen)
        row.render_s = seen["done"] - seen.get("render", seen["done"])
        outcome = event_outcome(services, change.event_id)
    row.rebuild_s = time.perf_counter() - started
    if outcome.report is not None:
        row.written = outcome.report.written_total
        row.pages_per_s = row.written / row.rebuild_s


def wait_rebuilt(
    services: Services,
    event_id: int,
    timeout: float = 7200,
    on_progress: Callable[[rebuild.Progress], None] | None = None,
) -> dict[str, float]:
    """Wait for a fleet rebuild to finish; returns when each phase was first seen open
    (perf_counter) and "done" when it finished. Phase changes are printed as they come: a
    100,000-article rebuild runs for a long time. `on_progress` is shown every reading."""
    deadline = time.monotonic() + timeout
    seen: dict[str, float] = {}
    while time.monotonic() < deadline:
        progress = rebuild.progress(services, event_id)
        if on_progress is not None:
            on_progress(progress)
        if progress.phase not in seen:
            seen[progress.phase] = time.perf_counter()
            WIDE.print(f"  rebuild: {progress.phase} phase open")
        if progress.finished:
            seen["done"] = time.perf_counter()
            return seen
        time.sleep(0.25)
    raise TimeoutError(f"rebuild {event_id} not done after {timeout}s")


# -- the real stack's full build, as a newsroom runs it ---------------------------------------

# One article is published midway through each phase of the rebuild (phases are in
# rebuild.PHASES): the newest of the corpus's extra articles.
DURING = len(rebuild.PHASES)
MEMORY_INTERVAL = 0.5  # seconds between two readings of every watched process's VmHWM


class PeakMemory:
    """Peak resident memory of named processes and every child they start: each process's
    VmHWM (the kernel's own high-water mark of its RSS) read from /proc in a thread every
    `interval` seconds, so a peak is seen as long as its process lives one reading after it.
    A root's own peak is kept under its name, its children's (a worker's pool) under
    "<name> pool"."""

    def __init__(self, interval: float = MEMORY_INTERVAL) -> None:
        self.interval = interval
        self.roots: dict[str, int] = {}
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-memory", daemon=True)

    def watch(self, name: str, pid: int) -> None:
        self.roots[name] = pid

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        for name, pid in list(self.roots.items()):
            for key, process_id in process_tree(name, pid):
                peak = high_water_mb(process_id)
                if peak is not None:
                    self.peaks[key] = max(self.peaks.get(key, 0.0), peak)


def process_tree(name: str, pid: int) -> list[tuple[str, int]]:
    """(name, pid) of the root, ("<name> pool", pid) of each of its descendants."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [(name, pid), *((f"{name} pool", child.pid) for child in children)]


def high_water_mb(pid: int) -> float | None:
    """The peak RSS of a running process so far, in MiB (None once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def phase_seconds(started: float, seen: dict[str, float]) -> list[float]:
    """Each phase's seconds in rebuild.PHASES' order, from its start (the first phase's:
    `started`) to the next phase's first sighting; 0 for a phase the rebuild had no work for
    (a forced rebuild weighs nothing)."""
    marks = [(phase, seen[phase]) for phase in rebuild.PHASES[1:] if phase in seen]
    starts = [(rebuild.PHASES[0], started), *marks]
    ends = [moment for _, moment in marks] + [seen["done"]]
    seconds = {phase: end - begin for (phase, begin), end in zip(starts, ends, strict=True)}
    return [seconds.get(phase, 0.0) for phase in rebuild.PHASES]


def write_jsonl(records: list[dict[str, Any]], path: Path) -> None:
    with path.open("w", encoding="utf-8") as stream:
        for record in records:
            stream.write(json.dumps(record) + "\n")


def build_with_cli(
    stack: Stack,
    services: Services,
    dispatcher: CeleryDispatcher,
    records: list[dict[str, Any]],
    row: Row,
    memory: PeakMemory,
) -> None:
    """The archive loaded as a newsroom loads it, `pressrun import FILE` (its memory watched),
    then the rebuild it requests followed phase by phase, with one article published through
    the pipeline midway through each phase."""
    archive = stack.folder / "archive.jsonl"
    write_jsonl(records[: row.size], archive)
    log = stack.folder / "import.log"
    env = {**stack.env, "PYTHONUNBUFFERED": "1"}  # its lines as they are written
    started = time.perf_counter()
    command = [executable("pressrun"), "import", str(archive)]
    process = spawn(command, env, stack.folder, log)
    memory.watch("import", process.pid)
    while "imported " not in log.read_text(errors="replace"):
        if process.poll() is not None:
            raise RuntimeError(f"pressrun import failed:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)
    row.import_s = time.perf_counter() - started
    event_id = latest_rebuild(services)
    midway = MidwayPublisher(services, dispatcher, records[-DURING:])
    rebuilt = time.perf_counter()
    seen = wait_rebuilt(services, event_id, on_progress=midway)
    if process.wait(timeout=300) != 0:
        raise RuntimeError(f"pressrun import failed:\n{log.read_text()[-3000:]}")
    row.phase_s = phase_seconds(rebuilt, seen)
    row.render_s = seen["done"] - seen.get("render", seen["done"])
    row.rebuild_s = seen["done"] - rebuilt
    outcome = event_outcome(services, event_id)
    if outcome.report is not None:
        row.written = outcome.report.written_total
        row.pages_per_s = row.written / row.rebuild_s
    row.during_ms = midway.live_ms()


def latest_rebuild(services: Services) -> int:
    with transaction(services.sessions) as session:
        event_id = session.scalar(select(func.max(Event.id)).where(Event.kind == EventKind.REBUILD))
    assert event_id is not None, "the import recorded no rebuild"
    return int(event_id)


class MidwayPublisher:
    """Publishes one article through the pipeline (the database, then the broker) once half
    the chunks of a rebuild's phase are done, once per phase; then tells how long each took
    to go live."""

    def __init__(
        self, services: Services, dispatcher: CeleryDispatcher, records: list[dict[str, Any]]
    ) -> None:
        self.services, self.dispatcher = services, dispatcher
        self.waiting = [parse_article(record)[0] for record in records]
        self.events: dict[str, int] = {}

    def __call__(self, progress: rebuild.Progress) -> None:
        halfway = progress.total > 0 and progress.done * 2 >= progress.total
        if not halfway or progress.phase in self.events or not self.waiting:
            return
        with transaction(self.services.sessions) as session:
            event_id = articles.publish(session, self.waiting.pop(0), actor="scale").event_id
        dispatch_event(self.services, self.dispatcher, event_id)
        self.events[progress.phase] = event_id

    def live_ms(self) -> dict[str, float]:
        """Publish-to-live by phase, once every one of them is live."""
        wait_live(self.services, list(self.events.values()))
        return {
            phase: stage_times(self.services, [event_id])[0][0]
            for phase, event_id in self.events.items()
        }


def force_rebuild(services: Services, dispatcher: CeleryDispatcher, row: Row) -> None:
    """`pressrun rebuild --force` (templates changed: every output written again, the rails
    kept), timed by phase."""
    with transaction(services.sessions) as session:
        event_id = articles.request_rebuild(session, actor="scale", force=True).event_id
    started = time.perf_counter()
    dispatch_event(services, dispatcher, event_id)
    seen = wait_rebuilt(services, event_id)
    row.force_phase_s = phase_seconds(started, seen)
    row.force_s = seen["done"] - started


def put_ceiling(endpoint: str, body: bytes, seconds: float = 4.0) -> float:
    """The S3 server's own PUT rate for objects like ours: the best of a few client
    concurrencies, each putting `body` as fast as the server takes it for `seconds`."""
    client = s3_client(endpoint, connections=32)
    client.create_bucket(Bucket="ceiling")
    rates = []
    for threads in (4, 8, 16):
        stop = time.monotonic() + seconds

        def put_until_stop(thread: int, stop: float = stop) -> int:
            count = 0
            while time.monotonic() < stop:
                client.put_object(Bucket="ceiling", Key=f"{thread}/{count}", Body=body)
                count += 1
            return count

        began = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            total = sum(pool.map(put_until_stop, range(threads)))
        rates.append(total / (time.perf_counter() - began))
    return max(rates)


def sample_page(services: Services) -> bytes:
    """One article page as stored: the ceiling is measured with objects of its size."""
    with transaction(services.sessions) as session:
        key = session.scalar(select(Output.key).where(Output.key.like("articles/%")).limit(1))
    body = services.storage.get(key) if key else None
    return body or b"x" * 10_000


def publish(
    services: Services,
    dispatcher: CeleryDispatcher,
    inputs: list[ArticleInput],
    row: Row,
    *,
    eager: bool,
) -> None:
    events = []
    for data in inputs:
        began = time.perf_counter()
        with transaction(services.sessions) as session:
            event_id = articles.publish(session, data, actor="scale").event_id
        published = dispatch_event(services, dispatcher, event_id)
        if eager:
            row.latency_ms.append((time.perf_counter() - began) * 1000)
            assert published.report is not None
            row.objects.append(published.report.written_total + published.report.deleted_total)
        else:
            wait_live(services, [event_id])
            events.append(event_id)
    if events:
        row.latency_ms, row.page_ms = stage_times(services, events)
        outcome_reports = [event_outcome(services, e) for e in events]
        row.objects = [
            o.report.written_total + o.report.deleted_total for o in outcome_reports if o.report
        ]
    row.related_ms = related_times(services)


def close_unbuilt(session: Session, event_id: int) -> None:
    """Index-only setup: the import's rebuild event is closed unrun (in the import's own
    transaction, so no relay sends it meanwhile)."""
    event = session.get(Event, event_id)
    assert event is not None
    event.status, event.live_at = EventStatus.LIVE, utcnow()


def index_everything(services: Services) -> None:
    """The rebuild's index and weigh phases alone, in this process: every article's terms in
    the related index, no rails and no pages."""
    with transaction(services.sessions) as session:
        ids = list(session.scalars(select(Article.id).order_by(Article.id)))
    chunks = [ids[start : start + CHUNK_ARTICLES] for start in range(0, len(ids), CHUNK_ARTICLES)]
    for chunk in chunks:
        with transaction(services.sessions) as session:
            index_chunk(services, session, chunk)
    with transaction(services.sessions) as session:
        services.related.fold_counts(session)
    refresh_statistics(services, "weigh")
    for chunk in chunks:
        with transaction(services.sessions) as session:
            weigh_chunk(services, session, chunk)
    refresh_statistics(services, "index")
    refresh_statistics(services, "rails")


def related_times(services: Services, samples: int = 100) -> list[float]:
    with transaction(services.sessions) as session:
        ids = list(session.scalars(select(RelatedDocument.article_id)))
        chosen = random.Random(7).sample(ids, min(samples, len(ids)))
        times = []
        for article_id in chosen:
            began = time.perf_counter()
            services.related.neighbours(session, article_id, services.settings.related_size)
            times.append((time.perf_counter() - began) * 1000)
    return times


def embedded(size: int, inputs: list[ArticleInput], folder: Path, index_only: bool) -> Row:
    settings = Settings(
        database_url=f"sqlite:///{folder / 'scale.db'}", storage_url=f"file://{folder / 'site'}"
    )
    services = create_services(settings)
    dispatcher = CeleryDispatcher(create_app(settings, lambda: services))
    row = Row(size, "embedded", index_only=index_only)
    build_and_publish(services, dispatcher, inputs, size, row, eager=True)
    row.peak_rss_mb = [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]
    services.engine.dispose()
    return row


def real(
    size: int,
    inputs: list[ArticleInput],
    folder: Path,
    storage: str,
    index_only: bool,
    template: str | None = None,
    records: list[dict[str, Any]] | None = None,
) -> Row:
    """With `records` (the corpus `inputs` was parsed from), the archive is imported by
    `pressrun import` and its rebuild followed and measured as a whole build; without, in
    this process."""
    overrides: dict[str, object] = {}
    if storage == "folder":
        overrides["storage_url"] = f"file://{folder / 'site'}"
    if template is not None:
        template = f"{template}_{size}"
    reuse = index_only and template is not None and database_exists(template)
    with bench_stack(folder, template=template if reuse else None, **overrides) as stack:
        services = create_services(stack.settings, migrate=False)
        row = Row(size, f"real stack ({storage})", index_only=index_only, reused=reuse)
        if index_only and not reuse:
            # Set up before the workers start: copying a database needs it unconnected.
            import_and_index(services, inputs, size, row)
            services.engine.dispose()
            if template is not None:
                copy_database(database_name(stack.settings.database_url), template)
        stack.start_workers(2)
        stack.start_beat()
        dispatcher = CeleryDispatcher(create_app(stack.settings, lambda: services))
        with PeakMemory() as memory:
            watch_fleet(stack, memory)
            if records is not None and not index_only:
                build_with_cli(stack, services, dispatcher, records, row, memory)
            elif not index_only:
                build(services, dispatcher, inputs, size, row, eager=False)
            publish(services, dispatcher, inputs[size : len(inputs) - DURING], row, eager=False)
            if not index_only:
                force_rebuild(services, dispatcher, row)
        row.rss_mb = memory.peaks
        row.peak_rss_mb = stack.peak_rss_mb()
        if storage == "s3" and stack.settings.s3_endpoint_url:
            row.put_ceiling = put_ceiling(stack.settings.s3_endpoint_url, sample_page(services))
        services.engine.dispose()
    return row


def watch_fleet(stack: Stack, memory: PeakMemory) -> None:
    for number, worker in enumerate(stack.workers, start=1):
        memory.watch(f"worker {number}", worker.process.pid)
    if stack.beat is not None:
        memory.watch("beat", stack.beat.pid)


def hugo(size: int, records: list[dict[str, Any]], folder: Path) -> dict[str, float] | None:
    if not hugo_site.hugo_available() or size > 50_000:
        return None
    # "prev" walks .Prev ten times: the same links as a where/first scan, without making
    # Hugo quadratic (see benchmarks/hugo_site.py).
    hugo_site.write_hugo_site(records[:size], folder / "hugo", latest_rail="prev")
    full = hugo_site.build_hugo(folder / "hugo")
    one = hugo_site.publish_one_with_hugo(folder / "hugo", records[size])
    return {"build_s": full.seconds, "peak_mb": full.peak_rss_mb, "publish_s": one.seconds}


def summary(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{percentile(values, 0.5):.0f} / {percentile(values, 0.99):.0f}"


def print_tables(rows: list[Row], hugos: dict[int, dict[str, float] | None]) -> None:
    WIDE.print(build_table(rows, hugos))
    WIDE.print(publish_table(rows))
    if not hugo_site.hugo_available():
        WIDE.print(hugo_site.HUGO_INSTALL_HINT)


BUILD_COLUMNS = (
    "articles",
    "setup",
    "import s",
    f"{' / '.join(rebuild.PHASES)} s",
    "render objects/s",
    "full build s",
    "Hugo full build s",
    "times Hugo",
    "rebuild --force s (by phase)",
    f"publish→live during rebuild s (in {' / '.join(rebuild.PHASES)})",
    "peak RSS MB: import",
    "workers (main / pool)",
    "beat",
    "Hugo",
)
CEILING_COLUMNS = ("S3 server PUT ceiling /s", "render share of ceiling")


def build_table(rows: list[Row], hugos: dict[int, dict[str, float] | None]) -> Table:
    """One row per size and setup: pressrun's whole build (import, then the rebuild by phase)
    beside Hugo's full build of the same corpus, with the peak memory of every process."""
    table = Table(title="Full build: pressrun beside Hugo (same corpus)")
    with_ceiling = any(row.put_ceiling for row in rows)
    for column in BUILD_COLUMNS + (CEILING_COLUMNS if with_ceiling else ()):
        table.add_column(column, justify="right")
    for row in rows:
        figures = hugos.get(row.size) or {}
        cells = [*build_cells(row, figures), *memory_cells(row, figures)]
        if with_ceiling:
            cells += ceiling_cells(row)
        table.add_row(*cells)
    return table


def build_cells(row: Row, hugo: dict[str, float]) -> list[str]:
    built = not row.index_only and (row.rebuild_s > 0 or bool(row.phase_s))
    full = row.full_build_s if built else 0.0
    hugo_s = hugo.get("build_s", 0.0)
    return [
        f"{row.size:,}",
        row.label,
        "copied" if row.reused else f"{row.import_s:.1f}",
        seconds_by_phase(row.phase_s) if row.phase_s else (
            f"index {row.index_s:.1f}" if row.index_only else "-"
        ),
        f"{row.render_rate:.0f}" if row.render_rate else "-",
        f"{full:.1f}" if full else "-",
        f"{hugo_s:.1f}" if hugo_s else "-",
        f"{full / hugo_s:.1f}" if full and hugo_s else "-",
        f"{row.force_s:.1f} ({seconds_by_phase(row.force_phase_s)})" if row.force_s else "-",
        " / ".join(
            f"{row.during_ms[phase] / 1000:.1f}" if phase in row.during_ms else "-"
            for phase in rebuild.PHASES
        )
        if row.during_ms
        else "-",
    ]  # fmt: skip


def memory_cells(row: Row, hugo: dict[str, float]) -> list[str]:
    rss = row.rss_mb
    workers = sorted(
        name for name in rss if name.startswith("worker ") and not name.endswith(" pool")
    )
    return [
        f"{rss['import']:.0f}" if "import" in rss else (
            f"{row.peak_rss_mb[0]:.0f} (in process)" if row.setup == "embedded"
            and row.peak_rss_mb else "-"
        ),
        ", ".join(f"{rss[name]:.0f} / {rss.get(f'{name} pool', 0):.0f}" for name in workers)
        or "-",
        f"{rss['beat']:.0f}" if "beat" in rss else "-",
        f"{hugo['peak_mb']:.0f}" if "peak_mb" in hugo else "-",
    ]  # fmt: skip


def ceiling_cells(row: Row) -> list[str]:
    if not row.put_ceiling:
        return ["-", "-"]
    return [f"{row.put_ceiling:.0f}", f"{row.render_rate / row.put_ceiling:.0%}"]


def seconds_by_phase(seconds: list[float]) -> str:
    return " / ".join(f"{value:.1f}" for value in seconds)


def publish_table(rows: list[Row]) -> Table:
    """After the build: single publishes into the site, one at a time."""
    table = Table(title="Publishing into the built site, one at a time (p50 / p99)")
    for column in (
        "articles",
        "setup",
        "objects/publish med (max)",
        "publish→live ms",
        "article page ms",
        "related query ms",
    ):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            f"{row.size:,}",
            row.label,
            f"{statistics.median(row.objects):.0f} ({max(row.objects)})" if row.objects else "-",
            summary(row.latency_ms),
            summary(row.page_ms),
            summary(row.related_ms),
        )
    return table


def plot(rows: list[Row]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    RESULTS.mkdir(exist_ok=True)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for setup in sorted({row.label for row in rows}):
        mine = [row for row in rows if row.label == setup and row.objects]
        sizes = [row.size for row in mine]
        left.plot(sizes, [statistics.median(row.objects) for row in mine], marker="o", label=setup)
        right.plot(
            sizes, [statistics.median(row.latency_ms) for row in mine], marker="o", label=setup
        )
    for axis, label in (
        (left, "objects written per publish (median)"),
        (right, "publish to live, ms (median)"),
    ):
        axis.set_xscale("log")
        axis.set_xlabel("articles in the site")
        axis.set_ylabel(label)
        axis.set_ylim(bottom=0)
        axis.grid(True, alpha=0.3)
        axis.legend()
    figure.suptitle("pressrun: cost per publish against archive size")
    figure.tight_layout()
    path = RESULTS / "cost_per_publish.png"
    figure.savefig(path, dpi=110)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--publishes", type=int, default=30)
    parser.add_argument("--real-storage", choices=("folder", "s3"), default="folder")
    parser.add_argument("--skip-real", action="store_true")
    parser.add_argument("--skip-embedded", action="store_true")
    parser.add_argument(
        "--index-only",
        type=int,
        nargs="*",
        default=[],
        metavar="SIZE",
        help="for these sizes, import and index the archive but build no rails or pages "
        "(publishes then write to a site with no older pages; for sizes whose full rebuild "
        "takes hours: run a small size this way too and compare the two)",
    )
    parser.add_argument(
        "--index-template",
        metavar="NAME",
        help="real stack, index-only sizes: keep the imported and indexed PostgreSQL database "
        "as NAME_<size> and start later runs from a copy of it (importing and indexing "
        "100,000 articles takes over 20 minutes here); drop it with DROP DATABASE when the "
        "corpus or the indexing changes",
    )
    options = parser.parse_args()
    rows: list[Row] = []
    hugos: dict[int, dict[str, float] | None] = {}
    for size in options.sizes:
        records, inputs = corpus(size, options.publishes + DURING)
        index_only = size in options.index_only
        if not options.skip_embedded:
            with tempfile.TemporaryDirectory() as name:
                rows.append(embedded(size, inputs, Path(name), index_only))
        if not options.skip_real:
            with tempfile.TemporaryDirectory() as name:
                rows.append(
                    real(
                        size,
                        inputs,
                        Path(name),
                        options.real_storage,
                        index_only,
                        options.index_template,
                        records,
                    )
                )
        with tempfile.TemporaryDirectory() as name:
            hugos[size] = hugo(size, records, Path(name))
        print_tables(rows, hugos)
    WIDE.print(f"plot: {plot(rows)}")


if __name__ == "__main__":
    main()
