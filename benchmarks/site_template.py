"""A built site kept as a PostgreSQL template database, so a benchmark at 100,000 articles
starts from a copy in seconds instead of a build of half an hour.

The site is built as `benchmarks.scale` builds it (`pressrun import FILE` on the real stack,
then the rebuild it requests, followed phase by phase: `scale.build_with_cli`), to folder
storage; once everything is quiet the fleet is stopped and the database copied as the
template. A later run gets a copy (`bench_stack(template=...)`: CREATE DATABASE ... TEMPLATE,
then the migrations up to head, so code that added migrations since still runs on it).
The stored objects of the build are not kept: a run from the template writes to a storage
without them (see `benchmarks.publish_latency`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import scale
from pipeline.services import create_services
from tests.realstack import bench_stack, copy_database, database_exists, database_name
from workers.app import CeleryDispatcher, create_app


@dataclass(frozen=True)
class BuiltSite:
    template: str
    size: int
    import_s: float
    rebuild_s: float
    seconds: float


def template_name(prefix: str, size: int) -> str:
    return f"{prefix}_{size}"


def site_records(size: int, extra: int) -> list[dict[str, Any]]:
    """The archive of `size` articles, then `scale.DURING` articles the build publishes
    midway through its phases, then `extra` newer ones for a benchmark to publish (their
    slugs end in their number, so none is in a template built with another `extra`)."""
    return scale.corpus_records(size, scale.DURING + extra)


def build_template(size: int, template: str, folder: Path, redis_db: int = 13) -> BuiltSite:
    """Build a site of `size` articles on the real stack (2 workers and the beat, folder
    storage) and keep its database as `template` (replacing one of that name)."""
    began = time.perf_counter()
    records = site_records(size, 0)
    site = folder / "site"
    with bench_stack(folder, redis_db=redis_db, storage_url=f"file://{site}") as stack:
        services = create_services(stack.settings, migrate=False)
        stack.start_workers(2)
        stack.start_beat()
        dispatcher = CeleryDispatcher(create_app(stack.settings, lambda: services))
        row = scale.Row(size, "template build")
        with scale.PeakMemory() as memory:
            scale.build_with_cli(stack, services, dispatcher, records, row, memory)
        stack.wait_quiet(timeout=3600)
        services.engine.dispose()
        # Copying a database needs it unconnected: the fleet and the harness go first.
        stack.close()
        copy_database(database_name(stack.settings.database_url), template)
    return BuiltSite(template, size, row.import_s, row.rebuild_s, time.perf_counter() - began)


def ensure_template(
    size: int, prefix: str, folder: Path, rebuild: bool = False, redis_db: int = 13
) -> str:
    """The template of a built site of `size` articles, built first if it does not exist
    (on Redis database `redis_db`: two builds at once each need their own)."""
    name = template_name(prefix, size)
    if rebuild or not database_exists(name):
        built = build_template(size, name, folder, redis_db)
        scale.WIDE.print(
            f"built {size:,} articles as template {name} in {built.seconds:.0f} s "
            f"(import {built.import_s:.0f} s, rebuild {built.rebuild_s:.0f} s)"
        )
    return name


def main() -> None:
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--prefix", default="pressrun_latency_site")
    parser.add_argument("--rebuild", action="store_true", help="replace an existing template")
    parser.add_argument("--redis-db", type=int, default=13, help="of PRESSRUN_TEST_REDIS")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        ensure_template(options.size, options.prefix, Path(name), options.rebuild, options.redis_db)


if __name__ == "__main__":
    main()
