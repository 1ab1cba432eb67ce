""" "More like this" quality on a labelled corpus: precision@5 read from the rendered pages.

Every section is replaced by one ("news"), so the scorer cannot use the label; exact
duplicate articles (same title, same whitespace-folded body) are removed first, keeping the
earlier id; recency is off. A neighbour is relevant when its original section matches.
Precision@5 is macro-averaged over the original sections, beside an exact brute-force TF-IDF
cosine kNN over title and body for reference.

    .venv/bin/python -m benchmarks.related_quality ../shared/data/bbc-news.jsonl.gz
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from bs4 import BeautifulSoup
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from pipeline import articles
from pipeline.config import Settings
from pipeline.db import transaction
from pipeline.events import process_event
from pipeline.inputs import parse_article
from pipeline.models import Article
from pipeline.render import key_of
from pipeline.services import create_services
from pipeline.text import tokens
from workers.app import CeleryDispatcher, create_app

K = 5


def load(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as stream:
        rows = [json.loads(line) for line in stream if line.strip()]
    seen: set[tuple[str, str]] = set()
    unique = []
    for row in sorted(rows, key=lambda item: item["id"]):
        fingerprint = (row["title"], " ".join(row["body"].split()))
        if fingerprint not in seen:
            seen.add(fingerprint)
            unique.append(row)
    return unique


def scorer_rails(rows: list[dict[str, Any]], folder: Path) -> dict[str, list[str]]:
    """Import through pressrun, rebuild, and read each page's "More like this" links."""
    settings = Settings(
        database_url=f"sqlite:///{folder / 'quality.db'}",
        storage_url=f"file://{folder / 'site'}",
        related_recency_weight=0.0,
    )
    services = create_services(settings)
    dispatcher = CeleryDispatcher(create_app(settings, lambda: services))
    records = [
        parse_article(
            {
                "id": row["id"],
                "title": row["title"],
                "body": row["body"],
                "section": "news",
                "published_at": row["published_at"],
            }
        )[0]
        for row in rows
    ]
    with transaction(services.sessions) as session:
        change = articles.import_articles(session, records, actor="quality")
    process_event(services, dispatcher, change.event_id)
    rails: dict[str, list[str]] = {}
    with transaction(services.sessions) as session:
        by_path = {}
        pages = {}
        for article in session.scalars(select(Article)):
            key = key_of(article)
            by_path["/" + key.removesuffix("index.html")] = article.external_id
            pages[article.external_id] = key
    for external_id, key in pages.items():
        html = services.storage.get(key) or b""
        links = BeautifulSoup(html, "html.parser").select("#related-rail li a")
        rails[external_id] = [by_path[str(link["href"])] for link in links]
    return rails


def brute_force_rails(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Exact TF-IDF cosine kNN over title and body (sublinear tf, smoothed idf)."""
    bags = {row["id"]: Counter(tokens(row["title"] + " " + row["body"])) for row in rows}
    frequency = Counter(term for bag in bags.values() for term in bag)
    total = len(bags)
    idf = {term: math.log((1 + total) / (1 + count)) + 1 for term, count in frequency.items()}
    vectors = {}
    for key, bag in bags.items():
        weights = {term: (1 + math.log(count)) * idf[term] for term, count in bag.items()}
        norm = math.sqrt(sum(value * value for value in weights.values()))
        vectors[key] = {term: value / norm for term, value in weights.items()}
    postings: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for key, vector in vectors.items():
        for term, value in vector.items():
            postings[term].append((key, value))
    rails = {}
    for key, vector in vectors.items():
        scores: Counter[str] = Counter()
        for term, value in vector.items():
            for other, other_value in postings[term]:
                if other != key:
                    scores[other] += value * other_value
        rails[key] = [other for other, _ in sorted(scores.items(), key=lambda i: (-i[1], i[0]))[:K]]
    return rails


def precision(rails: dict[str, list[str]], sections: dict[str, str]) -> dict[str, float]:
    per_section: dict[str, list[float]] = defaultdict(list)
    for key, neighbours in rails.items():
        hits = sum(sections[other] == sections[key] for other in neighbours[:K])
        per_section[sections[key]].append(hits / K)
    return {name: sum(values) / len(values) for name, values in sorted(per_section.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="bbc-news.jsonl.gz (see ../shared/data)")
    options = parser.parse_args()
    rows = load(options.corpus)
    sections = {row["id"]: row["section"] for row in rows}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        ours = precision(scorer_rails(rows, Path(folder)), sections)
    seconds = time.perf_counter() - started
    exact = precision(brute_force_rails(rows), sections)
    table = Table(title=f"precision@{K}, {len(rows)} unique articles, one section, recency off")
    for column in ("section", "pressrun (from rendered pages)", "exact TF-IDF kNN"):
        table.add_column(column, justify="right")
    for name in ours:
        table.add_row(name, f"{ours[name]:.3f}", f"{exact[name]:.3f}")
    table.add_row(
        "macro average",
        f"{sum(ours.values()) / len(ours):.3f}",
        f"{sum(exact.values()) / len(exact):.3f}",
        style="bold",
    )
    Console().print(table)
    Console().print(f"pressrun import + rebuild: {seconds:.0f} s")


if __name__ == "__main__":
    main()
