"""The command line's side of the editorial API: `pressrun api` serves it, `pressrun tokens`
manages its bearer tokens, and `--api URL` (or PRESSRUN_API_URL, with PRESSRUN_API_TOKEN)
turns `publish`, `unpublish` and `status` into clients of a remote API.

Registered by pipeline/cli/main.py, which imports this module; what both need is in
pipeline/cli/app.py.
"""

from __future__ import annotations

import functools
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
import httpx

from pipeline.api.models import Scope
from pipeline.cli.app import EXIT_BAD_INPUT, open_database, usable_settings
from pipeline.config import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.orm import sessionmaker

    from pipeline.cli.app import App

EXIT_FAILED = 1
# The server waits at most this long per request (`?wait=`); the client asks once.
WAIT_SECONDS = 30
RETRIES = 3


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    # Local, not pipeline.cli.app.fail: linters see a NoReturn only within the module.
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


# -- pressrun api -----------------------------------------------------------------------------


# Not the demo's 8000: the README's walkthrough runs the API while `make demo` serves the site.
API_PORT = 8080


@click.command(name="api")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=API_PORT, show_default=True, type=click.IntRange(1, 65535))
@click.option("--log-level", default="info", show_default=True)
@click.pass_obj
def api_command(app: App, host: str, port: int, log_level: str) -> None:
    """Serve the editorial HTTP API (docs on /docs, the spec on /openapi.json)."""
    import uvicorn

    from pipeline.api.app import create_app
    from pipeline.api.settings import ApiSettings
    from pipeline.cli.ports import PortTaken, bind

    try:
        api_settings = ApiSettings.from_env()
    except ConfigError as error:
        _fail(str(error))
    try:
        listening = bind(host, port)
    except PortTaken as error:
        _fail(f"{error} (choose another with --port)")
    with usable_settings(app.settings):
        api = create_app(app.settings, api_settings)
    config = uvicorn.Config(api, log_level=log_level.lower(), server_header=False)
    click.echo(f"pressrun api on http://{host}:{port}/ (docs on /docs; Ctrl+C to stop)", err=True)
    # The socket bound above, so that a taken port is said in one line before anything starts.
    uvicorn.Server(config).run(sockets=[listening])


# -- pressrun tokens --------------------------------------------------------------------------


def _sessions(app: App) -> sessionmaker[Any]:
    """The database alone: managing tokens must not render anything (as the first use of the
    full services would, finishing events a crashed process left)."""
    from pipeline import db

    return db.make_session_factory(open_database(app.settings))


@click.group(name="tokens")
def tokens_group() -> None:
    """Bearer tokens for the editorial API."""


@tokens_group.command(name="create")
@click.option(
    "--scope",
    required=True,
    type=click.Choice([scope.value for scope in Scope]),
    help="read < publish < admin; each includes the one before.",
)
@click.option("--sections", default="", help="Limit the token to these sections (a,b).")
@click.option("--name", default="unnamed", show_default=True, help="Who or what uses it.")
@click.pass_obj
def create_token(app: App, scope: str, sections: str, name: str) -> None:
    """Create a token; the secret is printed alone on the last line, and never again."""
    from pipeline.api import tokens
    from pipeline.content.inputs import InvalidInput
    from pipeline.db import transaction

    wanted = [part.strip() for part in sections.split(",") if part.strip()]
    try:
        with transaction(_sessions(app)) as session:
            made = tokens.create_token(session, name=name, scope=Scope(scope), sections=wanted)
            token_id, shown = made.token.id, made.token.sections
    except InvalidInput as error:
        _fail(f"--{error}")
    click.echo(f"token {token_id} ({name}): scope {scope}, sections {_sections_text(shown)}")
    click.echo("keep it now: only its hash is stored")
    click.echo(made.secret)


@tokens_group.command(name="list")
@click.pass_obj
def list_tokens(app: App) -> None:
    """Every token (the secrets are never shown again)."""
    from pipeline.api import tokens
    from pipeline.db import transaction

    with transaction(_sessions(app)) as session:
        rows = tokens.list_tokens(session)
        for token in rows:
            revoked = f"revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "active"
            click.echo(
                f"{token.id:>4}  {token.hint}…  {token.scope:<8} {revoked:<24} "
                f"sections {_sections_text(token.sections)}  {token.name}"
            )
        if not rows:
            click.echo("no tokens yet: pressrun tokens create --scope publish --name NAME")


@tokens_group.command(name="revoke")
@click.argument("token_id", type=int)
@click.pass_obj
def revoke_token(app: App, token_id: int) -> None:
    """Revoke a token by id: it stops working at once."""
    from pipeline.api import tokens
    from pipeline.db import transaction

    try:
        with transaction(_sessions(app)) as session:
            tokens.revoke_token(session, token_id)
    except tokens.TokenNotFound as error:
        _fail(str(error), EXIT_FAILED)
    click.echo(f"token {token_id} revoked")


def _sections_text(sections: list[str] | None) -> str:
    return ",".join(sections) if sections else "all"


# -- the remote client ------------------------------------------------------------------------


class RemoteApi:
    """A few calls to a pressrun API; writes carry an Idempotency-Key, so retrying them after
    a dropped connection or a 5xx is safe."""

    def __init__(self, url: str, token: str | None, client: httpx.Client | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = client or httpx.Client(base_url=url.rstrip("/"), timeout=WAIT_SECONDS + 15)
        self.client.headers.update(headers)
        self.url = url

    def call(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        if method in ("POST", "PUT"):
            options.setdefault("headers", {})["Idempotency-Key"] = uuid.uuid4().hex
        for attempt in range(RETRIES + 1):
            try:
                response = self.client.request(method, path, **options)
            except httpx.TransportError as error:
                if attempt == RETRIES:
                    _fail(f"the API at {self.url} is unreachable: {error}", EXIT_FAILED)
                time.sleep(0.5 * 2**attempt)
                continue
            if response.status_code < 500 and response.status_code != 429:
                break
            if attempt < RETRIES:
                time.sleep(float(response.headers.get("Retry-After", 0.5 * 2**attempt)))
        return _answer_of(response)

    def __enter__(self) -> RemoteApi:
        return self

    def __exit__(self, *_: object) -> None:
        self.client.close()

    def wait_for(self, event_id: int) -> dict[str, Any]:
        return self.call("GET", f"/v1/events/{event_id}", params={"wait": WAIT_SECONDS})


def _answer_of(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = {}
    if response.is_success:
        return data if isinstance(data, dict) else {"items": data}
    detail = data.get("detail") if isinstance(data, dict) else None
    message = detail or f"HTTP {response.status_code} {response.reason_phrase}"
    code = EXIT_FAILED if response.status_code == 404 or response.status_code >= 500 else None
    _fail(str(message), code or EXIT_BAD_INPUT)


def remote_publish(api: RemoteApi, file: Path) -> None:
    from pipeline.cli.importer import BadFile, read_article, read_json_object
    from pipeline.content.sanitize import derive_slug

    try:
        article = read_article(file)  # the same checks as a local publish, before any call
        data = read_json_object(file)
    except BadFile as error:
        _fail(str(error))
    if "id" in data:
        _fail(f"{file}: id: the API names articles by slug; leave `id` out (or use the webhook)")
    slug = article.slug or derive_slug(article.title)
    content = {name: value for name, value in data.items() if name != "slug"}
    answer = api.call("PUT", f"/v1/articles/{slug}", params={"publish": "true"}, json=content)
    click.echo(f"article {answer['article']['key']} (version {answer['article']['version']})")
    _report(api, answer["event"]["id"])


def remote_unpublish(api: RemoteApi, slug: str) -> None:
    answer = api.call("POST", f"/v1/articles/{slug}/unpublish")
    _report(api, answer["event"]["id"])


def _report(api: RemoteApi, event_id: int) -> None:
    event = api.wait_for(event_id)
    click.echo(f"event {event_id}: {event['status']}")
    outputs = event.get("outputs")
    if outputs:
        click.echo(
            f"objects: {outputs['written']} written, {outputs['unchanged']} unchanged, "
            f"{outputs['deleted']} deleted"
        )
    if event["status"] == "failed":
        click.echo(f"rendering failed (the change itself is saved): {event['error']}", err=True)
        sys.exit(EXIT_FAILED)
    if not event["done"]:
        click.echo(f"not live after {WAIT_SECONDS} s: follow it at {api.url}/v1/events/{event_id}")


def remote_status(api: RemoteApi) -> None:
    from rich.console import Console
    from rich.table import Table

    events = api.call("GET", "/v1/events", params={"limit": 15})["items"]
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(f"api: {api.url}")
    table = Table(title="Last events (milliseconds after accepted)")
    for column in ("id", "kind", "article", "version", "status", "accepted", "dispatched",
                   "started", "page live", "rendered", "live", "error"):  # fmt: skip
        table.add_column(column)
    for event in events:
        timings = event["timings_ms"]
        table.add_row(
            str(event["id"]), event["kind"], event["article"] or "-",
            str(event["article_version"]), event["status"], event["stages"]["accepted"][:19],
            *(f"{timings[stage]:.0f}" if timings[stage] is not None else "-"
              for stage in ("dispatched", "started", "page_live", "rendered", "live")),
            (event["error"] or "")[:60],
        )  # fmt: skip
    console.print(table)


# -- the --api switch -------------------------------------------------------------------------

REMOTE: dict[str, Callable[..., None]] = {
    "publish": lambda api, file, **_: remote_publish(api, file),
    "unpublish": lambda api, slug, **_: remote_unpublish(api, _slug_argument(slug)),
    "status": lambda api, **_: remote_status(api),
}


def _slug_argument(value: str) -> str:
    from pydantic import TypeAdapter, ValidationError

    from pipeline.content.inputs import Slug

    try:
        return str(TypeAdapter(Slug).validate_python(value))
    except ValidationError as error:
        _fail(f"slug: {error.errors()[0]['msg'].removeprefix('Value error, ')}")


def add_api_switch(command: click.Command) -> None:
    """Give a command `--api URL` (PRESSRUN_API_URL): with it, the command calls that API
    with PRESSRUN_API_TOKEN; without it, the command runs locally exactly as before."""
    remote = REMOTE[str(command.name)]
    command.params.append(
        click.Option(
            ["--api", "api_url"],
            envvar="PRESSRUN_API_URL",
            metavar="URL",
            help="Call this pressrun API (token in PRESSRUN_API_TOKEN) instead of working "
            "on the local database.",
        )
    )
    local = command.callback
    assert local is not None

    @functools.wraps(local)
    def callback(*args: Any, api_url: str | None = None, **kwargs: Any) -> Any:
        if not api_url:
            return local(*args, **kwargs)
        token = os.environ.get("PRESSRUN_API_TOKEN")
        if not token:
            _fail(
                f"{command.name} --api needs a token: set PRESSRUN_API_TOKEN "
                "(`pressrun tokens create --scope publish` makes one)"
            )
        with RemoteApi(api_url, token) as api:
            return remote(api, **kwargs)

    command.callback = callback
