"""Reconcile: compare the database's truth with what storage holds, and repair on request.

What the site should hold is a fresh render of every output from the database. Storage is
judged by content hashes (the listing's ETag or the file's MD5), not by metadata: an object
is **missing** (should exist, does not), **stale** (exists with other bytes) or an **orphan**
(nothing produces that key, such as the page of an unpublished article). Private prefixes
such as previews are nobody's orphans. The site is walked in key order, a batch of outputs
to a short transaction: no transaction stays open for the whole site. A repair that would
delete more than `max_deletes` objects stops before changing anything: a breaker against
wiping a site by mistake.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import delete
from sqlalchemy.orm import Session

from pipeline.db import transaction
from pipeline.events.models import Event, EventKind, EventStatus
from pipeline.publish.build import BuildStep, digest
from pipeline.publish.models import Output
from pipeline.render.renderer import Rendered
from pipeline.schema import utcnow
from pipeline.services import Services
from pipeline.site.outputs import OutputSpec
from pipeline.site.planner import plan_everything

PRIVATE_PREFIXES = ("_previews/",)
# Outputs rendered and compared in one transaction: the walk over the site is a run of short
# transactions, none of which holds a snapshot (or, on SQLite, the reader's lock) for long.
RECONCILE_BATCH = 400


class TooManyDeletes(RuntimeError):
    """The delete breaker tripped."""


@dataclass
class ReconcileReport:
    missing: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    checked: int = 0
    repaired: bool = False

    @property
    def clean(self) -> bool:
        return not (self.missing or self.stale or self.orphans)

    def as_json(self) -> dict[str, object]:
        return {
            "missing": len(self.missing),
            "stale": len(self.stale),
            "orphans": len(self.orphans),
            "checked": self.checked,
            "repaired": self.repaired,
        }


def reconcile(
    services: Services,
    *,
    repair: bool = False,
    max_deletes: int = 100,
    batch: int = RECONCILE_BATCH,
) -> ReconcileReport:
    report = ReconcileReport()
    differing = _walk(services, report, batch)
    if repair and not report.clean:
        if len(report.orphans) > max_deletes:
            raise TooManyDeletes(
                f"repair would delete {len(report.orphans)} objects, more than --max-deletes "
                f"{max_deletes}: nothing was changed"
            )
        _repair(services, differing, report.orphans, batch)
        report.repaired = True
    return report


def _walk(services: Services, report: ReconcileReport, batch: int) -> list[OutputSpec]:
    """Fill in `report`; returns the outputs that are missing or stale."""
    stored = {
        key: md5
        for key, md5 in services.storage.inventory().items()
        if not key.startswith(PRIVATE_PREFIXES)
    }
    with transaction(services.sessions) as session:
        specs = sorted(plan_everything(session, services.settings, services.kinds))
    expected: set[str] = set()
    differing: list[OutputSpec] = []
    for start in range(0, len(specs), batch):
        with transaction(services.sessions) as session:
            for spec, rendered in _rendered(services, session, specs[start : start + batch]):
                expected.add(spec.key)
                report.checked += 1
                if spec.key not in stored:
                    report.missing.append(spec.key)
                elif _differs(services, spec.key, stored[spec.key], rendered.body):
                    report.stale.append(spec.key)
                else:
                    continue
                differing.append(spec)
    report.orphans = sorted(set(stored) - expected)
    return differing


def _rendered(
    services: Services, session: Session, specs: list[OutputSpec]
) -> Iterator[tuple[OutputSpec, Rendered]]:
    """The outputs of `specs` that should exist, rendered from the current data."""
    services.renderer.prefetch(session, specs)
    for spec in specs:
        rendered = services.renderer.render(session, spec)
        if rendered is not None:
            yield spec, rendered


def _differs(services: Services, key: str, md5: str | None, body: bytes) -> bool:
    if md5 is None:
        return services.storage.get(key) != body
    return md5 != hashlib.md5(body, usedforsecurity=False).hexdigest()


def _repair(
    services: Services, differing: list[OutputSpec], orphans: list[str], batch: int
) -> None:
    """Write the missing and stale outputs again, a batch at a time (rendered anew: the walk
    keeps keys, not bodies, so a repair of a whole site never holds the whole site), then
    delete the orphans."""
    for start in range(0, len(differing), batch):
        with transaction(services.sessions) as session:
            steps = [
                BuildStep(spec, rendered, digest(rendered.body))
                for spec, rendered in _rendered(services, session, differing[start : start + batch])
            ]
        services.publisher.sync(services.sessions, steps, None)
    services.storage.delete(orphans)
    with transaction(services.sessions) as session:
        for start in range(0, len(orphans), 500):
            chunk = orphans[start : start + 500]
            session.execute(delete(Output).where(Output.key.in_(chunk)))


def record_run(services: Services, report: ReconcileReport, actor: str) -> int:
    """Keep the result as an event of kind `reconcile`, for `status` and the dashboard."""
    now = utcnow()
    with transaction(services.sessions) as session:
        event = Event(
            kind=EventKind.RECONCILE,
            actor=actor,
            accepted_at=now,
            started_at=now,
            rendered_at=now,
            live_at=now,
            status=EventStatus.LIVE,
            outputs=report.as_json(),
        )
        session.add(event)
        session.flush()
        return event.id
