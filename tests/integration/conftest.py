"""The real stack: PostgreSQL, Redis or RabbitMQ, an S3 server over HTTP (moto_server) and real
`pressrun worker` processes. Each test gets its own database, broker namespace and bucket.
A service that cannot be reached fails the test loudly: nothing here is ever skipped."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
import redis
from sqlalchemy import func, select

from pipeline.config import Settings
from pipeline.db import make_engine, make_session_factory, transaction
from pipeline.events.models import UNFINISHED, Event
from pipeline.publish.models import ListRefresh, RefreshState
from tests.ports import free_port, wait_for_port

PG_HOST = os.environ.get("PRESSRUN_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("PRESSRUN_TEST_REDIS", "redis://127.0.0.1:6379")
AMQP_URL = os.environ.get("PRESSRUN_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672//")
BIN = Path(sys.executable).parent
# Databases 12-15 are left to benchmarks (benchmarks/realstack.py), so a test never flushes one.
_redis_databases = itertools.cycle(range(1, 12))

pytestmark = pytest.mark.integration


def start_moto(port: int, **env: str) -> subprocess.Popen[bytes]:
    executable = shutil.which("moto_server", path=str(BIN))
    assert executable, "moto_server is missing: install the test extras (make install)"
    process = subprocess.Popen(
        [executable, "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port)
    return process


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    process = start_moto(port)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(10)


@pytest.fixture
def database_url() -> Iterator[str]:
    name = f"pressrun_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(f"{PG_HOST}/postgres", autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL is unreachable at {PG_HOST}: {error}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"{PG_HOST}/{name}"
    with psycopg.connect(f"{PG_HOST}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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


@pytest.fixture
def amqp_url() -> str:
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=5).close()
    except OSError as error:
        pytest.fail(f"RabbitMQ is unreachable at 127.0.0.1:5672: {error}")
    return AMQP_URL


@dataclass
class Stack:
    """One isolated newsroom on the real services, driven as a user would: the CLI."""

    settings: Settings
    env: dict[str, str]
    folder: Path
    s3: Any
    bucket: str
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def pressrun(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        executable = shutil.which("pressrun", path=str(BIN))
        assert executable is not None
        return subprocess.run(
            [executable, *args], env=self.env, cwd=self.folder, capture_output=True, text=True,
            check=check, timeout=timeout,
        )  # fmt: skip

    def start_workers(self, count: int = 2, **extra_env: str) -> None:
        executable = shutil.which("pressrun", path=str(BIN))
        assert executable is not None
        first = len(self.workers)
        for number in range(first, first + count):
            with (self.folder / f"worker-{number}.log").open("wb") as log:
                self.workers.append(
                    subprocess.Popen(
                        [executable, "worker", "--concurrency", "1", "--loglevel", "INFO"],
                        env={**self.env, **extra_env},
                        cwd=self.folder,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        self.wait_for_log("ready", first + count)

    def wait_for_log(self, text: str, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            logs = [path.read_text(errors="replace") for path in self.folder.glob("worker-*.log")]
            if sum(text in log for log in logs) >= count:
                return
            if any(worker.poll() is not None for worker in self.workers):
                raise AssertionError("a worker exited:\n" + "\n".join(logs))
            time.sleep(0.2)
        raise TimeoutError(f"workers did not log {text!r} in {timeout}s")

    def worker_logs(self) -> str:
        return "\n".join(
            path.read_text(errors="replace") for path in self.folder.glob("worker-*.log")
        )

    def stop_workers(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(10)
        self.workers.clear()

    def wait_quiet(self, timeout: float = 120) -> float:
        """Wait until every event is live or failed and no list refresh is pending."""
        engine = make_engine(self.settings.database_url)
        sessions = make_session_factory(engine)
        started = time.monotonic()
        try:
            while time.monotonic() - started < timeout:
                with transaction(sessions) as session:
                    busy = session.scalar(
                        select(func.count()).select_from(Event).where(Event.status.in_(UNFINISHED))
                    )
                    lists = session.scalar(
                        select(func.count())
                        .select_from(ListRefresh)
                        .where(ListRefresh.state != RefreshState.IDLE)
                    )
                if not busy and not lists:
                    return time.monotonic() - started
                time.sleep(0.2)
        finally:
            engine.dispose()
        raise TimeoutError(f"not quiet after {timeout}s:\n{self.worker_logs()[-3000:]}")

    def object(self, key: str) -> dict[str, Any] | None:
        try:
            answer = self.s3.get_object(Bucket=self.bucket, Key=f"site/{key}")
        except self.s3.exceptions.NoSuchKey:
            return None
        answer["Text"] = answer["Body"].read().decode("utf-8")
        return dict(answer)

    def stored_keys(self) -> set[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix="site/"
        )
        return {entry["Key"][5:] for page in pages for entry in page.get("Contents", [])}


def make_stack(
    folder: Path,
    database_url: str,
    broker_url: str,
    s3_endpoint: str,
    *,
    create_bucket: bool = True,
    **settings: Any,
) -> Stack:
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    if create_bucket:
        s3.create_bucket(Bucket=bucket)
    config = Settings(
        database_url=database_url,
        broker_url=broker_url,
        storage_url=f"s3://{bucket}/site",
        s3_endpoint_url=s3_endpoint,
        site_url="https://news.example.com",
        queue_prefix=f"t{uuid.uuid4().hex[:8]}-",
        relay_grace_seconds=2,
        relay_stuck_seconds=20,
    )
    config = replace(config, **settings)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PRESSRUN_")}
    env.update({
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    })  # fmt: skip
    for name, value in vars(config).items():
        if value is not None:
            env[f"PRESSRUN_{name.upper()}"] = str(value)
    return Stack(config, env, folder, s3, bucket)


@pytest.fixture
def stack(tmp_path: Path, database_url: str, redis_url: str, s3_endpoint: str) -> Iterator[Stack]:
    built = make_stack(tmp_path, database_url, redis_url, s3_endpoint)
    built.pressrun("db", "upgrade")
    yield built
    built.stop_workers()
