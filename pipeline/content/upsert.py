"""Bulk writes and counter upserts that work the same on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from pipeline.content.models import Section, Tag
from pipeline.content.sanitize import display_name
from pipeline.related.models import TermFrequency

# Rows per multi-row statement where COPY is not available (SQLite): well under SQLite's
# limit of bound parameters for any of the tables written in bulk.
ROWS_PER_STATEMENT = 500


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def copy_rows(
    session: Session, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Insert many rows in the session's transaction: PostgreSQL's COPY (one stream, no
    statement per row), else multi-row inserts. Values go in as the driver takes them: JSON
    columns as lists or dicts (dumped here for COPY), datetimes aware."""
    if not is_postgresql(session):
        _insert_rows(session, table, columns, rows)
        return
    json_columns = {
        index for index, name in enumerate(columns) if table.c[name].type.__visit_name__ == "JSON"
    }
    connection = session.connection().connection.driver_connection
    assert connection is not None
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            if json_columns:
                row = [
                    json.dumps(value) if index in json_columns else value
                    for index, value in enumerate(row)
                ]
            copy.write_row(row)


def _insert_rows(
    session: Session, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(dict(zip(columns, row, strict=True)))
        if len(batch) == ROWS_PER_STATEMENT:
            session.execute(insert(table), batch)
            batch = []
    if batch:
        session.execute(insert(table), batch)


def ensure_slugs(session: Session, model: type[Section] | type[Tag], slugs: list[str]) -> None:
    """Create the sections or tags that do not exist yet; racing creators both succeed."""
    if not slugs:
        return
    insert_for = pg_insert if is_postgresql(session) else sqlite_insert
    wanted = sorted(set(slugs))
    for start in range(0, len(wanted), ROWS_PER_STATEMENT):
        rows = [
            {"slug": slug, "name": display_name(slug)}
            for slug in wanted[start : start + ROWS_PER_STATEMENT]
        ]
        session.execute(
            insert_for(model).values(rows).on_conflict_do_nothing(index_elements=["slug"])
        )


def increment_counts(session: Session, deltas: dict[str, int]) -> None:
    """Add each delta to its term's document count in place. Terms go in sorted order, so
    concurrent writers take row locks in the same order and never deadlock."""
    terms = sorted(term for term, delta in deltas.items() if delta)
    insert_for = pg_insert if is_postgresql(session) else sqlite_insert
    for start in range(0, len(terms), ROWS_PER_STATEMENT):
        rows = [
            {"term": term, "documents": deltas[term]}
            for term in terms[start : start + ROWS_PER_STATEMENT]
        ]
        statement = insert_for(TermFrequency).values(rows)
        statement = statement.on_conflict_do_update(
            index_elements=[TermFrequency.term],
            set_={"documents": TermFrequency.documents + statement.excluded.documents},
        )
        session.execute(statement)
