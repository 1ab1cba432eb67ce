"""Thin task wrappers: serialization, routing and retries here; the logic in pipeline/."""

from __future__ import annotations

from collections.abc import Callable

from celery import Celery

from pipeline.events import Dispatcher, process_event
from pipeline.refresh import refresh_list
from pipeline.services import Services


def register_tasks(
    app: Celery, services: Callable[[], Services], dispatcher: Callable[[], Dispatcher]
) -> None:
    @app.task(  # type: ignore[untyped-decorator]
        name="pressrun.handle_event", shared=False, acks_late=True, reject_on_worker_lost=True
    )
    def handle_event(event_id: int) -> str:
        """Render and sync what one outbox event changed (ids only: re-read the world)."""
        return str(process_event(services(), dispatcher(), event_id).status)

    @app.task(  # type: ignore[untyped-decorator]
        name="pressrun.refresh_list", shared=False, acks_late=True, reject_on_worker_lost=True
    )
    def refresh(list_key: str) -> int:
        """One coalesced refresh of a list (home, a section, a tag, the sitemaps)."""
        report = refresh_list(services(), dispatcher(), list_key)
        return len(report.written) if report else 0
