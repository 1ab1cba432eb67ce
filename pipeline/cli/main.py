"""`pressrun`: the command line, a composition root (settings -> services -> domain calls)."""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from pipeline import db
from pipeline.cli.app import (
    EXIT_BAD_INPUT,
    EXIT_NOT_FOUND,
    App,
    fail,
    open_database,
    pass_app,
)
from pipeline.cli.importer import BadFile, ImportTally, read_article, read_jsonl_batches
from pipeline.cli.navigation_command import navigation_command
from pipeline.cli.remote import add_api_switch, api_command, tokens_group
from pipeline.config import ConfigError, Settings
from pipeline.content import articles, schedule
from pipeline.content.inputs import InvalidInput, Slug
from pipeline.content.models import Article
from pipeline.events import outbox
from pipeline.events.models import EventStatus
from pipeline.events.processing import Outcome
from pipeline.observe import logs
from pipeline.render.renderer import key_of
from pipeline.schema import utcnow

# The demo's site; `pressrun api` defaults to another port (remote.API_PORT), so that the two
# run side by side. PRESSRUN_SITE_URL's default names this one.
DEMO_PORT = 8000


# Options of `pressrun` itself that may also be written after the command
# (`pressrun demo --site DIR`), where people put them.
GLOBAL_OPTIONS = ("--site",)


def hoist_global_options(args: list[str]) -> list[str]:
    """`args` with every global option (and its value) moved before the command, up to a
    `--` (after which everything is an argument)."""
    hoisted: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            rest += args[index:]
            break
        if arg in GLOBAL_OPTIONS and index + 1 < len(args):
            hoisted += args[index : index + 2]
            index += 2
            continue
        if arg.startswith(tuple(f"{name}=" for name in GLOBAL_OPTIONS)):
            hoisted.append(arg)
        else:
            rest.append(arg)
        index += 1
    return hoisted + rest


class PressrunGroup(click.Group):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(args))


@click.group(cls=PressrunGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--site",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the site to this folder (overrides PRESSRUN_STORAGE_URL), with its own "
    "database DIR.db beside it unless PRESSRUN_DATABASE_URL is set. Before or after the "
    "command.",
)
@click.pass_context
def main(context: click.Context, site: Path | None) -> None:
    """pressrun: publish news articles by re-rendering exactly the pages they change."""
    try:
        settings = Settings.from_env()
        if site is not None:
            settings = settings.with_site_dir(
                site, own_database=not os.environ.get("PRESSRUN_DATABASE_URL")
            )
    except ConfigError as error:
        fail(str(error))
    if site is not None:
        # SQLite creates the database file, not the folder it goes in.
        try:
            site.resolve().parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            fail(f"--site {site}: cannot create the folder it goes in: {error.strerror}")
    context.obj = App(settings)


def report_outcome(outcome: Outcome) -> None:
    click.echo(f"event {outcome.event_id}: {outcome.status}")
    if outcome.report is not None:
        report = outcome.report
        click.echo(
            f"objects: {report.written_total} written, {report.unchanged} unchanged, "
            f"{report.deleted_total} deleted"
        )
    if outcome.status == EventStatus.ACCEPTED:
        click.echo("the broker is unreachable: the event is saved and will be dispatched later")
    elif outcome.status == EventStatus.DISPATCHED:
        click.echo("queued for the workers (follow it with `pressrun status`)")
    elif outcome.status == EventStatus.FAILED:
        click.echo(f"rendering failed (the change itself is saved): {outcome.error}", err=True)
        sys.exit(1)


@main.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--actor", default="cli", show_default=True, help="Who made the change.")
@pass_app
def publish(app: App, file: Path, actor: str) -> None:
    """Publish an article from a JSON file (an existing slug is updated)."""
    try:
        data = read_article(file)
    except BadFile as error:
        fail(str(error))
    try:
        with outbox.writing(app.services.sessions) as written:
            change = schedule.save_and_publish(written.session, data, actor=actor, now=utcnow())
            article = written.session.get(Article, change.article_id)
            assert article is not None
            key = key_of(article)
    except InvalidInput as error:
        fail(f"{file}: {error}")
    click.echo(f"article {key} (version {change.version})")
    report_outcome(written.outcome)


@main.command()
@click.argument("slug")
@click.option("--actor", default="cli", show_default=True, help="Who made the change.")
@pass_app
def unpublish(app: App, slug: str, actor: str) -> None:
    """Take an article down: its page goes, and it leaves every list, rail, feed and sitemap."""
    slug = _checked_slug(slug)
    try:
        with outbox.writing(app.services.sessions) as written:
            schedule.unpublish_now(written.session, slug, actor=actor, now=utcnow())
    except articles.ArticleNotFound as error:
        fail(str(error), EXIT_NOT_FOUND)
    report_outcome(written.outcome)


def _checked_slug(value: str) -> str:
    from pydantic import TypeAdapter, ValidationError

    try:
        return str(TypeAdapter(Slug).validate_python(value))
    except ValidationError as error:
        fail(f"slug: {error.errors()[0]['msg'].removeprefix('Value error, ')}")


@main.command()
@click.option("--related", is_flag=True, help='Also recompute every "More like this" rail.')
@click.option("--force", is_flag=True, help="Write every output, even unchanged ones.")
@pass_app
def rebuild(app: App, related: bool, force: bool) -> None:
    """Re-render every output from the database (and bring the related index up to date)."""
    started = time.perf_counter()
    with outbox.writing(app.services.sessions, later=True) as written:
        change = articles.request_rebuild(
            written.session, actor="cli", every_rail=related, force=force
        )
    report_outcome(run_with_progress(app, written, change.event_id))
    click.echo(f"seconds: {time.perf_counter() - started:.1f}")


def run_with_progress(app: App, written: outbox.Written, event_id: int) -> Outcome:
    """Dispatch a committed rebuild (`written` holds it back for this) and follow its chunks
    with a progress bar until it is live (in the embedded default it runs in this process,
    in a thread beside the bar)."""
    from concurrent.futures import ThreadPoolExecutor

    from rich.progress import Progress

    from pipeline.events.processing import event_outcome
    from pipeline.publish.rebuild import progress

    with ThreadPoolExecutor(1) as pool, Progress(transient=True) as bar:
        sending = pool.submit(written.dispatch)
        task = bar.add_task("rebuild", total=None)
        while True:
            state = progress(app.services, event_id)
            bar.update(
                task,
                description=f"rebuild: {state.phase}",
                completed=state.done,
                total=state.total or None,
            )
            if state.finished or (sending.done() and (app.settings.eager or sending.exception())):
                break
            time.sleep(0.3)
        sending.result()
    return event_outcome(app.services, event_id)


@main.command(name="import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@pass_app
def import_command(app: App, file: Path) -> None:
    """Bulk-load articles from JSON Lines (.jsonl or .jsonl.gz), then rebuild once."""
    tally = ImportTally()
    started = time.perf_counter()
    try:
        # Read and loaded a batch at a time in one transaction: a bad line rolls it back.
        with outbox.writing(app.services.sessions, later=True) as written:
            change = schedule.import_articles(
                written.session, read_jsonl_batches(file, tally), actor="import", now=utcnow()
            )
    except BadFile as error:
        fail(str(error))
    except InvalidInput as error:
        fail(f"{file}: {error}")
    click.echo(f"imported {tally.count} articles")
    if tally.ignored_fields:
        click.echo(f"ignored fields: {', '.join(sorted(tally.ignored_fields))}")
    report_outcome(run_with_progress(app, written, change.event_id))
    click.echo(f"seconds: {time.perf_counter() - started:.1f}")


@main.command()
@pass_app
def status(app: App) -> None:
    """Counts, the last events with their stage timings, queue depths and workers online."""
    from pipeline.cli.status import print_status

    broker = None
    if not app.settings.eager:
        from workers.app import broker_overview, create_app

        broker = broker_overview(create_app(app.settings, lambda: app.services), app.settings)
    print_status(app.services, broker)


def _celery_app(app: App) -> Any:
    if app.settings.eager:
        fail("no broker configured: set PRESSRUN_BROKER_URL (redis://... or amqp://...)")
    from workers.app import create_app

    return create_app(app.settings)


@main.command()
@click.option(
    "--queues",
    default="events,lists,rebuild",
    show_default=True,
    help="Comma-separated queues to consume.",
)
@click.option("--concurrency", default=2, show_default=True, type=click.IntRange(1))
@click.option("--loglevel", default="INFO", show_default=True)
@pass_app
def worker(app: App, queues: str, concurrency: int, loglevel: str) -> None:
    """Run a worker process (wraps `celery worker`)."""
    from workers.app import queue_names

    celery_app = _celery_app(app)
    names = queue_names(app.settings)
    chosen = [name.strip() for name in queues.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in names]
    if unknown:
        fail(f"--queues: unknown queue {unknown[0]!r} (choose from {', '.join(names)})")
    logs.configure(loglevel)
    _check_storage(app)
    app.services.engine.dispose()  # the pool's processes open their own connections
    celery_app.worker_main(
        [
            "worker",
            f"--hostname=pressrun-{os.getpid()}@%h",
            f"--queues={','.join(names[name] for name in chosen)}",
            f"--concurrency={concurrency}",
            f"--loglevel={loglevel}",
            "--without-mingle",
            "--without-gossip",
        ]
    )


def _check_storage(app: App) -> None:
    """Say at start, clearly, when the storage cannot be used; events fail with the error."""
    from pipeline.storage import StorageError

    try:
        app.services.storage.check()
    except StorageError as error:
        click.echo(
            f"error: storage {app.services.storage.describe()} is unusable: {error}", err=True
        )
        click.echo("error: events will fail with this error until it is fixed", err=True)
    else:
        click.echo(f"storage {app.services.storage.describe()} is reachable", err=True)


@main.command()
@click.option("--loglevel", default="INFO", show_default=True)
@pass_app
def beat(app: App, loglevel: str) -> None:
    """Run the scheduler (wraps `celery beat`): the outbox relay every few seconds."""
    logs.configure(loglevel)
    _celery_app(app).start(["beat", f"--loglevel={loglevel}"])


@main.command()
@pass_app
def config(app: App) -> None:
    """Show the effective settings (secrets masked)."""
    for name, value in app.settings.masked().items():
        click.echo(f"{name} = {value}")


@main.group(name="db")
def db_group() -> None:
    """Database schema commands."""


@db_group.command()
@pass_app
def upgrade(app: App) -> None:
    """Create or upgrade the schema (safe to run from several processes at once)."""
    open_database(app.settings)
    click.echo("database is at the newest schema")


@main.command(name="reconcile")
@click.option(
    "--repair", is_flag=True, help="Fix what differs (write missing and stale, delete orphans)."
)
@click.option(
    "--max-deletes",
    default=100,
    show_default=True,
    type=click.IntRange(0),
    help="Refuse a repair that would delete more objects than this.",
)
@pass_app
def reconcile_command(app: App, repair: bool, max_deletes: int) -> None:
    """Compare the database's truth with storage: missing, stale and orphan objects."""
    from pipeline.publish.reconcile import TooManyDeletes, reconcile, record_run

    if repair:
        app.recover()
    try:
        report = reconcile(app.services, repair=repair, max_deletes=max_deletes)
    except TooManyDeletes as error:
        fail(str(error), 1)
    record_run(app.services, report, actor="cli")
    click.echo(
        f"checked {report.checked} outputs: {len(report.missing)} missing, "
        f"{len(report.stale)} stale, {len(report.orphans)} orphans"
    )
    for label, keys in (
        ("missing", report.missing),
        ("stale", report.stale),
        ("orphan", report.orphans),
    ):
        for key in keys[:20]:
            click.echo(f"  {label}: {key}")
    if report.repaired:
        click.echo("repaired")
    elif not report.clean:
        click.echo("run with --repair to fix")
        sys.exit(1)


@main.group(name="events")
def events_group() -> None:
    """List, retry and prune outbox events."""


@events_group.command(name="list")
@click.option("--failed", is_flag=True, help="Only failed events.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1))
@pass_app
def events_list(app: App, failed: bool, limit: int) -> None:
    """Events, newest first, with their status and error."""
    from sqlalchemy import select as sql_select

    from pipeline.events.models import Event

    query = sql_select(Event).order_by(Event.id.desc()).limit(limit)
    if failed:
        query = query.where(Event.status == EventStatus.FAILED)
    with db.transaction(app.services.sessions) as session:
        for event in session.scalars(query):
            line = (
                f"{event.id}  {event.kind:<9} article {event.article_id or '-':<6} "
                f"v{event.article_version:<3} {event.status:<10} attempts {event.attempts}"
            )
            click.echo(line + (f"  {event.error}" if event.error else ""))


@events_group.command(name="retry")
@click.argument("event_id", type=int)
@pass_app
def events_retry(app: App, event_id: int) -> None:
    """Send a failed (or stuck) event again, with a fresh count of tries."""
    try:
        with outbox.writing(app.services.sessions) as written:
            outbox.send_again(written.session, event_id)
    except outbox.NoSuchEvent as error:
        fail(str(error), EXIT_NOT_FOUND)
    except outbox.AlreadyLive as error:
        fail(str(error), EXIT_BAD_INPUT)
    report_outcome(written.outcome)


@events_group.command(name="prune")
@click.option("--older-than", "days", required=True, type=click.IntRange(1), help="Days.")
@pass_app
def events_prune(app: App, days: int) -> None:
    """Delete finished events older than DAYS (keeping what ops and provenance need)."""
    from pipeline.events.retention import prune_events

    click.echo(f"pruned {prune_events(app.services, days)} events")


@main.command()
@click.argument("slug")
@click.option("--explain", is_flag=True, help="Show the score and shared terms of each one.")
@pass_app
def related(app: App, slug: str, explain: bool) -> None:
    """List an article's "More like this" rail."""
    slug = _checked_slug(slug)
    with db.transaction(app.services.sessions) as session:
        article = session.scalar(select(Article).where(Article.slug == slug))
        if article is None:
            fail(f"no article with slug {slug!r}", EXIT_NOT_FOUND)
        for entry in app.services.related.rail(session, article.id):
            neighbour = session.get(Article, entry.neighbour_id)
            assert neighbour is not None
            line = f"{neighbour.slug}  {neighbour.title}"
            if explain:
                line += f"\n    score {entry.score:.3f}  shared: {', '.join(entry.terms)}"
            click.echo(line)


def _moment(value: str | None) -> datetime | None:
    """An ISO 8601 date-time option (without an offset: UTC)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--until {value!r}: must be an ISO 8601 date-time such as 2026-08-31T22:00:00Z")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@main.command()
@click.option("--articles", "count", default=300, show_default=True, type=click.IntRange(1))
@click.option("--serve", is_flag=True, help="Then serve the site on http://127.0.0.1:PORT.")
@click.option("--port", default=DEMO_PORT, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--until",
    metavar="DATETIME",
    help="Date the articles over the six months before this moment (default: today, 00:00 UTC).",
)
@pass_app
def demo(app: App, count: int, serve: bool, port: int, until: str | None) -> None:
    """Publish a generated sample newsroom through the event path, and optionally serve it."""
    from rich.console import Console
    from rich.progress import Progress

    from pipeline.cli.demo import publish_demo, serve_forever, site_server
    from pipeline.cli.ports import PortTaken

    # Today's midnight, not this second: a second `make demo` the same day republishes the
    # same articles (no moves), and the newest stories are still yesterday evening's.
    newest = _moment(until) or utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    server = None
    if serve:  # before publishing: a taken port is said at once, not after the whole demo
        try:
            server = site_server(app.settings, port)
        except PortTaken as error:
            fail(f"{error} (choose another with --port, or `make demo PORT={port + 1}`)")
    services = app.services  # a configuration mistake is said before the bar is drawn
    # On stderr, and only in a terminal: stdout stays the summary alone, for scripts.
    console = Console(stderr=True)
    with Progress(console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("demo: publishing", total=count)
        summary = publish_demo(
            services, count, until=newest, on_published=lambda: bar.advance(task)
        )
    click.echo(
        f"demo: {summary.articles} articles, {summary.written} objects written, "
        f"{summary.seconds:.1f} s, site in {app.services.storage.describe()}"
    )
    if server is not None:
        serve_forever(server)


main.add_command(api_command)
main.add_command(tokens_group)
main.add_command(navigation_command)
for _command in (publish, unpublish, status):
    add_api_switch(_command)
