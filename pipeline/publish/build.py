"""Render a set of outputs and sync them to storage through the manifest.

Unchanged bytes are never written (the manifest knows each key's hash, so no listing and no
HEAD per object). Pages are written before the lists that link to them, and deleted after.
A key whose build failed after its upload began is unknown to the manifest until a later build
writes it again: the failed PUT or delete may still have taken effect (see `mark_unsettled`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Table,
    case,
    delete,
    insert,
    null,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from pipeline.content.upsert import is_postgresql
from pipeline.db import SessionFactory, transaction
from pipeline.observe import counters
from pipeline.publish import content_version, purges
from pipeline.publish.models import Output, OutputDependency
from pipeline.render.renderer import Rendered, Renderer
from pipeline.schema import utcnow
from pipeline.site.kinds import Cache, Kinds, Order
from pipeline.site.outputs import OutputSpec, content_type, url_path
from pipeline.storage import CdnPurger, Storage, StoredObject

# SQLite caps bound parameters; chunk IN lists well under it.
CHUNK = 500
# Writes on their way per upload thread, at most, while a build renders on.
QUEUED_PER_THREAD = 4
# Each round re-renders what the previous one wrote; more than a couple means a storm of
# changes to the same outputs, which their own events will settle.
MAX_RECHECKS = 3
log = logging.getLogger("pressrun.build")
# Deletions go after every write (waves 0 to 2): the lists, then the pages they linked to.
DELETION_WAVE = {Order.LIST: 3, Order.PAGE: 4}


@dataclass
class SyncReport:
    written: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0
    # A full rebuild counts its keys rather than listing a whole site on one event row.
    written_count: int | None = None
    deleted_count: int | None = None
    # Keys of `written` stored twice by one event: a new article's page goes live before its
    # rail is known and is written again with it (each write is an upload in the metrics).
    rewritten: int = 0

    @property
    def written_total(self) -> int:
        return len(self.written) if self.written_count is None else self.written_count

    @property
    def deleted_total(self) -> int:
        return len(self.deleted) if self.deleted_count is None else self.deleted_count

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> SyncReport:
        # Copies: the lists must not alias a JSON column's committed value, or SQLAlchemy
        # would see no change when they grow.
        data = data or {}
        return cls(
            list(data.get("written", [])),
            list(data.get("deleted", [])),
            int(data.get("unchanged", 0)),
            data.get("written_count"),
            data.get("deleted_count"),
            int(data.get("rewritten", 0)),
        )

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "written": self.written,
            "deleted": self.deleted,
            "unchanged": self.unchanged,
        }
        if self.written_count is not None or self.deleted_count is not None:
            data |= {"written_count": self.written_total, "deleted_count": self.deleted_total}
        if self.rewritten:
            data["rewritten"] = self.rewritten
        return data

    def add(self, other: SyncReport) -> None:
        self.written += other.written
        self.deleted += other.deleted
        self.unchanged += other.unchanged
        self.rewritten += other.rewritten


@dataclass
class BuildStep:
    """What one render decided: bytes to put, or a key to delete."""

    spec: OutputSpec
    rendered: Rendered | None
    digest: str | None
    # The content version read before rendering (pipeline/publish/content_version.py).
    seen: int | None = None
    # The event's own article: written before every other page, which may link to it.
    first: bool = False

    def wave(self, kinds: Kinds) -> int:
        """Writes go out in waves, each wave's puts at once (see `Storage.put_many`): the
        event's article, then the other pages, then the lists that link to them (each
        kind's write order)."""
        return 0 if self.first else int(kinds[self.spec.kind].order)

    def order(self, kinds: Kinds) -> tuple[int, str]:
        """Writes in their waves; deletions after all writes, pages last."""
        if self.rendered is not None:
            return (self.wave(kinds), self.spec.key)
        return (DELETION_WAVE[kinds[self.spec.kind].order], self.spec.key)


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def chunks(items: list[str], size: int = CHUNK) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Uploads:
    """Puts a build's writes while it renders the next ones, `threads` at once (a PUT is
    mostly waiting on the network; a folder's rename on the disk). Writes are given in wave
    order, and a wave starts only once every write of the waves before it has landed, so no
    list lands before the pages it links to. Memory stays bounded: the renderer waits while
    `QUEUED_PER_THREAD` writes per thread are on their way."""

    def __init__(
        self, storage: Storage, stored: Callable[[Rendered], StoredObject], threads: int
    ) -> None:
        self.storage = storage
        self.stored = stored
        self.threads = max(1, threads)
        self.in_flight: deque[Future[None]] = deque()
        self.wave: int | None = None
        self.pool: ThreadPoolExecutor | None = None
        self.handed: list[OutputSpec] = []

    def put(self, spec: OutputSpec, rendered: Rendered, wave: int) -> None:
        if wave != self.wave:
            self._drain()
            self.wave = wave
        if self.pool is None:
            # A pool per build: a worker process forks after import, and threads do not
            # survive a fork.
            self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="uploads")
        while len(self.in_flight) >= self.threads * QUEUED_PER_THREAD:
            self.in_flight.popleft().result()
        self.handed.append(spec)
        self.in_flight.append(self.pool.submit(self.storage.put_many, [self.stored(rendered)]))

    def _drain(self) -> None:
        while self.in_flight:
            self.in_flight.popleft().result()  # a failed put fails the build (it is retried)

    def finish(self) -> None:
        """Wait until every write has landed."""
        try:
            self._drain()
        finally:
            self.close()

    def close(self) -> None:
        """Stop: writes not yet started are dropped (after a failure, or when rendering
        failed); those being put are waited for."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


class Publisher:
    def __init__(
        self, renderer: Renderer, storage: Storage, purger: CdnPurger | None = None
    ) -> None:
        self.renderer = renderer
        self.storage = storage
        self.purger = purger
        self.kinds = renderer.kinds
        settings = renderer.settings
        self.cache_control = {
            Cache.LONG: settings.cache_control_long,
            Cache.SHORT: settings.cache_control_short,
        }

    def build(
        self,
        factory: SessionFactory,
        specs: Iterable[OutputSpec],
        *,
        event_id: int | None = None,
        first_key: str | None = None,
        force: bool = False,
        on_record: Callable[[Session], None] | None = None,
        writes_only: bool = False,
    ) -> SyncReport:
        """Render `specs` and sync what changed; `first_key` (the event's own article) is
        written before any other page, which may link to it. `on_record` runs in the
        manifest's transaction, once every write has landed (a stage stamp rides along
        there rather than in a transaction of its own). With `writes_only` an output that
        should no longer exist is left alone: a page written ahead of its lists (an
        article's own, first) is never deleted before the lists stop linking to it."""
        uploads = Uploads(
            self.storage,
            lambda rendered: self._stored(rendered, event_id),
            upload_threads(self.storage),
        )
        # What may have reached storage, for `_unsettled_on_failure`: the writes handed to
        # `uploads` while rendering, then every step (writes and deletions).
        touched = uploads.handed
        with self._unsettled_on_failure(factory, lambda: touched, event_id):
            try:
                with transaction(factory) as session:
                    steps, unchanged = self.render_all(
                        session, sorted(set(specs)), first_key, force, uploads, writes_only
                    )
                uploads.finish()
            finally:
                uploads.close()
            touched = [step.spec for step in steps]
            counts = {
                "outputs_rendered": len(steps) + unchanged,
                "outputs_unchanged": unchanged,
                "bytes_uploaded": sum(
                    len(step.rendered.body) for step in steps if step.rendered is not None
                ),
            }
            report, version = self._sync(
                factory, steps, event_id, counts, uploaded=True, on_record=on_record
            )
            if version is None or any(step.seen != version for step in steps):
                self._settle(factory, steps, event_id, report, writes_only)
        report.unchanged = unchanged
        return report

    @contextmanager
    def _unsettled_on_failure(
        self,
        factory: SessionFactory,
        touched: Callable[[], list[OutputSpec]],
        event_id: int | None,
    ) -> Iterator[None]:
        """From the first PUT to the end of the re-check, a failure (the store's, or the
        database's while recording or re-checking) ends the build with writes that may have
        landed unchecked: their keys are marked for the next build to write (see
        `mark_unsettled`) before the error goes up."""
        try:
            yield
        except Exception as error:
            specs = touched()
            try:
                with transaction(factory) as session:
                    mark_unsettled(session, specs, event_id)
            except Exception:
                # The build's own error is the one to report (and retry on); this is logged.
                log.exception("could not mark %d outputs unsettled after a failure", len(specs))
            else:
                log.warning("%d outputs marked unsettled after: %s", len(specs), error)
            raise

    def _settle(
        self,
        factory: SessionFactory,
        done: list[BuildStep],
        event_id: int | None,
        report: SyncReport,
        writes_only: bool = False,
    ) -> None:
        """Versioned writes by re-checking after upload: when any render input changed since
        the render (the content version moved), render what was just written or deleted
        again, from a snapshot taken after the upload, and redo any output whose content moved
        on meanwhile. Whoever writes a key last re-checks it last, so a render from older data
        (a slow worker, a reordered delivery) never stays in storage; every later change
        brings its own render. Works on any store, no locks held."""
        for _ in range(MAX_RECHECKS):
            if not done:
                return
            with transaction(factory) as session:
                seen = content_version.current(session)
                # Nothing committed since these renders: rendering again gives the same bytes.
                moved = [step for step in done if seen is None or step.seen != seen]
                redo = [
                    BuildStep(step.spec, fresh, digest(fresh.body) if fresh else None, seen)
                    for step in moved
                    for fresh in [self.renderer.render(session, step.spec)]
                    if (digest(fresh.body) if fresh else None) != step.digest
                    and (fresh is not None or not writes_only)
                ]
            redo.sort(key=self._order)
            if redo:
                log.info("re-check: %d outputs moved on while being written", len(redo))
                report.add(self._sync(factory, redo, event_id, {"rechecks_redone": len(redo)})[0])
            done = redo

    def render_all(
        self,
        session: Session,
        specs: list[OutputSpec],
        first_key: str | None = None,
        force: bool = False,
        uploads: Uploads | None = None,
        writes_only: bool = False,
    ) -> tuple[list[BuildStep], int]:
        """Render every spec; returns the steps that change storage and how many did not.
        With `force` the manifest is not trusted: every output is written again. With
        `uploads`, each write is handed to it as soon as rendered, specs rendered in wave
        order (deletions are left to the caller)."""
        # Read first: whatever commits after this read, the re-check sees it moved.
        seen = content_version.current(session)
        known = {} if force else stored_hashes(session, [spec.key for spec in specs])
        self.renderer.prefetch(session, specs)
        steps = []
        unchanged = 0
        if uploads is not None:
            specs = sorted(specs, key=lambda spec: (self._wave(spec, first_key), spec.key))
        for spec in specs:
            rendered = self.renderer.render(session, spec)
            if rendered is None:
                if spec.key in known and not writes_only:
                    steps.append(BuildStep(spec, None, None, seen))
                continue
            body_digest = digest(rendered.body)
            if known.get(spec.key) != body_digest:
                steps.append(BuildStep(spec, rendered, body_digest, seen, spec.key == first_key))
                if uploads is not None:
                    uploads.put(spec, rendered, self._wave(spec, first_key))
            else:
                unchanged += 1
        steps.sort(key=self._order)
        return steps, unchanged

    def sync(
        self,
        factory: SessionFactory,
        steps: list[BuildStep],
        event_id: int | None,
        counts: dict[str, int] | None = None,
    ) -> SyncReport:
        """Put and delete what `steps` say, then record it in the manifest; `counts` are
        added to the pipeline's totals in the manifest's transaction (with the outputs
        uploaded and deleted here)."""
        specs = [step.spec for step in steps]
        with self._unsettled_on_failure(factory, lambda: specs, event_id):
            return self._sync(factory, steps, event_id, counts)[0]

    def _sync(
        self,
        factory: SessionFactory,
        steps: list[BuildStep],
        event_id: int | None,
        counts: dict[str, int] | None,
        *,
        uploaded: bool = False,
        on_record: Callable[[Session], None] | None = None,
    ) -> tuple[SyncReport, int | None]:
        """`sync`, and the content version read after the upload, in the manifest's
        transaction: when it has not moved since the render, no re-check is needed. With
        `uploaded` the writes have landed already (see `Uploads`): only deletions are left."""
        report = SyncReport()
        self._upload(steps, event_id, report, uploaded)
        totals = dict(counts or {})
        totals["outputs_uploaded"] = totals.get("outputs_uploaded", 0) + len(report.written)
        totals["outputs_deleted"] = totals.get("outputs_deleted", 0) + len(report.deleted)
        tickets: purges.Tickets = {}
        with transaction(factory) as session:
            version = content_version.current(session)  # after the upload: see `_settle`
            record_manifest(session, steps, event_id, rendered_after(steps))
            if self.purger is not None:
                # Recorded with the manifest: a purge that fails after the commit is retried
                # until done, where a retry of this build would find nothing left to purge.
                tickets = purges.request(session, [url_path(step.spec.key) for step in steps])
            if on_record is not None:
                on_record(session)
            # Last: the counter rows are the fleet's hottest locks, held only for the commit.
            counters.add(session, totals)
        if self.purger is not None:
            purges.purge(self.purger, factory, tickets)
        return report, version

    def _upload(
        self,
        steps: list[BuildStep],
        event_id: int | None,
        report: SyncReport,
        uploaded: bool = False,
    ) -> None:
        """Put the writes wave by wave, then delete (lists were rewritten in the last wave;
        only now do the pages they no longer link to go). With `uploaded` the writes have
        landed already (see `Uploads`): only deletions are left."""
        writes = [step for step in steps if step.rendered is not None]
        for _, wave in itertools.groupby(writes, key=lambda step: step.wave(self.kinds)):
            batch = list(wave)
            if not uploaded:
                self.storage.put_many(
                    [self._stored(step.rendered, event_id) for step in batch if step.rendered]
                )
            report.written.extend(step.spec.key for step in batch)
        removals = [step.spec.key for step in steps if step.rendered is None]
        self.storage.delete(removals)
        report.deleted = removals

    def _wave(self, spec: OutputSpec, first_key: str | None) -> int:
        """The wave a write of `spec` goes out in (see `BuildStep.wave`), known before it
        is rendered."""
        return 0 if spec.key == first_key else int(self.kinds[spec.kind].order)

    def _order(self, step: BuildStep) -> tuple[int, str]:
        return step.order(self.kinds)

    def _stored(self, rendered: Rendered, event_id: int | None) -> StoredObject:
        # Object metadata is capped at 2 KB on S3: the first versions are plenty to trace.
        versions = ",".join(f"{a}:{v}" for a, v in sorted(rendered.versions.items())[:40])
        return StoredObject(
            key=rendered.key,
            body=rendered.body,
            content_type=content_type(rendered.key),
            cache_control=self.cache_control[self.kinds[rendered.kind].cache],
            metadata={
                "article-versions": versions,
                "event-id": str(event_id or ""),
                "template-hash": self.renderer.templates_hash,
            },
        )


def upload_threads(storage: Storage) -> int:
    """How many writes a store takes at once: S3's PUTs wait on the network, so several
    (`PRESSRUN_S3_UPLOAD_THREADS`); a folder's writes take microseconds, and more threads
    would only contend with the renderer for the interpreter: one, beside the render."""
    return int(getattr(storage, "upload_threads", 1))


def stored_hashes(session: Session, keys: list[str]) -> dict[str, str | None]:
    """The hash the manifest knows for each key it holds; None where the bytes are unknown
    (a failed upload's mark), which no render matches: the key is written again."""
    known: dict[str, str | None] = {}
    for chunk in chunks(sorted(set(keys))):
        rows = session.execute(
            select(Output.key, Output.content_hash, Output.unsettled_version).where(
                Output.key.in_(chunk)
            )
        )
        known.update((key, None if mark is not None else hash_) for key, hash_, mark in rows)
    return known


def rendered_after(steps: list[BuildStep]) -> int | None:
    """The content version every step's render read first (None when one is unknown)."""
    versions = [step.seen for step in steps]
    if not versions or None in versions:
        return None
    return min(version for version in versions if version is not None)


def mark_unsettled(session: Session, touched: list[OutputSpec], event_id: int | None) -> None:
    """Mark the keys of a build that failed after its upload began: any of its PUTs and
    deletes may have taken effect (an error or a reset after the store took the request, a
    wave stopped by another put's failure, a database error before the re-check), each maybe
    after a newer write of the same key, and the build ends before it could record or
    re-check them. Left alone, the manifest would keep the newer writer's hash, and the
    retry, rendering the same newer bytes, would skip the key as unchanged.

    A marked key is written (or deleted) by the next build that renders it, whose write
    lands after these; only a build that read the content version after the mark clears
    it (`record_manifest`). The mark is the content version moved on here: a build that
    rendered before it reads an older version, one that renders after it a newer one."""
    specs = sorted(set(touched), key=lambda spec: spec.key)
    if not specs:
        return
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {"key": spec.key, "kind": str(spec.kind), "subject": spec.subject, "page": spec.page,
         "content_hash": "", "article_versions": {}, "event_id": event_id, "updated_at": now}
        for spec in specs
    ]  # fmt: skip
    # The rows first, locked in key order as every manifest writer locks them (a new key gets
    # a row: its PUT may have landed too); the content version last, as every commit takes it.
    insert_ = pg_insert if is_postgresql(session) else sqlite_insert
    statement = insert_(cast(Table, Output.__table__))
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[Output.key], set_={"updated_at": statement.excluded.updated_at}
        ),
        rows,
    )
    mark = content_version.bump(session)
    for chunk in chunks([spec.key for spec in specs]):
        session.execute(
            update(Output)
            .where(Output.key.in_(chunk))
            # Without the counter row no build knows when it rendered: the mark then stays.
            .values(unsettled_version=mark if mark is not None else 0)
        )


def unsettled_specs(session: Session, before: datetime, limit: int) -> list[OutputSpec]:
    """Outputs still marked unsettled that no build has touched since `before`: the failed
    build's retry planned other outputs, or gave up."""
    rows = session.execute(
        select(Output.kind, Output.subject, Output.page)
        .where(Output.unsettled_version.is_not(None), Output.updated_at < before)
        .order_by(Output.key)
        .limit(limit)
    )
    return [OutputSpec(kind, subject, page) for kind, subject, page in rows]


def marked_after(seen: int | None) -> ColumnElement[bool]:
    """Rows a failed upload marked after a render that read content version `seen`: that
    build cannot tell whether its write or the failed one landed last."""
    column = cast(Table, Output.__table__).c.unsettled_version
    if seen is None:
        return column.is_not(None)
    return column.is_not(None) & (column > seen)


def record_manifest(
    session: Session, steps: list[BuildStep], event_id: int | None, seen: int | None = None
) -> None:
    """Record what each key now holds, in a handful of statements whatever the build's size.
    Output rows are upserted in sorted key order before their dependencies are touched, so
    concurrent workers serialise per key on the row lock and never deadlock. `seen` is the
    content version the renders read first: a key marked unsettled after it keeps its mark
    (see `mark_unsettled`)."""
    now = utcnow()
    later = marked_after(seen)
    removed = sorted(step.spec.key for step in steps if step.rendered is None)
    for chunk in chunks(removed):
        session.execute(delete(Output).where(Output.key.in_(chunk), ~later))
    written = sorted(
        (step for step in steps if step.rendered is not None and step.digest is not None),
        key=lambda step: step.spec.key,
    )
    if not written:
        return
    rows: list[dict[str, Any]] = [
        {
            "key": step.spec.key,
            "kind": str(step.spec.kind),
            "subject": step.spec.subject,
            "page": step.spec.page,
            "content_hash": step.digest,
            "article_versions": step.rendered.versions,
            "event_id": event_id,
            "updated_at": now,
        }
        for step in written
        if step.rendered is not None
    ]
    if is_postgresql(session):
        _upsert_outputs_postgres(session, rows, seen)
    else:
        # Core, not the ORM's bulk path: one executemany, in list order (SQLite runs it in
        # process, so there is no round trip per row to save).
        statement = sqlite_insert(cast(Table, Output.__table__))
        table = cast(Table, Output.__table__)
        updates: dict[str, Any] = {
            name: statement.excluded[name] for name in rows[0] if name != "key"
        }
        updates["content_hash"] = case((later, table.c.content_hash), else_=updates["content_hash"])
        updates["unsettled_version"] = case((later, table.c.unsettled_version), else_=null())
        session.execute(
            statement.on_conflict_do_update(index_elements=[Output.key], set_=updates), rows
        )
    replace_dependencies(
        session, {step.spec.key: step.rendered.data_keys for step in written if step.rendered}
    )


# PostgreSQL takes a build's manifest rows as one array per column, in one statement whatever
# their number: an executemany runs a statement per row on the server (a rebuild chunk
# writes thousands of dependency rows), and a multi-row VALUES list is compiled afresh for
# every length. Rows go in the order given (sorted by key: see `record_manifest`).
UPSERT_OUTPUTS = text(
    """
    INSERT INTO outputs (key, kind, subject, page, content_hash, article_versions, event_id,
                         updated_at)
    SELECT key, kind, subject, page, content_hash, CAST(versions AS json), :event_id,
           :updated_at
    FROM unnest(CAST(:keys AS text[]), CAST(:kinds AS text[]), CAST(:subjects AS text[]),
                CAST(:pages AS integer[]), CAST(:hashes AS text[]), CAST(:versions AS text[]))
         WITH ORDINALITY AS given(key, kind, subject, page, content_hash, versions, position)
    ORDER BY position
    ON CONFLICT (key) DO UPDATE SET
        kind = excluded.kind, subject = excluded.subject, page = excluded.page,
        article_versions = excluded.article_versions, event_id = excluded.event_id,
        updated_at = excluded.updated_at,
        -- A key a failed upload marked after these renders keeps its mark (`mark_unsettled`).
        content_hash = CASE WHEN outputs.unsettled_version IS NOT NULL
                            AND (CAST(:seen AS integer) IS NULL
                                 OR outputs.unsettled_version > CAST(:seen AS integer))
                       THEN outputs.content_hash ELSE excluded.content_hash END,
        unsettled_version = CASE WHEN outputs.unsettled_version IS NOT NULL
                                 AND (CAST(:seen AS integer) IS NULL
                                      OR outputs.unsettled_version > CAST(:seen AS integer))
                            THEN outputs.unsettled_version ELSE NULL END
    """
)
INSERT_DEPENDENCIES = text(
    """
    INSERT INTO output_dependencies (output_key, data_key)
    SELECT output_key, data_key
    FROM unnest(CAST(:outputs AS text[]), CAST(:data AS text[])) AS given(output_key, data_key)
    """
)
DELETE_DEPENDENCIES = text(
    """
    DELETE FROM output_dependencies AS held
    USING unnest(CAST(:outputs AS text[]), CAST(:data AS text[])) AS gone(output_key, data_key)
    WHERE held.output_key = gone.output_key AND held.data_key = gone.data_key
    """
)


def _upsert_outputs_postgres(
    session: Session, rows: list[dict[str, Any]], seen: int | None
) -> None:
    session.execute(
        UPSERT_OUTPUTS,
        {
            "keys": [row["key"] for row in rows],
            "kinds": [row["kind"] for row in rows],
            "subjects": [row["subject"] for row in rows],
            "pages": [row["page"] for row in rows],
            "hashes": [row["content_hash"] for row in rows],
            "versions": [json.dumps(row["article_versions"]) for row in rows],
            "event_id": rows[0]["event_id"],
            "updated_at": rows[0]["updated_at"],
            "seen": seen,
        },
    )


def replace_dependencies(session: Session, wanted: dict[str, set[str]]) -> None:
    """Make each output's dependency rows `wanted[key]`, writing only the difference: a
    re-rendered list shows nearly the same articles as before, so rewriting all of its rows
    would make them most of a build's database work."""
    table = cast(Table, OutputDependency.__table__)
    held: dict[str, set[str]] = {key: set() for key in wanted}
    for chunk in chunks(sorted(wanted)):
        rows = session.execute(
            select(table.c.output_key, table.c.data_key).where(table.c.output_key.in_(chunk))
        )
        for output_key, data_key in rows:
            held[output_key].add(data_key)
    gone = [(key, data) for key in sorted(wanted) for data in sorted(held[key] - wanted[key])]
    new = [(key, data) for key in sorted(wanted) for data in sorted(wanted[key] - held[key])]
    if is_postgresql(session):
        for statement, pairs in ((DELETE_DEPENDENCIES, gone), (INSERT_DEPENDENCIES, new)):
            if pairs:
                outputs, data = zip(*pairs, strict=True)
                session.execute(statement, {"outputs": list(outputs), "data": list(data)})
        return
    for start in range(0, len(gone), CHUNK // 2):
        session.execute(
            delete(table).where(
                tuple_(table.c.output_key, table.c.data_key).in_(gone[start : start + CHUNK // 2])
            )
        )
    if new:
        session.execute(insert(table), [{"output_key": key, "data_key": data} for key, data in new])
