"""Thin task wrappers: serialization and routing here, the logic in pipeline/."""

from __future__ import annotations

from collections.abc import Callable

from celery import Celery

from pipeline.events import process_event
from pipeline.services import Services


def register_tasks(app: Celery, services: Callable[[], Services]) -> None:
    @app.task(
        name="pressrun.handle_event", shared=False, acks_late=True, reject_on_worker_lost=True
    )  # type: ignore[untyped-decorator]
    def handle_event(event_id: int) -> str:
        """Render and sync what one outbox event changed (ids only: re-read the world)."""
        return str(process_event(services(), event_id).status)
