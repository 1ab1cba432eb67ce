"""Engine and session factory; the schema is created and upgraded by Alembic on first use."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from pipeline.publish import content_version

PACKAGE_DIR = Path(__file__).resolve().parent
# Installed wheels carry migrations inside the package; a checkout keeps them at the top level.
MIGRATIONS_DIR = next(
    path
    for path in (PACKAGE_DIR / "migrations", PACKAGE_DIR.parent / "migrations")
    if (path / "env.py").exists()
)

SessionFactory = sessionmaker[Session]
# Two containers running `db upgrade` at once serialise on this PostgreSQL advisory lock.
MIGRATION_LOCK_ID = 0x70726573
_AFTER_CLOSE = "pressrun.after_close"


def json_loads(text: str | bytes) -> Any:
    """JSON columns decoded by orjson, much faster than the standard library's decoder (a
    related query decodes a few hundred articles' term weights); the standard library takes
    what orjson refuses (NaN, which json.dumps writes for a float NaN)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, json_deserializer=json_loads)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # psycopg prepares a statement run five times, and PostgreSQL then may switch it to a
    # generic plan that ignores the values: for the related queries (arrays of candidates,
    # per-term limits over skewed postings) that plan is far slower. Plan each run for its
    # values: planning these statements costs much less than a plan that ignores them.
    return create_engine(
        url,
        pool_pre_ping=True,
        connect_args={"options": "-c plan_cache_mode=force_custom_plan"},
        json_deserializer=json_loads,
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers and one writer share the file; the busy timeout makes writers queue.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_session_factory(engine: Engine) -> SessionFactory:
    factory = sessionmaker(engine, expire_on_commit=False)
    content_version.track(factory)
    return factory


def alembic_config(engine: Engine) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision; safe to run from several processes at once."""
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            # A transaction-level lock is released by the commit that publishes the new schema,
            # so the next process waits until it can see the tables the first one created.
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        _run_upgrade(engine, connection)
        connection.commit()


def _run_upgrade(engine: Engine, connection: Any) -> None:
    config = alembic_config(engine)
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


@contextmanager
def transaction(factory: SessionFactory) -> Iterator[Session]:
    """One unit of work: commits on success, rolls back on any error. Once it has committed
    and closed, it runs what its commit left to do (`after_close`: dispatching its events)."""
    with factory.begin() as session:
        yield session
    for action in session.info.pop(_AFTER_CLOSE, []):
        action()


def after_close(session: Session, action: Callable[[], object]) -> None:
    """Run `action` once `session`'s transaction has committed and `transaction` has closed
    it, not inside the commit: the action may run transactions of its own."""
    session.info.setdefault(_AFTER_CLOSE, []).append(action)
