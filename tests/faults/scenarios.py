"""The fault scenarios of the reliability issue, sized by their callers: the tests in this
folder run them scaled down, `benchmarks/faults.py` at the issue's sizes.

Each takes `make_stack` (builds a private stack, see `harness.fault_stack`; the caller tears
it down), runs a workload while injecting its fault, waits until the system is quiet, and
returns a `Result`: the figures and the checker's findings. None of them asserts; callers do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from pipeline.content import articles
from pipeline.content.inputs import parse_article
from pipeline.content.models import Article
from pipeline.db import transaction
from pipeline.events.models import Event, EventStatus
from pipeline.publish.models import RebuildChunk
from tests.faults.harness import (
    BASE_TIME,
    FaultPlan,
    FaultStack,
    Findings,
    Injector,
    Timeline,
    Workload,
    check_site,
    terminate_connections,
)
from tests.realstack import stop_processes

MakeStack = Callable[..., FaultStack]


@dataclass
class Result:
    name: str
    stack: FaultStack
    workload: Workload
    findings: Findings
    quiet: float
    delivery: dict[str, int]
    extra: dict[str, Any] = field(default_factory=dict)
    # A check made earlier in the scenario, when it has one.
    before: Findings | None = None

    @property
    def line(self) -> str:
        faults = dict(self.stack.faults)
        if self.stack.proxy is not None:
            faults["S3 faults"] = self.stack.proxy.faults
        notes = "".join(f", {name} {value}" for name, value in self.extra.items())
        retries = ", ".join(f"{name} {value}" for name, value in self.delivery.items())
        injected = ", ".join(f"{name} {value}" for name, value in faults.items()) or "none"
        return (
            f"{self.name}: {self.workload.describe()}; faults: {injected}{notes}; "
            f"retries: {retries}; quiet after {self.quiet:.1f} s; {self.findings.line()}"
        )


def settle(
    name: str,
    stack: FaultStack,
    workload: Workload,
    failed_slugs: tuple[str, ...] = (),
    **extra: Any,
) -> Result:
    """Wait until quiet, then check storage against a fresh render of the database."""
    quiet = stack.wait_quiet()
    if stack.proxy is not None:
        extra["S3"] = stack.proxy.summary()
    return Result(
        name,
        stack,
        workload,
        check_site(stack, workload.model, failed_slugs),
        quiet,
        stack.delivery_figures(),
        extra,
    )


def fleet(
    make_stack: MakeStack,
    *,
    beat: bool = True,
    worker_env: dict[str, str] | None = None,
    **options: Any,
) -> FaultStack:
    """A private stack with two workers and, unless told otherwise, the beat."""
    stack = make_stack(**options)
    stack.start_workers(2, **(worker_env or {}))
    if beat:
        stack.start_beat()
    return stack


def sigkill(make_stack: MakeStack, changes: int, seconds: float, every: float = 2.0) -> Result:
    """A worker SIGKILLed every `every` seconds. Kills alternate between a whole worker (its
    message stays unacknowledged in Redis for the visibility timeout: the relay re-sends the
    event after PRESSRUN_RELAY_STUCK_SECONDS) and only its pool process (Celery hands the
    message back at once); a killed worker is replaced at once, as an orchestrator would."""
    stack = fleet(make_stack)
    workload = Workload(stack, seed=2)
    rounds = iter(range(10**6))

    def kill() -> None:
        ready = [worker for worker in stack.alive_workers() if worker.pool_children()]
        if not ready:
            return
        number = next(rounds)
        victim = ready[number % len(ready)]
        if number % 2:
            stack.kill_worker(victim, "pool")
        else:
            stack.kill_worker(victim, "whole")
            stack.start_worker(wait=False)

    with Injector(every, kill):
        workload.run(changes, seconds)
    return settle(f"SIGKILL every {every:g} s", stack, workload)


def redis_outage(
    make_stack: MakeStack, publishes: int, seconds: float, down: float = 20.0
) -> Result:
    """Publishes while Redis is stopped for `down` seconds (from 3 s in), then started. Its
    queues die with it (no persistence): publishes made meanwhile are saved with their event
    and the relay sends them once the broker is back; the messages that were queued are
    re-sent as stuck."""
    stack = fleet(make_stack)
    workload = Workload(stack, seed=3)

    def stop() -> None:
        stack.redis.stop()
        stack.faults["Redis stopped (s)"] = round(down)

    with Timeline([(3, stop), (3 + down, stack.redis.start)]):
        workload.run(publishes, seconds, step=workload.publish_new)
    return settle(f"Redis stopped {down:g} s", stack, workload)


def s3_faults(make_stack: MakeStack, changes: int, seconds: float) -> Result:
    """The S3 server behind the fault proxy: 20% of requests fail with 500/503 or a
    connection reset (half of them after the request took effect), with latency."""
    stack = fleet(make_stack, proxy_plan=FaultPlan())
    workload = Workload(stack, seed=4)
    workload.run(changes, seconds)
    return settle("S3 behind a fault proxy", stack, workload)


def burst_then_unpublish(make_stack: MakeStack, updates: int = 50, seconds: float = 1.0) -> Result:
    """`updates` updates to one article in about `seconds` across 2 workers, then an
    unpublish."""
    stack = fleet(make_stack)
    workload = Workload(stack, seed=5)
    for _ in range(12):
        workload.publish_new()
    stack.wait_quiet()
    target = sorted(workload.model)[5]
    took = workload.run(updates, seconds, step=lambda: workload.update(target))
    # Checked before the unpublish too: deleting the page would hide a stale one.
    after_updates = settle(f"{updates} updates to one article", stack, workload)
    workload.unpublish(target)
    result = settle(f"{updates} updates to one article, then unpublish", stack, workload)
    result.extra["updates took (s)"] = round(took, 1)
    result.extra["after the updates"] = after_updates.findings.line().split(" (")[0]
    result.before = after_updates.findings
    with transaction(stack.services.sessions) as session:
        article = session.scalars(select(Article).where(Article.slug == target)).one()
        statuses = session.scalars(select(Event.status).where(Event.article_id == article.id))
        result.extra["target"] = target
        result.extra["target version"] = article.version
        result.extra["target events not live"] = sum(
            status != EventStatus.LIVE for status in statuses
        )
    return result


def wrong_order_twice(make_stack: MakeStack, pairs: int, changes: int, seconds: float) -> Result:
    """Updates and unpublishes delivered in the wrong order, and every task delivered twice:
    the harness sends each event twice, and the workers (through the test plugin) send every
    list refresh and relayed event twice."""
    stack = fleet(
        make_stack,
        worker_module="tests.faults.plugin",
        worker_env={"PRESSRUN_FAULTS_DUPLICATE": "1"},
    )
    workload = Workload(stack, seed=6)

    def twice(event_id: int) -> None:
        workload._dispatch(event_id)
        stack.dispatcher.dispatch(event_id)

    workload.dispatch = twice
    for _ in range(pairs + 4):
        workload.publish_new()
    stack.wait_quiet()
    held: list[int] = []
    workload.dispatch = held.append
    live = sorted(workload.model)
    for number in range(pairs):
        if number % 3 == 2:  # a new article and its update: the update arrives first
            slug = workload.publish_new()
            workload.update(slug)
        else:  # an update and an unpublish: the unpublish arrives first
            slug = live[number]
            workload.update(slug)
            workload.unpublish(slug)
        first, second = held[-2:]
        twice(second)
        time.sleep(0.3)
        twice(first)
    workload.dispatch = twice
    workload.run(changes, seconds)
    result = settle("wrong order, every task twice", stack, workload)
    result.extra["pairs reversed"] = pairs
    return result


POISON_RAISES, POISON_CRASHES = "poison-raises", "poison-crashes"


def poison(make_stack: MakeStack, changes: int, seconds: float) -> Result:
    """Two poison articles, through the test plugin: one whose render raises (failed at
    once, with its error: a retry cannot cure it) and one whose render kills its process
    (Celery hands the message back at once, again and again: the event must end failed after
    PRESSRUN_MAX_ATTEMPTS starts, not loop forever). Everything else must land.

    The poisons are the oldest articles and share no words with anything, so no other
    article's page shows them in a rail: a poison that other pages' renders touched would
    fail those pages' events too."""
    stack = fleet(
        make_stack,
        worker_module="tests.faults.plugin",
        worker_env={
            "PRESSRUN_FAULTS_POISON_RAISE": POISON_RAISES,
            "PRESSRUN_FAULTS_POISON_CRASH": POISON_CRASHES,
        },
    )
    workload = Workload(stack, seed=7)
    words = {
        POISON_RAISES: ("Quixotic zephyr", "Xylophonic quagga"),
        POISON_CRASHES: ("Jovial wombat", "Kumquat yodel"),
    }
    events = {}
    for number, (slug, (title, body)) in enumerate(words.items()):
        data, _ = parse_article(
            {
                "slug": slug,
                "title": title,
                "body": f"{body}.",
                "section": "politics",
                "published_at": (BASE_TIME - timedelta(days=30 - number)).isoformat(),
            }
        )
        change = workload._write(
            lambda session, data=data: articles.publish(session, data, actor="faults")
        )
        events[slug] = change.event_id
        workload.dispatch(change.event_id)
    workload.run(changes, seconds)
    result = settle("poison articles", stack, workload, failed_slugs=tuple(events))
    with transaction(stack.services.sessions) as session:
        for slug, event_id in events.items():
            event = session.get(Event, event_id)
            assert event is not None
            result.extra[slug] = (str(event.status), event.attempts, event.error)
        others = session.scalars(select(Event.status).where(Event.id.not_in(events.values())))
        result.extra["other events not live"] = sum(status != EventStatus.LIVE for status in others)
    return result


def poison_rebuild(make_stack: MakeStack, publishes: int) -> Result:
    """A rebuild whose render chunk holds an article that kills the process rendering it.
    A healthy fleet publishes the articles, then workers with the poison installed replace
    it and a rebuild is requested. Celery hands the chunk back at once, again and again: the
    rebuild must end failed after PRESSRUN_MAX_ATTEMPTS starts of the chunk, naming it, not
    run it for ever."""
    stack = fleet(make_stack)
    workload = Workload(stack, seed=10)
    slugs = [workload.publish_new() for _ in range(publishes)]
    stack.wait_quiet()
    for worker in stack.alive_workers():
        stop_processes([worker.process], timeout=15)
    stack.worker_module = "tests.faults.plugin"
    stack.start_workers(2, PRESSRUN_FAULTS_POISON_CRASH=slugs[0])
    with transaction(stack.services.sessions) as session:
        event_id = articles.request_rebuild(session, actor="faults").event_id
    workload.dispatch(event_id)
    result = settle("poison rebuild chunk", stack, workload)
    with transaction(stack.services.sessions) as session:
        event = session.get(Event, event_id)
        assert event is not None
        result.extra["rebuild"] = (str(event.status), event.error)
        chunks = session.execute(
            select(RebuildChunk.id, RebuildChunk.phase, RebuildChunk.state, RebuildChunk.attempts)
            .where(RebuildChunk.event_id == event_id)
            .order_by(RebuildChunk.id)
        ).all()
        result.extra["chunks"] = [tuple(chunk) for chunk in chunks]
    return result


def postgres_kills(
    make_stack: MakeStack, changes: int, seconds: float, every: float = 3.0
) -> Result:
    """Every connection to the test's database (the workers' and the editors') terminated
    with pg_terminate_backend every `every` seconds."""
    stack = fleet(make_stack)
    workload = Workload(stack, seed=8)

    def kill() -> None:
        stack.faults["connections terminated"] += terminate_connections(stack.settings.database_url)

    with Injector(every, kill):
        workload.run(changes, seconds)
    return settle("PostgreSQL connections killed", stack, workload)


def rolling_deploy(make_stack: MakeStack, changes: int, seconds: float) -> Result:
    """Graceful shutdown: every few seconds a new worker starts and the oldest gets SIGTERM
    (to its main process, as `docker stop` sends it), while changes go in. No beat runs: a
    message lost by a shutdown would never be re-sent, and the system would never get quiet."""
    stack = fleet(make_stack, beat=False)
    workload = Workload(stack, seed=9)
    exits: list[float] = []

    def roll() -> None:
        stack.start_worker()
        exits.append(stack.terminate_worker(stack.alive_workers()[0]))

    with Injector(3.0, roll):
        workload.run(changes, seconds)
    result = settle("rolling deploy (SIGTERM)", stack, workload)
    result.extra["slowest exit (s)"] = round(max(exits, default=0.0), 1)
    return result


def no_faults(make_stack: MakeStack, changes: int, seconds: float) -> Result:
    """The baseline: the same workload, nothing broken."""
    stack = fleet(make_stack)
    workload = Workload(stack, seed=1)
    workload.run(changes, seconds)
    return settle("no faults", stack, workload)
