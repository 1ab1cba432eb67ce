"""The real stack's fixtures (the stack itself is `tests/realstack.py`): PostgreSQL, Redis or
RabbitMQ, an S3 server over HTTP (moto_server) and real `pressrun worker` processes. Each test
gets its own database, broker namespace and bucket. A service that cannot be reached fails
the test loudly: nothing here is ever skipped."""

from __future__ import annotations

import itertools
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from tests.realstack import (
    PG_HOST,
    REDIS_URL,
    MotoServer,
    Stack,
    admin,
    create_database,
    drop_database,
    free_port,
    wait_for_port,
)

__all__ = ["Stack", "free_port", "wait_for_port"]  # what tests of other folders import here

AMQP_URL = os.environ.get("PRESSRUN_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672//")
# Databases 12-15 are left to benchmarks (benchmarks/), so a test never flushes one.
_redis_databases = itertools.cycle(range(1, 12))

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    server = MotoServer()
    yield server.endpoint
    server.stop()


@pytest.fixture
def database_url() -> Iterator[str]:
    try:
        admin().close()
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL is unreachable at {PG_HOST}: {error}")
    url = create_database()
    yield url
    drop_database(url)


@pytest.fixture
def redis_url() -> Iterator[str]:
    url = f"{REDIS_URL}/{next(_redis_databases)}"
    client = redis.Redis.from_url(url, socket_connect_timeout=5)
    try:
        client.flushdb()
    except redis.ConnectionError as error:
        pytest.fail(f"Redis is unreachable at {REDIS_URL}: {error}")
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def amqp_url() -> str:
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=5).close()
    except OSError as error:
        pytest.fail(f"RabbitMQ is unreachable at 127.0.0.1:5672: {error}")
    return AMQP_URL


def make_stack(
    folder: Path, database_url: str, broker_url: str, s3_endpoint: str, **options: Any
) -> Stack:
    """A stack on the fixtures' services, with the integration tests' settings."""
    defaults: dict[str, Any] = {
        "site_url": "https://news.example.com",
        "queue_prefix": f"t{uuid.uuid4().hex[:8]}-",
        "relay_grace_seconds": 2,
        "relay_stuck_seconds": 20,
    }
    return Stack.assemble(folder, database_url, broker_url, s3_endpoint, **(defaults | options))


@pytest.fixture
def stack(tmp_path: Path, database_url: str, redis_url: str, s3_endpoint: str) -> Iterator[Stack]:
    built = make_stack(tmp_path, database_url, redis_url, s3_endpoint)
    built.pressrun("db", "upgrade")
    yield built
    built.close()
