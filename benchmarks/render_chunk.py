"""The render phase of a rebuild in this process: every output of a site of N articles
rendered and written in rebuild chunks, timed by kind of chunk (and optionally profiled).

The site is imported once into a PostgreSQL database kept as `<name>_<size>` (later runs
copy nothing and import nothing); rails are filled with five neighbours each by SQL, so
pages show a "More like this" rail without running the rails phase.

    .venv/bin/python -m benchmarks.render_chunk --articles 10000
    .venv/bin/python -m benchmarks.render_chunk --articles 10000 --profile article
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import pstats
import resource
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from sqlalchemy import text

from benchmarks.scale import corpus
from pipeline.config import Settings
from pipeline.content import articles
from pipeline.db import transaction
from pipeline.events.models import Event, EventStatus
from pipeline.publish.rebuild import CHUNK_OUTPUTS
from pipeline.schema import utcnow
from pipeline.services import Services, create_services
from pipeline.site import lists
from pipeline.site.outputs import OutputSpec
from pipeline.site.planner import plan_everything
from tests.realstack import PG_HOST, admin, database_exists, migrate

FAKE_RAILS = """
INSERT INTO related_rails (article_id, rank, neighbour_id, score, terms)
SELECT a.id, r.rank, b.id, 1.0 / r.rank, '["one", "two", "three"]'
FROM articles a
CROSS JOIN generate_series(1, 5) AS r(rank)
JOIN articles b ON b.id = 1 + ((a.id * 7919 + r.rank * 104729) % (SELECT max(id) FROM articles))
ON CONFLICT DO NOTHING
"""


def prepared(name: str, size: int) -> str:
    """The database of a site of `size` articles, imported (and rails filled) if new."""
    database = f"{name}_{size}"
    url = f"{PG_HOST.replace('postgresql://', 'postgresql+psycopg://')}/{database}"
    if database_exists(database):
        return url
    with admin() as connection:
        connection.execute(f'CREATE DATABASE "{database}"')
    migrate(url)
    services = create_services(Settings(database_url=url), migrate=False)
    _, inputs = corpus(size, 0)
    with transaction(services.sessions) as session:
        change = articles.import_articles(session, inputs, actor="render_chunk")
        event = session.get(Event, change.event_id)
        assert event is not None
        event.status, event.live_at = EventStatus.LIVE, utcnow()
    with transaction(services.sessions) as session:
        session.execute(text(FAKE_RAILS))
        lists.recount_months(session)
    with services.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    services.engine.dispose()
    return url


def chunked(specs: list[OutputSpec]) -> list[list[OutputSpec]]:
    return [specs[start : start + CHUNK_OUTPUTS] for start in range(0, len(specs), CHUNK_OUTPUTS)]


def site_digest(folder: Path) -> str:
    """sha256 over every stored key and its bytes: equal before and after a refactor."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def run(services: Services, profile: str | None, force: bool, every: int) -> None:
    """Build every `every`-th chunk; print wall and CPU seconds (this process's, threads
    included: on a busy machine the fairer figure) by kind of chunk."""
    with transaction(services.sessions) as session:
        specs = sorted(plan_everything(session, services.settings, services.kinds))
    seconds: dict[str, float] = defaultdict(float)
    cpu: dict[str, float] = defaultdict(float)
    outputs: dict[str, int] = defaultdict(int)
    profiler = cProfile.Profile()
    began = time.perf_counter()
    for chunk in chunked(specs)[::every]:
        label = chunk[0].kind if chunk[0].kind == chunk[-1].kind else "mixed"
        profiling = profile is not None and profile in (label, "all")
        started, started_cpu = time.perf_counter(), time.process_time()
        if profiling:
            profiler.enable()
        services.publisher.build(services.sessions, set(chunk), force=force)
        if profiling:
            profiler.disable()
        seconds[label] += time.perf_counter() - started
        cpu[label] += time.process_time() - started_cpu
        outputs[label] += len(chunk)
    total = time.perf_counter() - began
    for label in sorted(seconds, key=lambda name: -seconds[name]):
        rate = outputs[label] / seconds[label]
        per_output = cpu[label] / outputs[label] * 1000
        print(
            f"{label:16} {outputs[label]:7} outputs {seconds[label]:7.2f} s {rate:8.0f}/s"
            f"  CPU {cpu[label]:7.2f} s ({per_output:.2f} ms an output)"
        )
    done = sum(outputs.values())
    print(f"{'all':16} {done:7} outputs {total:7.2f} s {done / total:8.0f}/s")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if profile is not None:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--database", default="pressrun_render_chunk")
    parser.add_argument("--storage", default=None, help="storage URL (default: a temp folder)")
    parser.add_argument("--profile", default=None, help="a chunk's kind, 'mixed' or 'all'")
    parser.add_argument("--rounds", type=int, default=1, help="rounds after the first build")
    parser.add_argument("--every", type=int, default=1, help="build only every N-th chunk")
    args = parser.parse_args()
    url = prepared(args.database, args.articles)
    with tempfile.TemporaryDirectory() as folder:
        storage = args.storage or f"file://{Path(folder) / 'site'}"
        services = create_services(Settings(database_url=url, storage_url=storage), migrate=False)
        with transaction(services.sessions) as session:
            session.execute(text("TRUNCATE outputs, output_dependencies"))
        print("first build (empty manifest):")
        run(services, args.profile if args.rounds == 0 else None, False, args.every)
        for _ in range(args.rounds):
            print("forced build (every output written again):")
            run(services, args.profile, True, args.every)
        if args.storage is None:
            print(f"site digest {site_digest(Path(folder) / 'site')}")
        services.engine.dispose()


if __name__ == "__main__":
    main()
