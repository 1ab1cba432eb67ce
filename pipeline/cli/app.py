"""What every `pressrun` command shares: the settings, the services and dispatcher built on
first use, and how a command fails."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NoReturn

import click
from sqlalchemy import exc

from pipeline.config import ConfigError, Settings, mask_url
from pipeline.events.processing import Dispatcher, Outcome, dispatch_event, finish_unfinished
from pipeline.services import Services, create_services

if TYPE_CHECKING:
    from sqlalchemy import Engine

EXIT_BAD_INPUT = 2
EXIT_NOT_FOUND = 1


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@contextmanager
def usable_settings(settings: Settings) -> Iterator[None]:
    """A setting found unusable when first used (no database at that address, storage that
    cannot be opened) ends the command with one line naming the setting, exit 2: a
    configuration mistake is not a crash, and a traceback would bury the one line that
    says what to fix."""
    try:
        yield
    except ConfigError as error:
        fail(str(error))
    except (exc.OperationalError, exc.InterfaceError, exc.ArgumentError) as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        fail(
            f"PRESSRUN_DATABASE_URL={mask_url(settings.database_url)!r}: "
            f"cannot open the database: {reason}"
        )


def open_database(settings: Settings) -> Engine:
    """The database alone, at the newest schema (for commands that render nothing)."""
    from pipeline import db

    with usable_settings(settings):
        engine = db.make_engine(settings.database_url)
        db.upgrade(engine)
    return engine


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
            with usable_settings(self.settings):
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
