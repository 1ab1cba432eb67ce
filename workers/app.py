"""The Celery app factory. With no broker configured, tasks run eagerly in the calling process;
the same task code runs in a worker fleet once PRESSRUN_BROKER_URL names a broker."""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Callable
from functools import cache, partial
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import worker_process_init
from sqlalchemy import text

from pipeline.config import Settings
from pipeline.events.processing import dispatch_event
from pipeline.publish.news import AGE_NEWS_EVERY_SECONDS
from pipeline.services import Services, create_services
from workers.tasks import register_tasks

log = logging.getLogger("pressrun.workers")

QUEUES = ("events", "lists", "rebuild")
# A message a worker took but never acknowledged (it died) goes back to its queue after this
# many seconds on Redis. The outbox relay re-sends stuck events much sooner than that.
VISIBILITY_TIMEOUT = 3600
# Sending must not block an editor's request when the broker is down: give up quickly and
# leave the event to the relay.
CONNECT_TIMEOUT = 3
RELAY_EVERY_SECONDS = 5.0
# Scheduled publishes and unpublishes go out within about this long of their time.
DUE_EVERY_SECONDS = 2.0
# Publishes append document-count deltas that every count read sums: folded often enough
# that a term has few of them.
FOLD_EVERY_SECONDS = 10.0


def queue_names(settings: Settings) -> dict[str, str]:
    return {name: f"{settings.queue_prefix}{name}" for name in QUEUES}


def create_app(settings: Settings, services: Callable[[], Services] | None = None) -> Celery:
    app = Celery("pressrun", set_as_current=False)
    names = queue_names(settings)
    app.conf.update(
        broker_url=settings.broker_url or "memory://localhost/",
        task_always_eager=settings.eager,
        # Failures are recorded on the event row; the caller reads the outcome from there.
        task_eager_propagates=False,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # Queues are created on first use (task_create_missing_queues).
        task_default_queue=names["events"],
        task_routes={
            "pressrun.handle_event": {"queue": names["events"]},
            "pressrun.relay": {"queue": names["events"]},
            "pressrun.reconcile": {"queue": names["rebuild"]},
            "pressrun.prune": {"queue": names["rebuild"]},
            "pressrun.refresh_list": {"queue": names["lists"]},
            "pressrun.refresh_lists": {"queue": names["lists"]},
            "pressrun.rebuild_chunk": {"queue": names["rebuild"]},
        },
        broker_connection_timeout=CONNECT_TIMEOUT,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": VISIBILITY_TIMEOUT,
            "socket_connect_timeout": CONNECT_TIMEOUT,
            "socket_timeout": 10,
            # Sending gives up after one try to connect: kombu would otherwise try again
            # for two connect timeouts, and every publish would wait that long while the
            # broker is down (the relay sends what was not sent).
            "max_retries": 0,
        },
        worker_send_task_events=True,
        task_send_sent_event=True,
        worker_hijack_root_logger=False,
        beat_schedule={
            "relay": {"task": "pressrun.relay", "schedule": RELAY_EVERY_SECONDS},
            "reconcile": {
                "task": "pressrun.reconcile",
                "schedule": float(settings.reconcile_every_seconds),
            },
            "prune": {"task": "pressrun.prune", "schedule": 86400.0},
            "due": {"task": "pressrun.run_due", "schedule": DUE_EVERY_SECONDS},
            "fold_counts": {"task": "pressrun.fold_counts", "schedule": FOLD_EVERY_SECONDS},
            "age_news": {"task": "pressrun.age_news", "schedule": AGE_NEWS_EVERY_SECONDS},
        },
        beat_schedule_filename=beat_schedule_file(settings),
    )
    given = services or (lambda: create_services(settings, migrate=False))
    provider = cache(lambda: dispatching(given(), app))
    register_tasks(app, provider, lambda: CeleryDispatcher(app))

    def warm_up(**_: Any) -> None:
        # Build the services (engine, templates) when a pool process starts, not on the
        # first publish it handles.
        warm(provider())

    worker_process_init.connect(warm_up, weak=False)
    return app


def warm(services: Services) -> None:
    """What a pool process's first publish would otherwise pay for on its way to the page:
    every template compiled, a database connection open in the pool, and one to the store
    (a bucket's HEAD). Best effort: a store or database that is down now is the first
    task's error to report, not the worker's start."""
    for kind in services.kinds:
        if kind.template:
            services.renderer.env.get_template(kind.template)
    try:
        with services.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        check = getattr(services.storage, "check", None)
        if check is not None:
            check()
    except Exception as error:
        log.warning("worker warm-up incomplete: %s", error)


def beat_schedule_file(settings: Settings) -> str:
    """Where beat keeps its last-run times: one file per site (broker and queue prefix), so
    two sites' beats on one machine never share or lock each other's schedule."""
    site = hashlib.sha256(f"{settings.broker_url}|{settings.queue_prefix}".encode()).hexdigest()
    return str(Path(tempfile.gettempdir()) / f"pressrun-beat-{site[:12]}")


def dispatching(services: Services, app: Celery) -> Services:
    """`services` whose sessions send the events their transactions commit (the scheduled
    publishes of `pressrun.run_due`) to this app's workers."""
    return services.dispatching(partial(dispatch_event, services, CeleryDispatcher(app)))


class CeleryDispatcher:
    """The domain's Dispatcher, implemented with Celery."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def dispatch(self, event_id: int) -> None:
        # retry=False: a broker that is down must not hold the editor's request hostage.
        self.app.tasks["pressrun.handle_event"].apply_async((event_id,), retry=False)

    def dispatch_lists(self, list_keys: list[str]) -> None:
        self.app.tasks["pressrun.refresh_lists"].apply_async((list_keys,), retry=False)

    def dispatch_chunk(self, chunk_id: int) -> None:
        self.app.tasks["pressrun.rebuild_chunk"].apply_async((chunk_id,), retry=False)


def broker_overview(app: Celery, settings: Settings) -> dict[str, Any]:
    """Queue depths and the workers online, for `pressrun status` (never raises). A queue
    the broker could not count has the depth None (unknown), never 0, and `error` says why."""
    overview: dict[str, Any] = {"queues": {}, "workers": {}, "error": None}
    try:
        with app.connection_for_read() as connection:
            for name, queue in queue_names(settings).items():
                try:
                    overview["queues"][name] = _depth(connection, queue)
                except Exception as error:
                    overview["queues"][name] = None
                    overview["error"] = f"queue {name}: {error}"
        replies = app.control.inspect(timeout=1.0).active_queues() or {}
        stats = app.control.inspect(timeout=1.0).stats() or {}
        for worker, queues in replies.items():
            pool = stats.get(worker, {}).get("pool", {})
            overview["workers"][worker] = {
                "queues": sorted(queue["name"] for queue in queues),
                "concurrency": pool.get("max-concurrency"),
            }
    except Exception as error:  # status must answer even when the broker does not
        overview["error"] = str(error)
    return overview


def _depth(connection: Any, queue: str) -> int:
    """Messages waiting in `queue`. A queue nobody declared yet holds nothing; any other error
    is raised. Each queue is asked on its own channel: RabbitMQ closes a channel that asked
    for a missing queue."""
    with connection.channel() as channel:
        try:
            return int(channel.queue_declare(queue=queue, passive=True).message_count)
        except Exception as error:
            if _no_such_queue(error):
                return 0
            raise


def _no_such_queue(error: Exception) -> bool:
    # RabbitMQ and kombu's Redis transport both answer with AMQP's reply code 404 NOT_FOUND.
    return str(getattr(error, "reply_code", "")) == "404"
