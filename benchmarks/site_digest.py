"""A fingerprint of the site a fixed corpus builds: refactors that must not change behaviour
print the same digests before and after.

The generated newsroom (`pressrun demo`'s, seeded) is published one event at a time on a
pinned clock, then changed: articles updated, moved to another section (a redirect), taken
down and brought back. The site is digested (sha256 over every key in order with its bytes,
and the content type and cache header it was last written with), and so is the manifest
(outputs and their data keys). A forced full rebuild follows,
digested again: it must give the same site.

    .venv/bin/python -m benchmarks.site_digest --articles 200
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import tempfile
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from pipeline.cli.demo_content import generate_articles
from pipeline.config import Settings
from pipeline.content import articles
from pipeline.content.inputs import parse_article
from pipeline.db import transaction
from pipeline.events.models import EventStatus
from pipeline.events.processing import Outcome, dispatch_event
from pipeline.publish.build import Publisher
from pipeline.publish.models import Output, OutputDependency
from pipeline.services import Services, create_services
from pipeline.storage import Storage, StoredObject
from workers.app import CeleryDispatcher, create_app

CLOCK = datetime(2026, 1, 1, tzinfo=UTC)


class Headers:
    """A store that keeps the headers each key was last written with (a folder keeps none)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.written: dict[str, tuple[str, str]] = {}

    def put(self, item: StoredObject) -> None:
        self.put_many([item])

    def put_many(self, items: Sequence[StoredObject]) -> None:
        self.storage.put_many(items)
        self.written |= {item.key: (item.content_type, item.cache_control) for item in items}

    def delete(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        self.storage.delete(keys)
        for key in keys:
            self.written.pop(key, None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.storage, name)


class Site:
    """Drives the domain as the embedded CLI does, each change at the next tick of the clock."""

    def __init__(self, folder: Path) -> None:
        settings = Settings(
            database_url=f"sqlite:///{folder / 'pressrun.db'}",
            storage_url=f"file://{folder / 'site'}",
            site_url="https://news.example.com",
            site_name="The Digest Gazette",
        )
        services = create_services(settings)
        self.headers = Headers(services.storage)
        self.services: Services = dataclasses.replace(
            services, publisher=Publisher(services.renderer, self.headers)
        )
        self.dispatcher = CeleryDispatcher(create_app(settings, lambda: self.services))
        self.ticks = 0

    def now(self) -> datetime:
        self.ticks += 1
        return CLOCK + timedelta(minutes=self.ticks)

    def publish(self, record: dict[str, Any]) -> None:
        data, _ = parse_article(record)
        with transaction(self.services.sessions) as session:
            change = articles.publish(session, data, actor="digest", now=self.now())
        self._settle(dispatch_event(self.services, self.dispatcher, change.event_id))

    def unpublish(self, slug: str) -> None:
        with transaction(self.services.sessions) as session:
            change = articles.unpublish(session, slug, actor="digest", now=self.now())
        self._settle(dispatch_event(self.services, self.dispatcher, change.event_id))

    def rebuild(self) -> None:
        with transaction(self.services.sessions) as session:
            change = articles.request_rebuild(session, actor="digest", force=True, now=self.now())
        self._settle(dispatch_event(self.services, self.dispatcher, change.event_id))

    def _settle(self, outcome: Outcome) -> None:
        assert outcome.status == EventStatus.LIVE, outcome

    def site_digest(self) -> tuple[str, int]:
        storage = self.services.storage
        keys = sorted(storage.keys())
        pairs = (
            (f"{key} {self.headers.written.get(key)}".encode(), storage.get(key) or b"")
            for key in keys
        )
        return _digest(pairs), len(keys)

    def manifest_digest(self) -> str:
        with transaction(self.services.sessions) as session:
            outputs = session.execute(
                select(
                    Output.key, Output.kind, Output.subject, Output.page, Output.content_hash
                ).order_by(Output.key)
            ).all()
            dependencies = session.execute(
                select(OutputDependency.output_key, OutputDependency.data_key).order_by(
                    OutputDependency.output_key, OutputDependency.data_key
                )
            ).all()
        rows = [repr(tuple(row)).encode() for row in [*outputs, *dependencies]]
        return _digest((row, b"") for row in rows)


def _digest(pairs: Iterable[tuple[bytes, bytes]]) -> str:
    total = hashlib.sha256()
    for key, body in pairs:
        for part in (key, body):
            total.update(len(part).to_bytes(8, "big"))
            total.update(part)
    return total.hexdigest()


def build(site: Site, count: int) -> None:
    records = generate_articles(count)
    for record in records:
        site.publish(record)
    # Changes after the fact: an update, a move to another section (its old URL redirects),
    # two articles taken down, one of them brought back.
    edited = dict(records[count // 2], title="A headline rewritten after publication")
    site.publish(edited)
    moved = records[count // 3]
    site.publish(dict(moved, section="business" if moved["section"] != "business" else "sport"))
    site.unpublish(str(records[-1]["slug"]))
    site.unpublish(str(records[count // 4]["slug"]))
    site.publish(records[count // 4])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=200)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pressrun-digest-") as name:
        site = Site(Path(name))
        build(site, options.articles)
        digest, objects = site.site_digest()
        print(f"events:  site {digest} ({objects} objects), manifest {site.manifest_digest()}")
        site.rebuild()
        digest, objects = site.site_digest()
        print(f"rebuilt: site {digest} ({objects} objects), manifest {site.manifest_digest()}")
        site.services.engine.dispose()


if __name__ == "__main__":
    main()
