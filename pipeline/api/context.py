"""What every request handler needs, built once per app: services, dispatcher, limits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from pipeline.api.limits import RateLimits
from pipeline.api.moves import EventMoves
from pipeline.api.previews import PreviewStore
from pipeline.api.settings import ApiSettings
from pipeline.events.processing import Dispatcher, Outcome, dispatch_event
from pipeline.schema import utcnow
from pipeline.services import Services


@dataclass
class ApiContext:
    services: Services
    dispatcher: Dispatcher
    api_settings: ApiSettings
    limits: RateLimits
    previews: PreviewStore
    # Wakes `?wait=` and the dashboard's stream when an event moves (PostgreSQL's NOTIFY).
    moves: EventMoves
    # Raises when the broker cannot be reached; None when tasks run in this process.
    broker_check: Callable[[], None] | None = None
    clock: Callable[[], datetime] = utcnow

    def dispatch(self, event_id: int) -> Outcome:
        """Hand a committed event on (the sessions call it once its transaction has closed)."""
        return dispatch_event(self.services, self.dispatcher, event_id)


def context_of(request: Request) -> ApiContext:
    context = request.app.state.pressrun
    assert isinstance(context, ApiContext)
    return context


Context = Annotated[ApiContext, Depends(context_of)]
