"""`pressrun demo`: a generated newsroom published through the same event path as any other."""

from __future__ import annotations

import contextlib
import functools
import http.server
import io
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO
from urllib.parse import unquote

from sqlalchemy import select

from pipeline.cli.demo_content import SECTIONS, generate_articles
from pipeline.cli.ports import PortTaken
from pipeline.config import Settings
from pipeline.content import schedule
from pipeline.content.inputs import parse_article
from pipeline.events import outbox
from pipeline.publish.models import Output
from pipeline.render.renderer import static_files
from pipeline.schema import utcnow
from pipeline.services import Services
from pipeline.site import navigation
from pipeline.site.outputs import CONTENT_TYPES


@dataclass(frozen=True)
class DemoSummary:
    articles: int
    written: int
    seconds: float


def publish_demo(
    services: Services,
    count: int,
    *,
    until: datetime | None = None,
    on_published: Callable[[], object] = lambda: None,
) -> DemoSummary:
    """Each article published as the CLI's `publish` does; `services` dispatch what they
    commit (the CLI's do). Dated over the months before `until` (the generator's own fixed
    months without it); `on_published` is called after each one (a progress bar)."""
    started = time.perf_counter()
    use_demo_navigation(services)
    written = 0
    for record in generate_articles(count, until=until):
        data, _ = parse_article(record)
        with outbox.writing(services.sessions) as change:
            schedule.save_and_publish(change.session, data, actor="demo", now=utcnow())
        outcome = change.outcome
        if outcome.report is not None:
            written += len(outcome.report.written) + len(outcome.report.deleted)
        on_published()
    return DemoSummary(count, written, time.perf_counter() - started)


def use_demo_navigation(services: Services) -> None:
    """The demo's sections in the navigation bar, unless the site already has a navigation
    of its own. Stored before the demo's first page is rendered; a site that already has
    pages gets them re-rendered with the bar (a rebuild), so no page is left without it."""
    with outbox.writing(services.sessions) as written:
        session = written.session
        if navigation.sections(session):
            return
        if session.scalar(select(Output.key).limit(1)) is None:
            navigation.set_sections(session, SECTIONS)
        else:
            navigation.change(session, SECTIONS, actor="demo")


@functools.cache
def published_suffixes() -> frozenset[str]:
    """The kinds of file the pipeline writes: its outputs' and its static files'."""
    return frozenset(CONTENT_TYPES) | {PurePosixPath(name).suffix for name in static_files()}


def site_path(root: Path, url_path: str) -> Path | None:
    """The file or folder (one with an index.html) a bucket would answer `url_path` with, or
    None for a 404. No folder is ever listed: `_previews/` would give away every preview's
    secret name. Names starting with a dot (dotfiles, `..`, half-written `.tmp-` files),
    anything a symlink leads out of the folder to, and files of a kind the pipeline never
    writes (a database kept beside the pages) are not the site."""
    root = root.resolve()
    names = [name for name in unquote(url_path).split("/") if name]
    if any(name.startswith(".") or "\\" in name or "\x00" in name for name in names):
        return None
    target = root.joinpath(*names)
    try:
        page = (target / "index.html" if target.is_dir() else target).resolve()
        published = page.is_file() and page.suffix in published_suffixes()
    # A name too long for the file system; a loop of symlinks (RuntimeError before 3.13).
    except (OSError, RuntimeError):
        return None
    return target if published and page.is_relative_to(root) else None


def _url_path(target: str) -> str:
    """A request target's path, split off as the base class splits it."""
    return target.split("?", 1)[0].split("#", 1)[0]


class SiteHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the folder like a bucket behind a CDN would: index.html and a 404 page."""

    checked: Path | None = None

    def send_head(self) -> io.BytesIO | BinaryIO | None:
        self.checked = site_path(Path(self.directory), _url_path(self.path))
        if self.checked is None:
            self.send_error(404, "File not found")
            return None
        return super().send_head()

    def translate_path(self, path: str) -> str:
        # The base class serves exactly what send_head checked (a folder keeps its trailing
        # slash: without it the base class redirects, with it it serves the index.html).
        assert self.checked is not None
        return str(self.checked) + ("/" if _url_path(path).endswith("/") else "")

    def list_directory(self, path: str | os.PathLike[str]) -> None:
        # Unreachable through send_head (a folder passes only with its index.html): kept
        # so that no other way into the base class can list one.
        self.send_error(404, "File not found")

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        page = Path(self.directory) / "404.html"
        if code != 404 or not page.exists():
            super().send_error(code, message, explain)
            return
        body = page.read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class SiteServer(http.server.ThreadingHTTPServer):
    """The demo's server, bound to its port, and the folder it serves."""

    def __init__(self, root: Path, host: str, port: int) -> None:
        super().__init__((host, port), functools.partial(SiteHandler, directory=str(root)))
        self.root = root


def site_server(settings: Settings, port: int, host: str = "127.0.0.1") -> SiteServer:
    """A server bound to the port (PortTaken if it cannot be), to serve the site's folder."""
    if not settings.storage_url.startswith("file://"):
        raise SystemExit("error: --serve serves a folder; this site is in " + settings.storage_url)
    root = Path(settings.storage_url.removeprefix("file://")).resolve()
    try:
        return SiteServer(root, host, port)
    except OSError as error:
        raise PortTaken(f"cannot listen on {host}:{port}: {error.strerror or error}") from None


def serve_forever(server: SiteServer) -> None:
    host, port = server.server_address[:2]
    with server:
        print(f"serving {server.root} on http://{host!s}:{port}/ (Ctrl+C to stop)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
