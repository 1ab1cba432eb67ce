"""The real stack, one harness for the integration tests, the fault tests and the benchmarks:
PostgreSQL databases, Redis (a database of the machine's server, or a private `redis-server`),
moto_server over HTTP and a bucket, `pressrun worker` processes, the beat and `pressrun api`,
all on this machine and all removed afterwards.

`Stack.assemble` puts a stack together on services the caller owns (a pytest fixture's
database, say); `private_stack` owns them too: a database of its own, optionally copied from a
template, and a private `redis-server` unless a broker is named. Nothing here imports pytest,
so benchmarks (`python -m benchmarks.x` from the repository root) use it as the tests do.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Self, TypeVar

import boto3
import psutil
import psycopg
import redis
from botocore.config import Config
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from pipeline.config import Settings
from pipeline.db import make_engine, make_session_factory, transaction, upgrade
from pipeline.events.models import UNFINISHED, Event
from pipeline.publish.models import ListRefresh, RebuildChunk, RefreshState
from pipeline.services import Services, create_services
from pipeline.transient import is_transient
from tests.ports import free_port, wait_for_port

__all__ = ["free_port", "wait_for_port"]  # re-exported: the ports of the servers started here

PG_HOST = os.environ.get("PRESSRUN_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("PRESSRUN_TEST_REDIS", "redis://127.0.0.1:6379")
BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]
PREFIX = "site"
# moto_server accepts any key unless told to check them; boto3 only needs some.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def executable(name: str) -> str:
    found = shutil.which(name, path=str(BIN))
    assert found, f"{name} is missing from {BIN}: install the test extras (make install)"
    return found


# -- processes ----------------------------------------------------------------------------------


def signal_process(process: subprocess.Popen[bytes], number: int, group: bool = True) -> None:
    """Signal a process this harness started (and its group when it leads one), never a reaped
    pid that may belong to someone else by now."""
    if process.poll() is not None:
        return
    try:
        if group and os.getpgid(process.pid) == process.pid:
            os.killpg(process.pid, number)
        else:
            os.kill(process.pid, number)
    except ProcessLookupError:
        pass


def stop_processes(processes: list[subprocess.Popen[bytes]], timeout: float = 20.0) -> None:
    """SIGTERM to all at once (so they shut down side by side), then SIGKILL to any still
    running after `timeout`."""
    for process in processes:
        signal_process(process, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            signal_process(process, signal.SIGKILL)
            process.wait(10)


def kill_processes(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGKILL to all at once, then reap them."""
    for process in processes:
        signal_process(process, signal.SIGKILL)
    for process in processes:
        process.wait(10)


def spawn(
    command: list[str], env: dict[str, str], folder: Path, log: Path
) -> subprocess.Popen[bytes]:
    """A process in a session of its own (so its children are signalled with it), its output
    in `log`."""
    with log.open("wb") as output:
        return subprocess.Popen(
            command, env=env, cwd=folder, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


# -- servers ------------------------------------------------------------------------------------


class RedisServer:
    """A private `redis-server` without persistence: stopping it loses every queued message,
    as a broker crash does."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.stops = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = shutil.which("redis-server")
        assert command, "redis-server is not installed"
        self.process = subprocess.Popen(
            [command, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder),
             "--logfile", str(self.folder / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None
            self.stops += 1

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=2)


class MotoServer:
    """moto_server on a free port; `env` reaches the server (INITIAL_NO_AUTH_ACTION_COUNT=0
    makes it check credentials)."""

    def __init__(self, **env: str) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [executable("moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_processes([self.process], timeout=15)


def s3_client(endpoint: str, connections: int = 10) -> Any:
    """A client of the S3 server; `connections` wide enough for that many requests at once."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=Config(max_pool_connections=connections),
    )


# -- databases ----------------------------------------------------------------------------------


def admin() -> psycopg.Connection[Any]:
    """A connection to the server's `postgres` database, for creating and dropping others."""
    return psycopg.connect(f"{PG_HOST}/postgres", autocommit=True, connect_timeout=5)


def create_database(prefix: str = "pressrun_test", template: str | None = None) -> str:
    """A new database, empty or a copy of `template`; returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin() as connection:
        connection.execute(f'CREATE DATABASE "{name}"{copy}')
    return f"{PG_HOST}/{name}"


def database_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


def drop_database(url: str) -> None:
    with admin() as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{database_name(url)}" WITH (FORCE)')


def database_exists(name: str) -> bool:
    with admin() as connection:
        found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return found.fetchone() is not None


def copy_database(source: str, target: str) -> None:
    """A copy of `source` (no one may be connected to it) as `target`, replacing it."""
    with admin() as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')


def migrate(url: str) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


# -- the stack ----------------------------------------------------------------------------------


@dataclass
class Worker:
    number: int
    process: subprocess.Popen[bytes]
    log: Path

    def ready(self) -> bool:
        return "ready." in self.log.read_text(errors="replace")

    def pool_children(self) -> list[psutil.Process]:
        try:
            return list(psutil.Process(self.process.pid).children(recursive=True))
        except psutil.NoSuchProcess:
            return []

    def rss_mb(self) -> float | None:
        """Resident memory of the largest process of the worker's tree, now (MB)."""
        try:
            root = psutil.Process(self.process.pid)
            tree = [root, *root.children(recursive=True)]
            return float(max(process.memory_info().rss for process in tree)) / 2**20
        except psutil.NoSuchProcess:
            return None


@dataclass
class Api:
    """`pressrun api` running on the stack."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_processes([self.process])


@dataclass
class Stack:
    """One isolated newsroom on the real services: a database, a broker, a bucket, and the
    processes started on them. Driven as a user would (`pressrun`), or in-process through
    `services` and `dispatcher`."""

    folder: Path
    settings: Settings  # what the processes use
    direct: Settings  # the same, straight to the S3 server (the processes may go through a proxy)
    env: dict[str, str]
    s3: Any  # a client of the S3 server, for checks and for making or breaking the bucket
    bucket: str
    redis: RedisServer | None = None  # the private broker, when there is one
    worker_module: str | None = None
    workers: list[Worker] = field(default_factory=list)
    beat: subprocess.Popen[bytes] | None = None
    apis: list[Api] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)  # what was done to it, by kind
    _services: Services | None = None
    _dispatcher: Any = None
    _numbers: Iterator[int] = field(default_factory=lambda: iter(range(10**6)))

    @classmethod
    def assemble(
        cls,
        folder: Path,
        database_url: str,
        broker_url: str,
        s3_endpoint: str,
        *,
        create_bucket: bool = True,
        bucket_prefix: str = "test",
        processes_s3_endpoint: str | None = None,
        **settings: Any,
    ) -> Self:
        """A stack on these services (a bucket of its own, made unless told not to); the
        `settings` replace the defaults (`queue_prefix` is the database's name)."""
        bucket = f"{bucket_prefix}-{uuid.uuid4().hex[:12]}"
        s3 = s3_client(s3_endpoint)
        if create_bucket:
            s3.create_bucket(Bucket=bucket)
        direct = Settings(
            database_url=database_url,
            broker_url=broker_url,
            storage_url=f"s3://{bucket}/{PREFIX}",
            s3_endpoint_url=s3_endpoint,
            queue_prefix=f"{database_name(database_url)}-",
        )
        direct = replace(direct, **settings)
        used = replace(direct, s3_endpoint_url=processes_s3_endpoint or s3_endpoint)
        return cls(folder, used, direct, environment(used), s3, bucket)

    # -- the command line ------------------------------------------------------------------------

    def pressrun(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [executable("pressrun"), *args], env=self.env, cwd=self.folder, capture_output=True,
            text=True, check=check, timeout=timeout,
        )  # fmt: skip

    # -- workers ---------------------------------------------------------------------------------

    def worker_command(self) -> list[str]:
        if self.worker_module:
            # The real `pressrun` command line, with a test plugin installed first.
            return [sys.executable, "-m", self.worker_module]
        return [executable("pressrun")]

    def start_worker(self, wait: bool = True, **extra_env: str) -> Worker:
        number = next(self._numbers)
        log = self.folder / f"worker-{number}.log"
        command = [*self.worker_command(), "worker", "--concurrency", "1", "--loglevel", "INFO"]
        worker = Worker(number, spawn(command, {**self.env, **extra_env}, self.folder, log), log)
        self.workers.append(worker)
        if wait:
            self.wait_ready([worker])
        return worker

    def start_workers(self, count: int = 2, **extra_env: str) -> list[Worker]:
        started = [self.start_worker(wait=False, **extra_env) for _ in range(count)]
        self.wait_ready(started)
        return started

    def wait_ready(self, workers: list[Worker], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(worker.ready() for worker in workers):
                return
            for worker in workers:
                if worker.process.poll() is not None:
                    raise AssertionError(
                        f"worker {worker.number} exited:\n{self.worker_logs()[-3000:]}"
                    )
            time.sleep(0.1)
        raise TimeoutError(f"workers not ready after {timeout}s:\n{self.worker_logs()[-3000:]}")

    def alive_workers(self) -> list[Worker]:
        return [worker for worker in self.workers if worker.process.poll() is None]

    def kill_worker(self, worker: Worker, how: str = "whole") -> None:
        """SIGKILL a whole worker (its container dies) or only its pool process (the kernel's
        OOM killer): the message it was running is then handed back by Celery at once."""
        if how == "pool":
            for child in worker.pool_children():
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()
                    self.faults["SIGKILL pool process"] += 1
        else:
            kill_processes([worker.process])
            self.faults["SIGKILL whole worker"] += 1

    def terminate_worker(self, worker: Worker, grace: float = 30.0) -> float:
        """SIGTERM to the worker's main process only, as `docker stop` does; SIGKILL after
        `grace` seconds. Returns how long it took to exit."""
        started = time.monotonic()
        pool = worker.pool_children()
        signal_process(worker.process, signal.SIGTERM, group=False)
        try:
            worker.process.wait(grace)
        except subprocess.TimeoutExpired:
            kill_processes([worker.process])
            self.faults["SIGTERM grace exceeded"] += 1
        self.faults["SIGTERM"] += 1
        took = time.monotonic() - started
        # A pool process must not outlive its worker (it would hold a message unseen).
        time.sleep(0.5)
        for child in pool:
            with contextlib.suppress(psutil.NoSuchProcess):
                if child.status() != psutil.STATUS_ZOMBIE:
                    self.faults["pool process outlived its worker"] += 1
                    child.kill()
        return took

    def stop_workers(self, timeout: float = 20.0) -> None:
        stop_processes([worker.process for worker in self.workers], timeout)
        self.workers.clear()

    def worker_logs(self) -> str:
        paths = sorted(self.folder.glob("worker-*.log"), key=lambda path: path.stat().st_mtime)
        return "\n".join(path.read_text(errors="replace") for path in paths)

    def peak_rss_mb(self) -> list[float]:
        """Resident memory of each running worker's largest process, now (MB)."""
        sizes = [worker.rss_mb() for worker in self.workers]
        return [size for size in sizes if size is not None]

    # -- beat and the API -------------------------------------------------------------------------

    def start_beat(self) -> None:
        # The real beat (`pressrun beat` is this with the default schedule file, which is a
        # fixed path in /tmp shared by every beat on the machine: each stack has its own).
        command = [executable("celery"), "-A", "workers.celery", "beat", "--loglevel", "INFO",
                   "-s", str(self.folder / "beat-schedule")]  # fmt: skip
        self.beat = spawn(command, self.env, self.folder, self.folder / "beat.log")

    def start_api(self, *options: str, **extra_env: str) -> Api:
        """`pressrun api` on a free port, once it listens; its output in api.log."""
        port = free_port()
        command = [executable("pressrun"), "api", "--port", str(port), *options]
        log = self.folder / "api.log"
        api = Api(spawn(command, {**self.env, **extra_env}, self.folder, log), port, log)
        self.apis.append(api)
        try:
            wait_for_port(port, timeout=60)
        except TimeoutError:
            raise AssertionError(f"the API did not start:\n{log.read_text()[-3000:]}") from None
        return api

    # -- in-process -------------------------------------------------------------------------------

    @property
    def services(self) -> Services:
        """The harness's own services, straight to the S3 server (built on first use)."""
        if self._services is None:
            self._services = create_services(self.direct, migrate=False)
        return self._services

    @property
    def dispatcher(self) -> Any:
        if self._dispatcher is None:
            from workers.app import CeleryDispatcher, create_app

            self._dispatcher = CeleryDispatcher(create_app(self.settings, lambda: self.services))
        return self._dispatcher

    # -- quiet -----------------------------------------------------------------------------------

    def wait_quiet(self, timeout: float = 180) -> float:
        """Until no event is unfinished, no list refresh is queued or running and no rebuild
        chunk is pending, twice in a row; returns the seconds it took. A connection lost on
        the way (a test may kill them) is tried again."""
        engine = make_engine(self.direct.database_url)
        sessions = make_session_factory(engine)
        started = time.monotonic()
        calm = 0
        last: dict[str, int] = {}
        try:
            while time.monotonic() - started < timeout:
                try:
                    with transaction(sessions) as session:
                        last = pending(session)
                except DBAPIError as error:
                    if not is_transient(error):
                        raise
                    time.sleep(0.2)
                    continue
                calm = calm + 1 if not any(last.values()) else 0
                if calm >= 2:
                    return time.monotonic() - started
                time.sleep(0.25)
            with transaction(sessions) as session:
                unfinished = describe_unfinished(session)
        finally:
            engine.dispose()
        raise TimeoutError(
            f"not quiet after {timeout}s: {last}\n{unfinished}\n{self.worker_logs()[-4000:]}"
        )

    # -- the bucket ------------------------------------------------------------------------------

    def object(self, key: str) -> dict[str, Any] | None:
        try:
            answer = self.s3.get_object(Bucket=self.bucket, Key=f"{PREFIX}/{key}")
        except self.s3.exceptions.NoSuchKey:
            return None
        answer["Text"] = answer["Body"].read().decode("utf-8")
        return dict(answer)

    def stored_keys(self) -> set[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{PREFIX}/"
        )
        return {
            entry["Key"][len(PREFIX) + 1 :] for page in pages for entry in page.get("Contents", [])
        }

    # -- the end ---------------------------------------------------------------------------------

    def processes(self) -> list[subprocess.Popen[bytes]]:
        beat = [self.beat] if self.beat is not None else []
        return [*(api.process for api in self.apis), *beat, *(w.process for w in self.workers)]

    def kill(self) -> None:
        """Everything the stack started goes at once (SIGKILL), nothing is waited for."""
        kill_processes(self.processes())

    def close(self) -> None:
        """The API, the beat and the workers stopped (SIGTERM, then SIGKILL after 20 s), the
        harness's connections closed. The services it was given stay."""
        stop_processes(self.processes())
        self.workers.clear()
        if self._services is not None:
            self._services.engine.dispose()


S = TypeVar("S", bound=Stack)


def environment(settings: Settings) -> dict[str, str]:
    """This process's environment with `settings` as PRESSRUN_* (and no other PRESSRUN_*), the
    S3 server's credentials, and this checkout first on the path (a worker may run a test
    plugin from tests/)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PRESSRUN_")}
    env |= CREDENTIALS | {"PYTHONPATH": str(ROOT)}
    for item in fields(settings):
        value = getattr(settings, item.name)
        if value is not None:
            env[f"PRESSRUN_{item.name.upper()}"] = str(value)
    return env


def pending(session: Session) -> dict[str, int]:
    """What is still to do: unfinished events, busy lists, rebuild chunks of running rebuilds
    (a failed rebuild's chunks stopped with it)."""
    return {
        "events": session.scalar(
            select(func.count()).select_from(Event).where(Event.status.in_(UNFINISHED))
        )
        or 0,
        "lists": session.scalar(
            select(func.count())
            .select_from(ListRefresh)
            .where(ListRefresh.state != RefreshState.IDLE)
        )
        or 0,
        "chunks": session.scalar(
            select(func.count())
            .select_from(RebuildChunk)
            .join(Event, Event.id == RebuildChunk.event_id)
            .where(RebuildChunk.state != "done", Event.status.in_(UNFINISHED))
        )
        or 0,
    }


def describe_unfinished(session: Session) -> str:
    events = session.execute(
        select(Event.id, Event.kind, Event.status, Event.attempts, Event.error,
               Event.pending_lists)
        .where(Event.status.in_(UNFINISHED)).order_by(Event.id).limit(20)
    ).all()  # fmt: skip
    lists = session.execute(
        select(ListRefresh.list_key, ListRefresh.state, ListRefresh.updated_at).where(
            ListRefresh.state != RefreshState.IDLE
        )
    ).all()
    return f"unfinished events: {events}\nbusy lists: {lists}"


@contextmanager
def private_stack(
    folder: Path,
    s3_endpoint: str | None = None,
    *,
    broker_url: str | None = None,
    database_prefix: str = "pressrun_test",
    template: str | None = None,
    kind: type[S] = Stack,  # type: ignore[assignment]
    **options: Any,
) -> Iterator[S]:
    """A stack on a database of its own (empty, or a copy of `template`; migrated), a
    private `redis-server` unless `broker_url` names a broker, and a moto_server of its own
    unless `s3_endpoint` names one. Afterwards its processes are stopped, the keys of its
    queues deleted from a shared broker, and what it started stopped or dropped."""
    with ExitStack() as cleanup:
        database_url = create_database(database_prefix, template)
        cleanup.callback(drop_database, database_url)
        migrate(database_url)
        server = None
        if broker_url is None:
            server = RedisServer(folder)
            server.start()
            cleanup.callback(server.stop)
            broker_url = server.url
        if s3_endpoint is None:
            moto = MotoServer()
            cleanup.callback(moto.stop)
            s3_endpoint = moto.endpoint
        stack = kind.assemble(folder, database_url, broker_url, s3_endpoint, **options)
        stack.redis = server
        if server is None:
            cleanup.callback(forget_queues, stack.settings)
        cleanup.callback(stack.close)
        yield stack


def forget_queues(settings: Settings) -> None:
    """Delete the keys of a stack's queues (named by its `queue_prefix`) from a shared Redis."""
    url = settings.broker_url or ""
    if not url.startswith("redis"):
        return
    broker = redis.Redis.from_url(url)
    try:
        for key in broker.scan_iter(match=f"*{settings.queue_prefix}*"):
            broker.delete(key)
    finally:
        broker.close()


def bench_stack(
    folder: Path, redis_db: int = 14, template: str | None = None, **overrides: Any
) -> contextlib.AbstractContextManager[Stack]:
    """What a benchmark runs on: a private stack on a database of the machine's Redis (12-15
    are the benchmarks', the tests flush the others) and the pipeline's default settings."""
    return private_stack(
        folder, broker_url=f"{REDIS_URL}/{redis_db}", database_prefix="pressrun_bench",
        bucket_prefix="bench", template=template, **overrides,
    )  # fmt: skip
