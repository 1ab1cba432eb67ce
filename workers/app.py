"""The Celery app factory. With no broker configured, tasks run eagerly in the calling process;
the same task code runs in a worker fleet once PRESSRUN_BROKER_URL names a broker."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from celery import Celery

from pipeline.config import Settings
from pipeline.services import Services, create_services
from workers.tasks import register_tasks

QUEUES = ("events", "lists", "rebuild")
# A message a worker took but never acknowledged (it died) goes back to the queue after this
# many seconds on Redis; the outbox relay re-sends stuck events much sooner than that.
VISIBILITY_TIMEOUT = 3600


def create_app(settings: Settings, services: Callable[[], Services] | None = None) -> Celery:
    app = Celery("pressrun", set_as_current=False)
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
        task_default_queue="events",
        task_routes={
            "pressrun.handle_event": {"queue": "events"},
            "pressrun.refresh_list": {"queue": "lists"},
            "pressrun.rebuild_chunk": {"queue": "rebuild"},
        },
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT},
        broker_connection_retry_on_startup=True,
        worker_send_task_events=True,
        task_send_sent_event=True,
    )
    register_tasks(
        app, services or cache(lambda: create_services(settings)), lambda: CeleryDispatcher(app)
    )
    return app


class CeleryDispatcher:
    """The domain's Dispatcher, implemented with Celery."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def dispatch(self, event_id: int) -> None:
        # retry=False: a broker that is down must not hold the editor's request hostage.
        self.app.tasks["pressrun.handle_event"].apply_async((event_id,), retry=False)

    def dispatch_list(self, list_key: str) -> None:
        self.app.tasks["pressrun.refresh_list"].apply_async((list_key,), retry=False)
