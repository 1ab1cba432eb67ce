"""A throwaway production stack for benchmarks: a PostgreSQL database, a Redis database,
moto_server and `pressrun worker` processes, all on this machine, removed afterwards."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import psutil
import psycopg
import redis
from botocore.config import Config

from pipeline.config import Settings

BIN = Path(sys.executable).parent
PG = os.environ.get("PRESSRUN_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int) -> None:
    for _ in range(200):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"port {port} never opened")


@dataclass
class RealStack:
    settings: Settings
    env: dict[str, str]
    folder: Path
    database: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_workers(self, count: int, queues: str = "events,lists,rebuild") -> None:
        for number in range(count):
            with (self.folder / f"worker-{len(self.processes)}-{number}.log").open("wb") as log:
                self.processes.append(
                    subprocess.Popen(
                        [str(BIN / "pressrun"), "worker", "--concurrency", "1", "--queues", queues],
                        env=self.env,
                        cwd=self.folder,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            logs = [p.read_text(errors="replace") for p in self.folder.glob("worker-*.log")]
            if sum("ready" in log for log in logs) >= len(self.processes):
                return
            time.sleep(0.2)
        raise TimeoutError("workers did not start")

    def peak_rss_mb(self) -> list[float]:
        """Resident memory of each worker process tree, now (MB)."""
        sizes = []
        for process in self.processes:
            try:
                root = psutil.Process(process.pid)
                tree = [root, *root.children(recursive=True)]
                sizes.append(max(p.memory_info().rss for p in tree) / 2**20)
            except psutil.NoSuchProcess:
                continue
        return sizes

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def s3_client(endpoint: str) -> Any:
    """A client of the benchmark's S3 server, with a pool wide enough for 32 PUTs at once."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(max_pool_connections=32),
    )


def database_exists(name: str) -> bool:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
        found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return found is not None


def copy_database(source: str, target: str) -> None:
    """A copy of `source` (no one may be connected to it) as `target`, replacing it."""
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')


@contextmanager
def real_stack(
    folder: Path, redis_db: int = 14, template: str | None = None, **overrides: object
) -> Iterator[RealStack]:
    """The stack on a new database: empty, or a copy of `template` (migrated on start)."""
    name = f"pressrun_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
        copy = f' TEMPLATE "{template}"' if template else ""
        admin.execute(f'CREATE DATABASE "{name}"{copy}')
    port = free_port()
    moto = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for_port(port)
    endpoint = f"http://127.0.0.1:{port}"
    s3_client(endpoint).create_bucket(Bucket="bench")
    values: dict[str, object] = {
        "database_url": f"{PG}/{name}",
        "broker_url": f"redis://127.0.0.1:6379/{redis_db}",
        # Queues of their own: two benchmarks side by side never take each other's tasks.
        "queue_prefix": f"{name}-",
        "storage_url": "s3://bench/site",
        "s3_endpoint_url": endpoint,
    }
    settings = Settings(**(values | overrides))  # type: ignore[arg-type]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESSRUN_")}
    env |= {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    env |= {f"PRESSRUN_{k.upper()}": str(v) for k, v in vars(settings).items() if v is not None}
    stack = RealStack(settings, env, folder, name)
    try:
        subprocess.run(
            [str(BIN / "pressrun"), "db", "upgrade"], env=env, check=True, capture_output=True
        )
        yield stack
    finally:
        stack.stop()
        moto.terminate()
        moto.wait(10)
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        broker = redis.Redis.from_url(f"redis://127.0.0.1:6379/{redis_db}")
        for key in broker.scan_iter(match=f"*{name}*"):
            broker.delete(key)
        shutil.rmtree(folder / "ignored", ignore_errors=True)
