"""What every `pressrun` command shares: the settings, the services and dispatcher built on
first use, and how a command fails."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import NoReturn

import click

from pipeline.config import Settings
from pipeline.events.processing import Dispatcher, Outcome, dispatch_event, finish_unfinished
from pipeline.services import Services, create_services

EXIT_BAD_INPUT = 2
EXIT_NOT_FOUND = 1


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@dataclass
class App:
    """What every command needs, built on first use."""

    settings: Settings
    _services: Services | None = field(default=None, init=False)
    _dispatcher: Dispatcher | None = field(default=None, init=False)
    _recovered: bool = field(default=False, init=False)

    @property
    def services(self) -> Services:
        """Services whose transactions dispatch the events they commit (`dispatch`)."""
        if self._services is None:
            self._services = create_services(self.settings).dispatching(self.dispatch)
        return self._services

    def recover(self, other_than: int | None = None) -> None:
        """Nothing committed is lost: in the embedded default, a command that writes first
        finishes what a crashed process left behind (every unfinished event but its own).
        Commands that only read never call this: `status` must not render the site."""
        if self._recovered or not self.settings.eager:
            return
        self._recovered = True
        for outcome in finish_unfinished(self.services, self.dispatcher, other_than=other_than):
            click.echo(f"recovered event {outcome.event_id}: {outcome.status}", err=True)

    @property
    def dispatcher(self) -> Dispatcher:
        if self._dispatcher is None:
            from workers.app import CeleryDispatcher, create_app

            self._dispatcher = CeleryDispatcher(create_app(self.settings, lambda: self.services))
        return self._dispatcher

    def dispatch(self, event_id: int) -> Outcome:
        """Send on an event a transaction committed (the sessions call it once it closed)."""
        self.recover(other_than=event_id)
        return dispatch_event(self.services, self.dispatcher, event_id)


pass_app = click.make_pass_decorator(App)
