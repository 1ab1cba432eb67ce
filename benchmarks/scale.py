"""Cost of publishing against archive size: 1,000 / 10,000 / 100,000-article sites.

For each size, on the embedded default (SQLite, folder, in-process) and on the real stack
(PostgreSQL, Redis, 2 `pressrun worker` processes, folder or S3 storage): full rebuild time
and pages per second, objects written per publish, publish latency, related query time, peak
memory. With Hugo installed (Debian: `apt-get install hugo`), the same corpus is built as an
equivalent Hugo site beside ours (up to 50,000 articles). Writes a PNG of cost per publish
against archive size.

    .venv/bin/python -m benchmarks.scale --sizes 1000 10000 100000
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from benchmarks import hugo_site
from benchmarks.publish_latency import percentile, stage_times, wait_live
from pipeline.cli.demo_content import generate_articles
from pipeline.config import Settings
from pipeline.content import articles
from pipeline.content.inputs import ArticleInput, parse_article
from pipeline.content.models import Article
from pipeline.db import transaction
from pipeline.events.models import Event, EventStatus
from pipeline.events.processing import dispatch_event, event_outcome
from pipeline.publish import rebuild
from pipeline.publish.models import Output
from pipeline.publish.rebuild import CHUNK_ARTICLES, index_chunk, refresh_statistics, weigh_chunk
from pipeline.related.models import RelatedDocument
from pipeline.schema import utcnow
from pipeline.services import Services, create_services
from tests.realstack import bench_stack, copy_database, database_exists, database_name, s3_client
from workers.app import CeleryDispatcher, create_app

RESULTS = Path(__file__).resolve().parent / "results"
# Wide enough for every column when the output goes to a file or a pipe.
WIDE = Console(width=160)
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

    @property
    def label(self) -> str:
        return f"{self.setup}, index only" if self.index_only else self.setup


def corpus(size: int, extra: int) -> tuple[list[dict[str, Any]], list[ArticleInput]]:
    """Generated articles, spread over the years before now; `extra` newest ones to publish."""
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
    return records, [parse_article(record)[0] for record in records]


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
    publish(services, dispatcher, inputs[size:], row, eager=eager)


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
        # Each phase runs from the previous one's end to the next one's first sighting.
        ends = [seen[phase] for phase in rebuild.PHASES[1:] if phase in seen] + [seen["done"]]
        row.phase_s = [end - begin for begin, end in zip([started, *ends], ends, strict=False)]
        row.render_s = seen["done"] - seen.get("render", seen["done"])
        outcome = event_outcome(services, change.event_id)
    row.rebuild_s = time.perf_counter() - started
    if outcome.report is not None:
        row.written = outcome.report.written_total
        row.pages_per_s = row.written / row.rebuild_s


def wait_rebuilt(services: Services, event_id: int, timeout: float = 7200) -> dict[str, float]:
    """Wait for a fleet rebuild to finish; returns when each phase was first seen open
    (perf_counter) and "done" when it finished. Phase changes are printed as they come: a
    100,000-article rebuild runs for a long time."""
    deadline = time.monotonic() + timeout
    seen: dict[str, float] = {}
    while time.monotonic() < deadline:
        progress = rebuild.progress(services, event_id)
        if progress.phase not in seen:
            seen[progress.phase] = time.perf_counter()
            WIDE.print(f"  rebuild: {progress.phase} phase open")
        if progress.finished:
            seen["done"] = time.perf_counter()
            return seen
        time.sleep(0.25)
    raise TimeoutError(f"rebuild {event_id} not done after {timeout}s")


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
) -> Row:
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
        dispatcher = CeleryDispatcher(create_app(stack.settings, lambda: services))
        if not index_only:
            build(services, dispatcher, inputs, size, row, eager=False)
        publish(services, dispatcher, inputs[size:], row, eager=False)
        row.peak_rss_mb = stack.peak_rss_mb()
        if storage == "s3" and stack.settings.s3_endpoint_url:
            row.put_ceiling = put_ceiling(stack.settings.s3_endpoint_url, sample_page(services))
        services.engine.dispose()
    return row


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
    table = Table(title="pressrun at scale (medians; p50 / p99)")
    for column in (
        "articles",
        "setup",
        "import s",
        "rebuild s",
        "pages/s",
        "objects/publish med (max)",
        "publish→live ms",
        "article page ms",
        "related query ms",
        "peak RSS MB",
    ):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            f"{row.size:,}",
            row.label,
            "copied" if row.reused else f"{row.import_s:.0f}",
            "copied"
            if row.reused
            else (f"index {row.index_s:.0f}" if row.index_only else f"{row.rebuild_s:.0f}"),
            "-" if row.index_only else f"{row.pages_per_s:.0f}",
            f"{statistics.median(row.objects):.0f} ({max(row.objects)})" if row.objects else "-",
            summary(row.latency_ms),
            summary(row.page_ms),
            summary(row.related_ms),
            ", ".join(f"{size:.0f}" for size in row.peak_rss_mb),
        )
    WIDE.print(table)
    print_throughput([row for row in rows if row.render_s > 0])
    if any(hugos.values()):
        side = Table(title="Hugo side by side (same corpus)")
        for column in (
            "articles",
            "hugo build s",
            "hugo peak MB",
            "hugo: publish one (full build) s",
        ):
            side.add_column(column, justify="right")
        for size, figures in hugos.items():
            if figures:
                side.add_row(
                    f"{size:,}",
                    f"{figures['build_s']:.1f}",
                    f"{figures['peak_mb']:.0f}",
                    f"{figures['publish_s']:.1f}",
                )
        WIDE.print(side)
    elif not hugo_site.hugo_available():
        WIDE.print(f"Hugo not installed: {hugo_site.HUGO_INSTALL_HINT}")


def print_throughput(rows: list[Row]) -> None:
    """The real stack's render phase: objects written per second, and on S3 beside the
    server's own PUT ceiling (the issue's target: at least 80% of it)."""
    if not rows:
        return
    table = Table(title="real-stack rebuild by phase; objects/s over the render phase")
    for column in ("articles", "setup", f"{' / '.join(rebuild.PHASES)} s", "objects", "objects/s",
                   "S3 server PUT ceiling /s", "share of ceiling"):  # fmt: skip
        table.add_column(column, justify="right")
    for row in rows:
        rate = row.written / row.render_s
        ceiling = row.put_ceiling
        table.add_row(
            f"{row.size:,}",
            row.label,
            " / ".join(f"{seconds:.0f}" for seconds in row.phase_s),
            f"{row.written:,}",
            f"{rate:.0f}",
            f"{ceiling:.0f}" if ceiling else "-",
            f"{rate / ceiling:.0%}" if ceiling else "-",
        )
    WIDE.print(table)


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
        records, inputs = corpus(size, options.publishes)
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
                    )
                )
        with tempfile.TemporaryDirectory() as name:
            hugos[size] = hugo(size, records, Path(name))
        print_tables(rows, hugos)
    WIDE.print(f"plot: {plot(rows)}")


if __name__ == "__main__":
    main()
