"""The fault-test harness: a private production stack, a mixed editorial workload, fault
injectors, and the checker that compares storage with a fresh render of the database.

The stack is the one the README describes, on this machine and private to one test: a
PostgreSQL database of its own, a `redis-server` on a free port (so a test can stop and start
it without touching the machine's shared Redis), moto_server on a free port (optionally
behind the fault proxy), `pressrun worker` processes and the real beat (the outbox relay).

The checker is the heart: once the system is quiet it renders every output the site should
have from the database and compares storage with it, object by object, reading storage
directly (never through the fault proxy):

- **lost**: an output the database calls for is missing (the database is ahead of storage);
- **stale**: storage holds other bytes (an older version);
- **phantom**: an object that belongs to a change that was rolled back;
- **resurrected**: any object (page, list, feed, sitemap, JSON) that mentions an article
  that is unpublished now;
- **orphans**: any other object that nothing produces.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import psutil
import psycopg
import redis
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from pipeline.config import Settings
from pipeline.content import articles
from pipeline.content.inputs import parse_article
from pipeline.content.models import Article, ArticleStatus
from pipeline.db import make_engine, transaction, upgrade
from pipeline.events.models import UNFINISHED, Event, EventKind, EventStatus
from pipeline.events.processing import dispatch_event
from pipeline.publish.models import ListRefresh, RebuildChunk, RefreshState
from pipeline.services import Services, create_services
from pipeline.site.planner import plan_everything
from pipeline.transient import is_transient
from tests.faults.proxy import FaultPlan, FaultProxy
from tests.ports import free_port, wait_for_port

PG_HOST = os.environ.get("PRESSRUN_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
PREFIX = "site"
# What a rolled-back change carries, so its traces can be found anywhere.
PHANTOM_SLUG = "rolledback"
PHANTOM_SECTION = "phantomsection"
PHANTOM_TITLE = "PHANTOMTITLE"
PHANTOM_TAG = "phantomtag"


# -- processes and ports ------------------------------------------------------------------------


def stop_process(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM (to the process group when it leads one), then SIGKILL after `timeout`."""
    if process.poll() is not None:
        return
    _signal(process, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        _signal(process, signal.SIGKILL)
        process.wait(10)


def _signal(process: subprocess.Popen[bytes], number: int, group: bool = True) -> None:
    """Signal a process this harness started (and its group), never a reaped pid that may
    belong to someone else by now."""
    if process.poll() is not None:
        return
    try:
        if group and os.getpgid(process.pid) == process.pid:
            os.killpg(process.pid, number)
        else:
            os.kill(process.pid, number)
    except ProcessLookupError:
        pass


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
        executable = shutil.which("redis-server")
        assert executable, "redis-server is not installed"
        self.process = subprocess.Popen(
            [executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
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
    def __init__(self) -> None:
        self.port = free_port()
        executable = shutil.which("moto_server", path=str(BIN))
        assert executable, "moto_server is missing: install the test extras (make install)"
        self.process = subprocess.Popen(
            [executable, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_process(self.process)


def create_database() -> str:
    name = f"pressrun_faults_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{PG_HOST}/postgres", autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return f"{PG_HOST}/{name}"


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(f"{PG_HOST}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def terminate_connections(url: str) -> int:
    """pg_terminate_backend on every connection to the test database but this one."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(f"{PG_HOST}/postgres", autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return sum(1 for (done,) in rows if done)


# -- the stack ---------------------------------------------------------------------------------


@dataclass
class Worker:
    number: int
    process: subprocess.Popen[bytes]
    log: Path

    def ready(self) -> bool:
        return "ready." in self.log.read_text(errors="replace")

    def pool_children(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []


@dataclass
class Stack:
    """One private newsroom on the production stack, driven in-process by the harness."""

    folder: Path
    settings: Settings  # what the workers use (S3 through the proxy, when there is one)
    services: Services  # the harness's own: direct to the S3 server, for writes and checks
    env: dict[str, str]
    redis: RedisServer
    moto: MotoServer
    bucket: str
    proxy: FaultProxy | None = None
    workers: list[Worker] = field(default_factory=list)
    beat: subprocess.Popen[bytes] | None = None
    worker_module: str | None = None
    faults: Counter[str] = field(default_factory=Counter)
    _dispatcher: Any = None
    _numbers: Any = field(default_factory=lambda: iter(range(10**6)))

    # -- processes ---------------------------------------------------------------------------

    def worker_command(self) -> list[str]:
        if self.worker_module:
            # The real `pressrun` command line, with a test plugin installed first.
            return [sys.executable, "-m", self.worker_module]
        executable = shutil.which("pressrun", path=str(BIN))
        assert executable is not None
        return [executable]

    def start_worker(self, wait: bool = True, **extra_env: str) -> Worker:
        number = next(self._numbers)
        log = self.folder / f"worker-{number}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [*self.worker_command(), "worker", "--concurrency", "1", "--loglevel", "INFO"],
                env={**self.env, **extra_env}, cwd=self.folder, stdout=output,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        worker = Worker(number, process, log)
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
                    raise AssertionError(f"worker {worker.number} exited:\n{self.logs()[-3000:]}")
            time.sleep(0.1)
        raise TimeoutError(f"workers not ready after {timeout}s:\n{self.logs()[-3000:]}")

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
            _signal(worker.process, signal.SIGKILL)
            worker.process.wait(10)
            self.faults["SIGKILL whole worker"] += 1

    def terminate_worker(self, worker: Worker, grace: float = 30.0) -> float:
        """SIGTERM to the worker's main process only, as `docker stop` does; SIGKILL after
        `grace` seconds. Returns how long it took to exit."""
        started = time.monotonic()
        pool = worker.pool_children()
        _signal(worker.process, signal.SIGTERM, group=False)
        try:
            worker.process.wait(grace)
        except subprocess.TimeoutExpired:
            _signal(worker.process, signal.SIGKILL)
            worker.process.wait(10)
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

    def start_beat(self) -> None:
        # The real beat (`pressrun beat` is this with the default schedule file, which is a
        # fixed path in /tmp shared by every beat on the machine: each test has its own).
        log = self.folder / "beat.log"
        with log.open("wb") as output:
            self.beat = subprocess.Popen(
                [str(BIN / "celery"), "-A", "workers.celery", "beat", "--loglevel", "INFO",
                 "-s", str(self.folder / "beat-schedule")],
                env=self.env, cwd=self.folder, stdout=output, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def logs(self) -> str:
        paths = sorted(self.folder.glob("worker-*.log"), key=lambda path: path.stat().st_mtime)
        return "\n".join(path.read_text(errors="replace") for path in paths)

    # -- the domain, in-process --------------------------------------------------------------

    @property
    def dispatcher(self) -> Any:
        if self._dispatcher is None:
            from workers.app import CeleryDispatcher, create_app

            self._dispatcher = CeleryDispatcher(create_app(self.settings, lambda: self.services))
        return self._dispatcher

    def s3(self) -> Any:
        return boto3.client(
            "s3", endpoint_url=self.moto.endpoint, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip

    # -- quiet -------------------------------------------------------------------------------

    def pending(self) -> dict[str, int]:
        with transaction(self.services.sessions) as session:
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
                # A failed rebuild's chunks are not pending: they stopped with it.
                "chunks": session.scalar(
                    select(func.count())
                    .select_from(RebuildChunk)
                    .join(Event, Event.id == RebuildChunk.event_id)
                    .where(RebuildChunk.state != "done", Event.status.in_(UNFINISHED))
                )
                or 0,
            }

    def wait_quiet(self, timeout: float = 180) -> float:
        """Until no event is unfinished, no list refresh is queued or running and no rebuild
        chunk is pending, twice in a row; returns the seconds it took."""
        started = time.monotonic()
        calm = 0
        last: dict[str, int] = {}
        while time.monotonic() - started < timeout:
            try:
                last = self.pending()
            except DBAPIError as error:  # a connection the test killed
                if not is_transient(error):
                    raise
                time.sleep(0.2)
                continue
            calm = calm + 1 if not any(last.values()) else 0
            if calm >= 2:
                return time.monotonic() - started
            time.sleep(0.25)
        raise TimeoutError(
            f"not quiet after {timeout}s: {last}\n{self.describe_unfinished()}\n"
            f"{self.logs()[-4000:]}"
        )

    def describe_unfinished(self) -> str:
        with transaction(self.services.sessions) as session:
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

    # -- figures -----------------------------------------------------------------------------

    def delivery_figures(self) -> dict[str, int]:
        """Task retries, re-deliveries and relay re-sends, from the database and the logs."""
        logs = self.logs()
        with transaction(self.services.sessions) as session:
            attempts = session.execute(
                select(func.count(), func.coalesce(func.sum(Event.attempts), 0)).where(
                    Event.kind.in_((EventKind.PUBLISH, EventKind.UPDATE, EventKind.UNPUBLISH))
                )
            ).one()
        relayed = [
            (int(events), int(lists))
            for events, lists in re.findall(r"relay: re-sent (\d+) events, (\d+) lists", logs)
        ]
        return {
            "task retries": len(re.findall(r"Retry in \d", logs)),
            "pool processes lost": len(re.findall(r"Process '\S+' pid:\d+ exited", logs)),
            "extra starts": int(attempts[1]) - int(attempts[0]),
            "relay re-sent events": sum(events for events, _ in relayed),
            "relay re-sent lists": sum(lists for _, lists in relayed),
        }


def build_stack(
    folder: Path,
    moto: MotoServer,
    *,
    proxy_plan: FaultPlan | None = None,
    worker_module: str | None = None,
    **overrides: Any,
) -> Stack:
    """Database, Redis, bucket, settings and the harness's services (no workers yet)."""
    database_url = create_database()
    upgrade_engine = make_engine(database_url)
    try:
        upgrade(upgrade_engine)
    finally:
        upgrade_engine.dispose()
    server = RedisServer(folder)
    server.start()
    bucket = f"faults-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3", endpoint_url=moto.endpoint, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    ).create_bucket(Bucket=bucket)  # fmt: skip
    proxy = FaultProxy(moto.port, proxy_plan, seed=7).start() if proxy_plan else None
    direct = Settings(
        database_url=database_url,
        broker_url=server.url,
        storage_url=f"s3://{bucket}/{PREFIX}",
        s3_endpoint_url=moto.endpoint,
        site_url="https://news.example.com",
        queue_prefix="faults-",
        relay_grace_seconds=1,
        relay_stuck_seconds=10,
        max_attempts=5,
        # Smaller than the defaults so that a change re-renders fewer pages: the tests are
        # about delivery, and every kind of dependency (rails, paging) is still there.
        page_size=10,
        rail_size=4,
        related_size=3,
    )
    direct = replace(direct, **overrides)
    workers_settings = replace(direct, s3_endpoint_url=proxy.endpoint) if proxy else direct
    env = {key: value for key, value in os.environ.items() if not key.startswith("PRESSRUN_")}
    env.update({
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "PYTHONPATH": str(ROOT),
    })  # fmt: skip
    for item in fields(workers_settings):
        value = getattr(workers_settings, item.name)
        if value is not None:
            env[f"PRESSRUN_{item.name.upper()}"] = str(value)
    return Stack(
        folder=folder,
        settings=workers_settings,
        services=create_services(direct, migrate=False),
        env=env,
        redis=server,
        moto=moto,
        bucket=bucket,
        proxy=proxy,
        worker_module=worker_module,
    )


def tear_down(stack: Stack) -> None:
    """The test is over: everything goes at once (SIGKILL), nothing is waited for."""
    if stack.beat is not None:
        _signal(stack.beat, signal.SIGKILL)
    for worker in stack.workers:
        _signal(worker.process, signal.SIGKILL)
    for process in [stack.beat, *(worker.process for worker in stack.workers)]:
        if process is not None:
            process.wait(10)
    if stack.proxy is not None:
        stack.proxy.stop()
    stack.redis.stop()
    stack.services.engine.dispose()
    drop_database(stack.settings.database_url)


# -- the workload ------------------------------------------------------------------------------

SECTIONS = {
    "politics": "parliament minister vote coalition budget election senate reform",
    "business": "market shares investors profit merger inflation bank trade",
    "sport": "match league goal coach season final striker stadium",
    "culture": "theatre festival novel gallery premiere orchestra film stage",
}
TAGS = ["elections", "markets", "football", "theatre", "climate", "transport"]
WORDS = [
    "harbour",
    "ferry",
    "council",
    "bridge",
    "river",
    "school",
    "hospital",
    "railway",
    "tunnel",
    "airport",
]
BASE_TIME = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)


@dataclass
class Expected:
    """The model of one article: what the workload last committed for it."""

    slug: str
    title: str
    section: str
    live: bool
    published_at: datetime


class Workload:
    """Publishes, updates, moves and unpublishes through `pipeline.content.articles` in committed
    transactions, then dispatches each event as the CLI does (a broker that is down leaves
    the event to the relay). Some changes are rolled back on purpose, one in three of them
    after their event id was (wrongly) dispatched before the rollback."""

    def __init__(self, stack: Stack, seed: int = 1, prefix: str = "w") -> None:
        self.stack = stack
        self.services = stack.services
        self.random = random.Random(seed)
        self.prefix = prefix
        self.model: dict[str, Expected] = {}
        self.counts: Counter[str] = Counter()
        self.numbers = iter(range(10**6))
        self.clock = BASE_TIME
        self.dispatch: Callable[[int], None] = self._dispatch

    # -- one change --------------------------------------------------------------------------

    def _write(self, change: Callable[[Any], articles.Change]) -> articles.Change:
        """A change in one transaction, tried again when the database connection was lost
        (the editor's retry; a repeated change with the same content changes nothing)."""
        for attempt in range(20):
            try:
                with transaction(self.services.sessions) as session:
                    return change(session)
            except DBAPIError as error:
                if not is_transient(error) or attempt == 19:
                    raise
                self.counts["write retries"] += 1
                time.sleep(0.1)
        raise AssertionError("unreachable")

    def _dispatch(self, event_id: int) -> None:
        try:
            outcome = dispatch_event(self.services, self.stack.dispatcher, event_id)
        except DBAPIError as error:
            if not is_transient(error):
                raise
            self.counts["dispatch errors"] += 1  # the relay sends it
            return
        if outcome.status == EventStatus.ACCEPTED:
            self.counts["dispatch failed"] += 1  # the broker is down: the relay sends it

    def _data(self, slug: str, title: str, section: str, when: datetime, tags: list[str]) -> Any:
        words = SECTIONS.get(section, "phantom spectre ghost").split()
        body = " ".join(self.random.choice(words + WORDS) for _ in range(40))
        data, _ = parse_article(
            {
                "slug": slug,
                "title": title,
                "standfirst": f"{title}: what happened.",
                "body": f"{body}.\n\n{' '.join(self.random.sample(words, 3))}.",
                "section": section,
                "tags": tags,
                "authors": ["Ann Writer"],
                "published_at": when.isoformat(),
            }
        )
        return data

    def publish_new(self, section: str | None = None, when: datetime | None = None) -> str:
        number = next(self.numbers)
        slug = f"{self.prefix}-{number:05d}-{self.random.choice(WORDS)}"
        section = section or self.random.choice(list(SECTIONS))
        if when is None:
            # Mostly the newest story; one in five backdated into the middle of the lists.
            self.clock += timedelta(minutes=self.random.randint(5, 90))
            when = self.clock
            if self.random.random() < 0.2:
                when = BASE_TIME + (self.clock - BASE_TIME) * self.random.random()
        title = f"{self.random.choice(WORDS).title()} story {self.prefix}{number:05d}"
        tags = self.random.sample(TAGS, self.random.randint(0, 2))
        data = self._data(slug, title, section, when, tags)
        change = self._write(lambda session: articles.publish(session, data, actor="faults"))
        self.model[slug] = Expected(slug, title, section, True, when)
        self.counts["publish"] += 1
        self.dispatch(change.event_id)
        return slug

    def update(self, slug: str | None = None, *, section: str | None = None) -> str:
        """A new title (and sometimes new tags); an unpublished article comes back."""
        slug = slug or self.random.choice(list(self.model))
        current = self.model[slug]
        version = self.counts["update"] + self.counts["move"] + 1
        title = re.sub(r" v\d+$", "", current.title) + f" v{version}"
        section = section or current.section
        tags = self.random.sample(TAGS, self.random.randint(0, 2))
        data = self._data(slug, title, section, current.published_at, tags)
        change = self._write(lambda session: articles.publish(session, data, actor="faults"))
        kind = "move" if section != current.section else "update"
        if not current.live:
            kind = "republish"
        self.model[slug] = replace(current, title=title, section=section, live=True)
        self.counts[kind] += 1
        self.dispatch(change.event_id)
        return slug

    def move(self, slug: str | None = None) -> str:
        live = [item.slug for item in self.model.values() if item.live]
        slug = slug or self.random.choice(live)
        others = [name for name in SECTIONS if name != self.model[slug].section]
        section = self.random.choice(others)
        return self.update(slug, section=section)

    def unpublish(self, slug: str | None = None) -> str:
        live = [item.slug for item in self.model.values() if item.live]
        slug = slug or self.random.choice(live)
        change = self._write(lambda session: articles.unpublish(session, slug, actor="faults"))
        self.model[slug] = replace(self.model[slug], live=False)
        self.counts["unpublish"] += 1
        self.dispatch(change.event_id)
        return slug

    def rolled_back(self) -> None:
        """A publish of a new article, or an update of a live one, that is rolled back; one
        in three has its event id dispatched before the rollback (a caller's bug the worker
        must survive: the event it is given does not exist)."""
        number = next(self.numbers)
        early = number % 3 == 0

        class Rollback(Exception):
            pass

        try:
            with transaction(self.services.sessions) as session:
                live = [item for item in self.model.values() if item.live]
                if live and self.random.random() < 0.5:
                    item = self.random.choice(live)
                    data = self._data(item.slug, f"{PHANTOM_TITLE} {number}", item.section,
                                      item.published_at, [])  # fmt: skip
                else:
                    data = self._data(f"{PHANTOM_SLUG}-{number:05d}", f"{PHANTOM_TITLE} {number}",
                                      PHANTOM_SECTION, self.clock, [PHANTOM_TAG])  # fmt: skip
                change = articles.publish(session, data, actor="faults")
                if early:
                    session.flush()
                    self.stack.dispatcher.dispatch(change.event_id)
                raise Rollback()
        except Rollback:
            self.counts["rolled back"] += 1
        except DBAPIError as error:
            if not is_transient(error):
                raise
            self.counts["rolled back"] += 1

    # -- a mix -------------------------------------------------------------------------------

    def step(self) -> None:
        live = sum(item.live for item in self.model.values())
        roll = self.random.random()
        if live < 5 or roll < 0.5:
            self.publish_new()
        elif roll < 0.78:
            self.update()
        elif roll < 0.88:
            self.unpublish()
        elif roll < 0.95:
            self.move()
        else:
            self.rolled_back()

    def run(self, changes: int, seconds: float, step: Callable[[], object] | None = None) -> float:
        """`changes` changes (mixed, or `step`) spread over about `seconds`; returns how long
        it took."""
        started = time.monotonic()
        for number in range(changes):
            (step or self.step)()
            late = started + seconds * (number + 1) / changes - time.monotonic()
            if late > 0:
                time.sleep(late)
        return time.monotonic() - started

    @property
    def total(self) -> int:
        return sum(
            self.counts[name]
            for name in ("publish", "update", "move", "republish", "unpublish", "rolled back")
        )

    def describe(self) -> str:
        kinds = ("publish", "update", "move", "republish", "unpublish", "rolled back")
        parts = [f"{self.counts[name]} {name}" for name in kinds if self.counts[name]]
        extra = [
            f"{name} {self.counts[name]}"
            for name in ("write retries", "dispatch failed", "dispatch errors")
            if self.counts[name]
        ]
        return f"{self.total} changes ({', '.join(parts)})" + (
            f"; {', '.join(extra)}" if extra else ""
        )


class Timeline:
    """Runs `(seconds, action)` pairs at those offsets from entering, in a thread."""

    def __init__(self, plan: list[tuple[float, Callable[[], None]]]) -> None:
        self.plan = sorted(plan, key=lambda item: item[0])
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        started = time.monotonic()
        for offset, action in self.plan:
            time.sleep(max(0.0, started + offset - time.monotonic()))
            try:
                action()
            except BaseException as error:  # reported on exit
                self.errors.append(error)

    def __enter__(self) -> Timeline:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.thread.join(300)
        if self.errors:
            raise self.errors[0]


class Injector:
    """Calls `action` every `every` seconds in a thread until stopped."""

    def __init__(self, every: float, action: Callable[[], None]) -> None:
        self.every = every
        self.action = action
        self.stopped = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        # A fixed rate, however long the action takes.
        due = time.monotonic() + self.every
        while not self.stopped.wait(max(0.0, due - time.monotonic())):
            due += self.every
            try:
                self.action()
            except BaseException as error:  # reported by stop()
                self.errors.append(error)
                return

    def __enter__(self) -> Injector:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(60)
        if self.errors:
            raise self.errors[0]


# -- the checker -------------------------------------------------------------------------------


@dataclass
class Findings:
    expected: int = 0
    stored: int = 0
    lost: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    phantom: list[str] = field(default_factory=list)
    resurrected: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    excused: list[str] = field(default_factory=list)
    model_mismatches: list[str] = field(default_factory=list)
    failed_events: list[tuple[int, str]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (
            self.lost
            or self.stale
            or self.phantom
            or self.resurrected
            or self.orphans
            or self.model_mismatches
        )

    def line(self) -> str:
        return (
            f"lost={len(self.lost)} stale={len(self.stale)} phantom={len(self.phantom)} "
            f"resurrected={len(self.resurrected)} (orphans={len(self.orphans)}, "
            + (f"{len(self.excused)} outputs of failed changes, " if self.excused else "")
            + f"model mismatches={len(self.model_mismatches)}, {self.expected} outputs checked, "
            f"{self.stored} objects, {len(self.failed_events)} failed events)"
        )

    def details(self) -> str:
        parts = []
        for name in ("lost", "stale", "phantom", "resurrected", "orphans", "model_mismatches"):
            keys = getattr(self, name)
            if keys:
                parts.append(f"{name}: {keys[:15]}")
        if self.failed_events:
            parts.append(f"failed events: {self.failed_events[:10]}")
        return "\n".join(parts)


def read_bucket(s3: Any, bucket: str, prefix: str = PREFIX) -> dict[str, bytes]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/")
    names = [entry["Key"] for page in pages for entry in page.get("Contents", [])]

    def get(name: str) -> tuple[str, bytes]:
        return name[len(prefix) + 1 :], s3.get_object(Bucket=bucket, Key=name)["Body"].read()

    with ThreadPoolExecutor(8) as pool:
        return dict(pool.map(get, names))


def expected_site(services: Services, without: Iterable[str] = ()) -> dict[str, bytes]:
    """Every output the site should have now, freshly rendered from the database; with
    `without`, as it would be if those articles were unpublished (nothing is saved)."""
    expected = {}
    session = services.sessions()
    try:
        hidden = list(without)
        if hidden:
            for article in session.scalars(select(Article).where(Article.slug.in_(hidden))):
                article.status = ArticleStatus.UNPUBLISHED
            session.flush()
        for spec in sorted(plan_everything(session, services.settings)):
            rendered = services.renderer.render(session, spec)
            if rendered is not None:
                expected[spec.key] = rendered.body
    finally:
        session.rollback()
        session.close()
    return expected


def compare(
    expected: dict[str, bytes],
    stored: dict[str, bytes],
    unpublished: Iterable[str],
    alternative: dict[str, bytes] | None = None,
) -> Findings:
    """The four counts (and orphans) from what should be and what is. With `alternative`
    (the site without the articles whose change failed on purpose), an output may also
    match that: the failed change's own outputs never landed, everything else must have."""
    findings = Findings(expected=len(expected), stored=len(stored))
    other = alternative if alternative is not None else expected
    markers = [f"/{slug}/".encode() for slug in unpublished]
    phantom = [
        marker.encode()
        for marker in (f"{PHANTOM_SLUG}-", PHANTOM_SECTION, PHANTOM_TITLE, PHANTOM_TAG)
    ]
    for key in sorted(expected):
        if key not in stored:
            if key in other:
                findings.lost.append(key)
            else:
                findings.excused.append(key)
        elif stored[key] != expected[key]:
            if stored[key] != other.get(key):
                findings.stale.append(key)
            else:
                findings.excused.append(key)
    for key, body in sorted(stored.items()):
        text = b"/" + key.encode() + b" " + body
        if any(marker in text for marker in phantom):
            findings.phantom.append(key)
        elif any(marker in text for marker in markers):
            findings.resurrected.append(key)
        elif key not in expected and other.get(key) != body:
            findings.orphans.append(key)
    return findings


def check_site(
    stack: Stack, model: dict[str, Expected] | None = None, failed_slugs: Iterable[str] = ()
) -> Findings:
    """Compare storage (read directly from the S3 server) with a fresh render of the
    database. `failed_slugs` are articles whose change fails on purpose (a poison): each
    output must then match the site with them or the site without them."""
    services = stack.services
    expected = expected_site(services)
    failed_slugs = list(failed_slugs)
    alternative = expected_site(services, without=failed_slugs) if failed_slugs else None
    stored = read_bucket(stack.s3(), stack.bucket)
    with transaction(services.sessions) as session:
        statuses = dict(session.execute(select(Article.slug, Article.status)).all())
        titles = dict(session.execute(select(Article.slug, Article.title)).all())
        failed = session.execute(
            select(Event.id, Event.error).where(Event.status == EventStatus.FAILED)
        ).all()
    unpublished = [slug for slug, status in statuses.items() if status == ArticleStatus.UNPUBLISHED]
    findings = compare(expected, stored, unpublished, alternative)
    findings.failed_events = [(event_id, error or "") for event_id, error in failed]
    for slug, item in sorted((model or {}).items()):
        live = statuses.get(slug) == ArticleStatus.PUBLISHED
        if live != item.live or (live and titles.get(slug) != item.title):
            findings.model_mismatches.append(slug)
    return findings
