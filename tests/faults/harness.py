"""The fault-test harness: fault injection on the real stack (`tests/realstack.py`), a mixed
editorial workload, and the checker that compares storage with a fresh render of the database.

The stack is the one the README describes, on this machine and private to one test: a
PostgreSQL database of its own, a `redis-server` on a free port (so a test can stop and start
it without touching the machine's shared Redis), moto_server (optionally behind the fault
proxy), `pressrun worker` processes and the real beat (the outbox relay).

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

import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from pipeline.content import articles
from pipeline.content.inputs import parse_article
from pipeline.content.models import Article, ArticleStatus
from pipeline.db import transaction
from pipeline.events.models import Event, EventKind, EventStatus
from pipeline.events.processing import dispatch_event
from pipeline.services import Services
from pipeline.site.planner import plan_everything
from pipeline.transient import is_transient
from tests.faults.proxy import FaultPlan, FaultProxy
from tests.realstack import PREFIX, MotoServer, Stack, admin, database_name, private_stack

# What a rolled-back change carries, so its traces can be found anywhere.
PHANTOM_SLUG = "rolledback"
PHANTOM_SECTION = "phantomsection"
PHANTOM_TITLE = "PHANTOMTITLE"
PHANTOM_TAG = "phantomtag"


def terminate_connections(url: str) -> int:
    """pg_terminate_backend on every connection to the test database but this one."""
    with admin() as connection:
        rows = connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (database_name(url),),
        ).fetchall()
    return sum(1 for (done,) in rows if done)


# -- the stack ---------------------------------------------------------------------------------


@dataclass
class FaultStack(Stack):
    """A private stack whose workers may reach S3 through the fault proxy."""

    proxy: FaultProxy | None = None

    def delivery_figures(self) -> dict[str, int]:
        """Task retries, re-deliveries and relay re-sends, from the database and the logs."""
        logs = self.worker_logs()
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


@contextmanager
def fault_stack(
    folder: Path,
    moto: MotoServer,
    *,
    proxy_plan: FaultPlan | None = None,
    worker_module: str | None = None,
    **overrides: Any,
) -> Iterator[FaultStack]:
    """A private stack (database, redis-server, bucket; no workers yet), with the workers'
    S3 behind the fault proxy when there is a plan. When the test is over everything goes at
    once (SIGKILL), nothing is waited for."""
    proxy = FaultProxy(moto.port, proxy_plan, seed=7).start() if proxy_plan else None
    settings: dict[str, Any] = {
        "site_url": "https://news.example.com",
        "queue_prefix": "faults-",
        "relay_grace_seconds": 1,
        "relay_stuck_seconds": 10,
        "max_attempts": 5,
        # Smaller than the defaults so that a change re-renders fewer pages: the tests are
        # about delivery, and every kind of dependency (rails, paging) is still there.
        "page_size": 10,
        "rail_size": 4,
        "related_size": 3,
    }
    try:
        with private_stack(
            folder, moto.endpoint, kind=FaultStack, database_prefix="pressrun_faults",
            bucket_prefix="faults", processes_s3_endpoint=proxy.endpoint if proxy else None,
            **(settings | overrides),
        ) as stack:  # fmt: skip
            stack.proxy = proxy
            stack.worker_module = worker_module
            try:
                yield stack
            finally:
                stack.kill()
    finally:
        if proxy is not None:
            proxy.stop()


@contextmanager
def fault_stacks(folder: Path, moto: MotoServer) -> Iterator[Callable[..., FaultStack]]:
    """`make(**options)` builds a fault stack in a new folder under `folder`; every one is
    torn down on leaving."""
    with ExitStack() as built:
        numbers = iter(range(10**6))

        def make(**options: Any) -> FaultStack:
            path = folder / f"stack-{next(numbers)}"
            path.mkdir()
            return built.enter_context(fault_stack(path, moto, **options))

        yield make


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

    def _write(self, change: Callable[[Any], articles.ArticleChange]) -> articles.ArticleChange:
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
    stored = read_bucket(stack.s3, stack.bucket)
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
