"""`pressrun demo`: a generated newsroom published through the same event path as any other."""

from __future__ import annotations

import contextlib
import functools
import http.server
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline import articles
from pipeline.config import Settings
from pipeline.db import transaction
from pipeline.demo_content import generate_articles
from pipeline.events import Outcome
from pipeline.inputs import parse_article
from pipeline.services import Services


@dataclass(frozen=True)
class DemoSummary:
    articles: int
    written: int
    seconds: float


def publish_demo(services: Services, dispatch: Callable[[int], Outcome], count: int) -> DemoSummary:
    started = time.perf_counter()
    written = 0
    for record in generate_articles(count):
        data, _ = parse_article(record)
        with transaction(services.sessions) as session:
            change = articles.publish(session, data, actor="demo")
        outcome = dispatch(change.event_id)
        if outcome.report is not None:
            written += len(outcome.report.written) + len(outcome.report.deleted)
    return DemoSummary(count, written, time.perf_counter() - started)


class SiteHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the folder like a bucket behind a CDN would: index.html and a 404 page."""

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


def serve_site(settings: Settings, port: int, host: str = "127.0.0.1") -> None:
    if not settings.storage_url.startswith("file://"):
        raise SystemExit("error: --serve serves a folder; this site is in " + settings.storage_url)
    root = Path(settings.storage_url.removeprefix("file://")).resolve()
    handler = functools.partial(SiteHandler, directory=str(root))
    with http.server.ThreadingHTTPServer((host, port), handler) as server:
        print(f"serving {root} on http://{host}:{port}/ (Ctrl+C to stop)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
