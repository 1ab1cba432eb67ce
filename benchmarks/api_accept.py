"""Editorial API accept latency and throughput on the real stack: `pressrun api` (uvicorn, one
process) over PostgreSQL, a Redis broker, moto_server and `pressrun worker` processes.

Accept = the answer to `PUT /v1/articles/{slug}?publish=true`: the article and its outbox
event committed and the event handed to the broker (rendering goes on in the workers, on the
same machine). Each round measures sequential requests (latency) and a burst from several
clients at once (publishes accepted per second); the table shows the median over rounds and
the spread (lowest to highest round).

    .venv/bin/python -m benchmarks.api_accept --rounds 3 --requests 100 --burst 200 --clients 8
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from tests.realstack import Stack, bench_stack

WARM_UP = 10
_numbers = count()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def article(number: int) -> dict[str, object]:
    return {
        "title": f"Benchmark story {number}",
        "standfirst": "A story published to measure the API.",
        "body": f"Paragraph one of story {number}.\n\nParagraph two, with more words in it.",
        "section": ("politics", "business", "sport", "culture")[number % 4],
        "tags": [f"topic-{number % 10}"],
        "authors": ["Bench Writer"],
    }


def publish(client: httpx.Client) -> float:
    """One accepted publish; returns its latency in milliseconds."""
    number = next(_numbers)
    started = time.perf_counter()
    answer = client.put(
        f"/v1/articles/bench-{number}", params={"publish": "true"}, json=article(number)
    )
    elapsed = (time.perf_counter() - started) * 1000
    assert answer.status_code == 202, answer.text
    return elapsed


@dataclass
class Round:
    sequential: list[float] = field(default_factory=list)
    burst: list[float] = field(default_factory=list)
    burst_seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return len(self.burst) / self.burst_seconds


def token(stack: Stack) -> str:
    made = stack.pressrun("tokens", "create", "--scope", "publish", "--name", "bench")
    return made.stdout.splitlines()[-1]


def run_round(url: str, secret: str, options: argparse.Namespace) -> Round:
    result = Round()
    headers = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        result.sequential = [publish(client) for _ in range(options.requests)]
    clients = [
        httpx.Client(base_url=url, headers=headers, timeout=60) for _ in range(options.clients)
    ]
    share = options.burst // options.clients
    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(options.clients) as pool:
            batches = pool.map(lambda client: [publish(client) for _ in range(share)], clients)
            result.burst = [latency for batch in batches for latency in batch]
        result.burst_seconds = time.perf_counter() - started
    finally:
        for client in clients:
            client.close()
    return result


def wait_quiet(url: str, secret: str, timeout: float = 1800) -> float:
    """Seconds until the workers have made every accepted publish live."""
    started = time.monotonic()
    headers = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        while time.monotonic() - started < timeout:
            busy = [
                event
                for status in ("accepted", "dispatched", "started", "rendered")
                for event in client.get("/v1/events", params={"status": status, "limit": 1}).json()[
                    "items"
                ]
            ]
            if not busy:
                return time.monotonic() - started
            time.sleep(1)
    raise TimeoutError("events still unfinished")


def spread(values: list[float], digits: int = 0) -> str:
    return f"{min(values):.{digits}f} to {max(values):.{digits}f}"


def report(rounds: list[Round], options: argparse.Namespace) -> None:
    console = Console(width=None if sys.stdout.isatty() else 140)
    table = Table(
        title=f"Editorial API accept, real stack ({options.workers} workers, 1 API process), "
        f"{len(rounds)} rounds: median [lowest to highest round]"
    )
    for column in ("measure", "n per round", "p50", "p99", "mean"):
        table.add_column(column, justify="right")

    def latency_row(name: str, samples: list[list[float]]) -> None:
        p50 = [percentile(values, 0.5) for values in samples]
        p99 = [percentile(values, 0.99) for values in samples]
        means = [statistics.fmean(values) for values in samples]
        table.add_row(
            name,
            str(len(samples[0])),
            f"{statistics.median(p50):.1f} [{spread(p50, 1)}]",
            f"{statistics.median(p99):.1f} [{spread(p99, 1)}]",
            f"{statistics.median(means):.1f} [{spread(means, 1)}]",
        )

    latency_row("sequential accept latency (ms)", [r.sequential for r in rounds])
    latency_row(f"accept latency, {options.clients} clients (ms)", [r.burst for r in rounds])
    rates = [r.per_second for r in rounds]
    table.add_row(
        f"publishes accepted/s, {options.clients} clients",
        str(len(rounds[0].burst)),
        f"{statistics.median(rates):.0f} [{spread(rates)}]",
        "",
        "",
    )
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=100, help="sequential, per round")
    parser.add_argument("--burst", type=int, default=200, help="concurrent, per round")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="0: accept only, nothing renders")
    parser.add_argument("--drain-timeout", type=float, default=600)
    options = parser.parse_args()
    console = Console(width=None if sys.stdout.isatty() else 140)
    with (
        tempfile.TemporaryDirectory() as folder,
        bench_stack(Path(folder), redis_db=13) as stack,
    ):
        stack.start_workers(options.workers)
        # Throughput is measured here, not the per-token limit.
        api = stack.start_api("--log-level", "warning", PRESSRUN_API_RATE_PER_MINUTE=str(10**9))
        secret = token(stack)
        with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {secret}"}) as c:
            for _ in range(WARM_UP):  # connections, templates, the first pages
                publish(c)
        rounds = [run_round(api.url, secret, options) for _ in range(options.rounds)]
        report(rounds, options)
        if options.workers:
            drained = wait_quiet(api.url, secret, options.drain_timeout)
            total = sum(len(r.sequential) + len(r.burst) for r in rounds) + WARM_UP
            console.print(
                f"all {total} publishes live {drained:.0f} s after the last was accepted"
                if drained is not None
                else f"publishes still rendering after {options.drain_timeout:.0f} s"
            )
        api.stop()
        shutil.copy(api.log, Path(tempfile.gettempdir()) / "api_accept.log")


if __name__ == "__main__":
    main()
