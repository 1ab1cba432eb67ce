"""Thin task wrappers: serialization, routing and retries here; the logic in pipeline/."""

from __future__ import annotations

import random
from collections.abc import Callable

from celery import Celery, Task

from pipeline.api.housekeeping import purge_expired
from pipeline.content.schedule import run_due
from pipeline.db import transaction
from pipeline.events.processing import Dispatcher, process_event
from pipeline.events.relay import relay
from pipeline.events.retention import prune_events
from pipeline.publish.news import refresh_aged_news
from pipeline.publish.rebuild import run_chunk
from pipeline.publish.reconcile import reconcile, record_run
from pipeline.publish.refresh import refresh_lists
from pipeline.schema import utcnow
from pipeline.services import Services
from pipeline.transient import is_transient

TASK_OPTIONS = {
    "shared": False,
    "acks_late": True,
    "reject_on_worker_lost": True,
}
RETRY_BACKOFF_MAX = 30
MAX_RETRIES = 4


def retry_if_transient(task: Task, error: Exception) -> None:
    """Retry storage and database hiccups with exponential backoff and jitter (the tries are
    bounded; after them the relay, then `pressrun events retry`, take over)."""
    if is_transient(error) and task.request.retries < MAX_RETRIES:
        delay = min(RETRY_BACKOFF_MAX, 2**task.request.retries) * (0.5 + random.random())
        raise task.retry(exc=error, countdown=delay)


def register_tasks(
    app: Celery, services: Callable[[], Services], dispatcher: Callable[[], Dispatcher]
) -> None:
    @app.task(name="pressrun.handle_event", bind=True, **TASK_OPTIONS)  # type: ignore[untyped-decorator]
    def handle_event(self: Task, event_id: int) -> str:
        """Render and sync what one outbox event changed (ids only: re-read the world)."""
        try:
            return str(process_event(services(), dispatcher(), event_id).status)
        except Exception as error:
            retry_if_transient(self, error)
            raise

    def refresh_and_count(task: Task, list_keys: list[str]) -> int:
        try:
            report = refresh_lists(services(), dispatcher(), list_keys)
        except Exception as error:
            retry_if_transient(task, error)
            raise
        return len(report.written) if report else 0

    @app.task(name="pressrun.refresh_lists", bind=True, **TASK_OPTIONS)  # type: ignore[untyped-decorator]
    def refresh(self: Task, list_keys: list[str]) -> int:
        """The coalesced refreshes of one event's lists (home, a section, tags, the
        sitemaps), built together."""
        return refresh_and_count(self, list_keys)

    @app.task(name="pressrun.refresh_list", bind=True, **TASK_OPTIONS)  # type: ignore[untyped-decorator]
    def refresh_one(self: Task, list_key: str) -> int:
        """One list's refresh: messages queued by a release before `refresh_lists`."""
        return refresh_and_count(self, [list_key])

    @app.task(name="pressrun.rebuild_chunk", bind=True, **TASK_OPTIONS)  # type: ignore[untyped-decorator]
    def rebuild_chunk(self: Task, chunk_id: int) -> None:
        """One share of a full rebuild (its index, weigh, rails or render phase)."""
        try:
            run_chunk(services(), dispatcher(), chunk_id)
        except Exception as error:
            retry_if_transient(self, error)
            raise

    @app.task(name="pressrun.reconcile", shared=False, ignore_result=True)  # type: ignore[untyped-decorator]
    def reconcile_task() -> dict[str, object]:
        """Compare the bucket with the database (report only) and keep the result."""
        report = reconcile(services())
        record_run(services(), report, actor="beat")
        return report.as_json()

    @app.task(name="pressrun.prune", shared=False, ignore_result=True)  # type: ignore[untyped-decorator]
    def prune_task() -> int:
        """Drop finished events past their retention."""
        return prune_events(services(), services().settings.event_retention_days)

    @app.task(name="pressrun.run_due", shared=False, ignore_result=True)  # type: ignore[untyped-decorator]
    def run_due_task() -> int:
        """Carry out the schedules that are due (embargoes, expiries); delete what expired."""
        carried_out = len(run_due(services()).outcomes)
        purge_expired(services(), utcnow())
        return carried_out

    @app.task(name="pressrun.age_news", shared=False, ignore_result=True)  # type: ignore[untyped-decorator]
    def age_news_task() -> bool:
        """Take the articles older than 48 hours out of the news sitemap."""
        return refresh_aged_news(services(), dispatcher())

    @app.task(name="pressrun.fold_counts", shared=False, ignore_result=True)  # type: ignore[untyped-decorator]
    def fold_counts_task() -> bool:
        """Fold the related index's pending document-count deltas into their counts."""
        with transaction(services().sessions) as session:
            return services().related.fold_counts(session)

    @app.task(name="pressrun.relay", shared=False, ignore_result=True)  # type: ignore[untyped-decorator]
    def relay_task() -> int:
        """Re-send what was committed but never dispatched or never finished."""
        report = relay(services(), dispatcher())
        return len(report.events) + len(report.lists) + len(report.chunks)
