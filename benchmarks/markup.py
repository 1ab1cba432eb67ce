"""Accept and go-live time of an article body as it grows, for markup of several shapes, on the
embedded default (SQLite, a folder, tasks in process): is the work linear in the input?

Accept = parse_article (the shape check included) and the write (sanitising, the teaser text);
live = the event's task (index, rails, render, store); next = an unrelated short article
published after it, which refreshes the lists and rails that show the big one. Each shape is
published at growing sizes in a fresh site of 10 articles; the table shows the median over
rounds and the spread (lowest to highest round). The body of issue 14 (475 KB nested 19,000
deep) is refused: its row gives the time to refuse it.

    .venv/bin/python -m benchmarks.markup --rounds 3 --sizes 60 120 240
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import count
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pipeline.config import Settings
from pipeline.content import articles
from pipeline.content.inputs import InvalidInput, parse_article
from pipeline.db import transaction
from pipeline.events.processing import dispatch_event
from pipeline.services import Services, create_services
from workers.app import CeleryDispatcher, create_app

KB = 1024
_numbers = count()


def repeated(unit: str, prefix: str = "", suffix: str = "") -> Callable[[int], str]:
    def body(size: int) -> str:
        return prefix + unit * max(1, (size - len(prefix) - len(suffix)) // len(unit)) + suffix

    return body


NESTED_90 = "<blockquote>" * 90 + "<p>A quote, deep down.</p>" + "</blockquote>" * 90
SHAPES: dict[str, Callable[[int], str]] = {
    "90 deep, repeated": repeated(NESTED_90),
    "paragraphs": repeated(
        '<p>Ministers met on <b>Monday</b>; <a href="/politics/">more</a> later today.</p>'
    ),
    "one list": repeated("<li>one item of a long list</li>", "<ul>", "</ul>"),
    "one long word": repeated("a", "<p>", "</p>"),
}
ISSUE_14 = "<blockquote>" * 19_000 + "x" + "</blockquote>" * 19_000


@dataclass
class Site:
    services: Services
    dispatcher: CeleryDispatcher

    def publish(self, **fields: object) -> tuple[float, float]:
        """Seconds to accept, then to go live."""
        number = next(_numbers)
        started = time.perf_counter()
        data, _ = parse_article(
            {"slug": f"story-{number}", "title": f"Story {number}", "section": "world", **fields}
        )
        with transaction(self.services.sessions) as session:
            event_id = articles.publish(session, data, actor="bench").event_id
        accepted = time.perf_counter()
        dispatch_event(self.services, self.dispatcher, event_id)
        return accepted - started, time.perf_counter() - accepted


def fresh_site(folder: Path) -> Site:
    settings = Settings(
        database_url=f"sqlite:///{folder / 'pressrun.db'}",
        storage_url=f"file://{folder / 'site'}",
        site_url="https://news.example.com",
    )
    services = create_services(settings)
    site = Site(services, CeleryDispatcher(create_app(settings, lambda: services)))
    for _ in range(10):
        site.publish(body="A short story.\n\nIn two paragraphs.")
    return site


def measure(body: str) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as folder:
        site = fresh_site(Path(folder))
        accept, live = site.publish(body_html=body)
        _, next_live = site.publish(body="An unrelated story.")
        site.services.engine.dispose()
    return accept, live, next_live


def refusal_seconds(body: str) -> float:
    started = time.perf_counter()
    try:
        parse_article({"title": "Deep", "section": "world", "body_html": body})
    except InvalidInput:
        return time.perf_counter() - started
    raise SystemExit("the body of issue 14 was accepted")


def cell(values: list[float]) -> str:
    milliseconds = [value * 1000 for value in values]
    spread = f" ({min(milliseconds):.0f}-{max(milliseconds):.0f})" if len(values) > 1 else ""
    return f"{statistics.median(milliseconds):.0f}{spread}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[60, 120, 240], help="KB")
    options = parser.parse_args()
    table = Table(title="body_html: median ms (spread over rounds)")
    for heading in ("shape", "size", "accept", "live", "next publish live"):
        table.add_column(heading, justify="left" if heading == "shape" else "right")
    for name, make in SHAPES.items():
        for size in options.sizes:
            body = make(size * KB)
            runs = [measure(body) for _ in range(options.rounds)]
            table.add_row(
                name, f"{len(body) // KB} KB", *(cell([run[i] for run in runs]) for i in range(3))
            )
    refused = [refusal_seconds(ISSUE_14) for _ in range(options.rounds)]
    table.add_row("issue 14 (19,000 deep)", f"{len(ISSUE_14) // KB} KB", cell(refused), "refused")
    Console().print(table)


if __name__ == "__main__":
    main()
