"""The declarative base every table shares, its naming convention and the column
types the packages' models use (UTC datetimes, primary keys, slugs)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from sqlalchemy import (
    JSON,
    DateTime,
    Integer,
    MetaData,
    String,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python, whatever the database keeps (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous: pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


# The largest id an `intpk` column holds: PostgreSQL's `integer` (SQLite's go further). An id
# a caller sends is checked against it: a larger one is refused, not passed to the database.


# The largest id an `intpk` column holds: PostgreSQL's `integer` (SQLite's go further). An id
# a caller sends is checked against it: a larger one is refused, not passed to the database.
MAX_ID = 2**31 - 1


intpk = Annotated[int, mapped_column(Integer, primary_key=True)]


slug_str = Annotated[str, mapped_column(String(120), unique=True, index=True)]


when = Annotated[datetime, mapped_column(UTCDateTime())]


maybe_when = Annotated[datetime | None, mapped_column(UTCDateTime(), nullable=True)]


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON, dict[str, int]: JSON}
