"""`pressrun navigation`: show or set the sections the navigation bar on every page links to."""

from __future__ import annotations

import click

from pipeline.cli.app import App, fail, pass_app
from pipeline.content.inputs import InvalidInput
from pipeline.db import transaction
from pipeline.events import outbox
from pipeline.site import navigation


@click.command("navigation")
@click.argument("sections", required=False)
@click.option("--actor", default="cli", show_default=True, help="Who made the change.")
@pass_app
def navigation_command(app: App, sections: str | None, actor: str) -> None:
    """Show the navigation bar's sections, or set them: SECTIONS is comma-separated slugs in
    the bar's order ("politics,sport,world"). Setting them rebuilds the site (every page
    shows the bar)."""
    # main registers this command: imported here, not at the top, to import no cycle.
    from pipeline.cli.main import report_outcome, run_with_progress

    if sections is None:
        with transaction(app.services.sessions) as session:
            current = navigation.sections(session)
        click.echo(",".join(current) if current else "(no navigation bar: none set)")
        return
    try:
        slugs = navigation.parse(sections)
    except InvalidInput as error:
        fail(str(error))
    # Held back (`later`) like `pressrun rebuild`'s, to follow the rebuild with its progress.
    with outbox.writing(app.services.sessions, later=True) as written:
        before = navigation.sections(written.session)
        empty = navigation.without_articles(written.session, slugs)
        change = navigation.change(written.session, slugs, actor=actor)
    click.echo(
        f"navigation: {','.join(before) or '(none)'} -> {','.join(slugs)}; rebuilding every page"
    )
    if empty:
        # Allowed (a section is often named before its first story), but its link leads to a
        # page that does not exist until then.
        click.echo(
            f"note: no articles yet in {', '.join(empty)}: the link leads nowhere until the "
            "first one is published",
            err=True,
        )
    report_outcome(run_with_progress(app, written, change.event_id))
