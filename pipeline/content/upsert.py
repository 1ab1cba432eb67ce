"""Counter upserts that work the same on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from pipeline.content.models import Section, Tag
from pipeline.content.sanitize import display_name
from pipeline.related.models import TermFrequency


def increment_counts(session: Session, deltas: dict[str, int]) -> None:
    """Add each delta to its term's document count. Terms go in sorted order, so concurrent
    writers take row locks in the same order and never deadlock."""
    terms = sorted(term for term, delta in deltas.items() if delta)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    for start in range(0, len(terms), 500):
        rows = [{"term": term, "documents": deltas[term]} for term in terms[start : start + 500]]
        statement = insert(TermFrequency).values(rows)
        statement = statement.on_conflict_do_update(
            index_elements=[TermFrequency.term],
            set_={"documents": TermFrequency.documents + statement.excluded.documents},
        )
        session.execute(statement)


def ensure_slugs(session: Session, model: type[Section] | type[Tag], slugs: list[str]) -> None:
    """Create the sections or tags that do not exist yet; racing creators both succeed."""
    if not slugs:
        return
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    rows = [{"slug": slug, "name": display_name(slug)} for slug in sorted(set(slugs))]
    session.execute(insert(model).values(rows).on_conflict_do_nothing(index_elements=["slug"]))
