"""Totals kept in the database, added to atomically by whichever process did the work."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from pipeline.observe.models import PipelineCounter

OUTPUT_COUNTERS = (
    "outputs_rendered",
    "outputs_uploaded",
    "outputs_unchanged",
    "outputs_deleted",
    "bytes_uploaded",
    "rechecks_redone",
)


def add(session: Session, amounts: dict[str, int]) -> None:
    """Add to the named totals, in one statement (rows in name order: one lock order for
    every writer)."""
    rows = [{"name": name, "value": amounts[name]} for name in sorted(amounts) if amounts[name]]
    if not rows:
        return
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(PipelineCounter).values(rows)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[PipelineCounter.name],
            set_={"value": PipelineCounter.value + statement.excluded.value},
        )
    )


def totals(session: Session) -> dict[str, int]:
    found = dict(session.execute(select(PipelineCounter.name, PipelineCounter.value)).all())
    return {name: int(found.get(name, 0)) for name in OUTPUT_COUNTERS}
