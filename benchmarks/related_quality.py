""" "More like this" quality on a labelled corpus: precision@5 read from the rendered pages.

Every section is replaced by one ("news"), so the scorer cannot use the label; exact
duplicate articles (same title, same whitespace-folded body) are removed first, keeping the
earlier id; recency is off. A neighbour is relevant when its original section matches.
Precision@5 is macro-averaged over the original sections, beside an exact brute-force TF-IDF
cosine kNN over title and body for reference.

    .venv/bin/python -m benchmarks.related_quality ../shared/data/bbc-news.jsonl.gz

With `--semantic` (needs the `pressrun[semantic]` extra) the import runs three times: TF-IDF
alone, sentence embeddings alone (weight 1) and the blend (weight 0.5), each read from its
rendered pages. Every article is encoded once and the vectors reused by the later run; the
encoding time per article is reported.

With `--compare-rails` the corpus is imported and indexed once, and every article's rail is
computed both ways a rebuild can: one neighbour query per article, and in bulk, a chunk of
articles at a time (pipeline/related/bulk.py). Prints how many rails show the same five,
precision@5 of each, and the time each took per article (`--postgresql`: on a fresh database
of the PostgreSQL at PRESSRUN_TEST_PG instead of SQLite).

    .venv/bin/python -m benchmarks.related_quality ../shared/data/bbc-news.jsonl.gz --compare-rails
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bs4 import BeautifulSoup
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from pipeline.config import Settings
from pipeline.content import articles
from pipeline.content.inputs import parse_article
from pipeline.content.models import Article
from pipeline.content.text import tokens
from pipeline.db import transaction
from pipeline.events.processing import process_event
from pipeline.publish.rebuild import CHUNK_ARTICLES, refresh_statistics
from pipeline.related import query
from pipeline.render.renderer import key_of
from pipeline.services import create_services
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


@dataclass
class SharedEncoder:
    """The model for several runs: each text encoded once, with the time that took."""

    cache: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    encoded: int = 0

    def __call__(self, texts: list[str]) -> Any:
        import numpy as np

        from pipeline.related.semantic import load_encoder

        model = load_encoder()  # loaded before the clock starts
        new = [text for text in dict.fromkeys(texts) if text not in self.cache]
        if new:
            wall, cpu = time.perf_counter(), time.process_time()
            vectors = model(new)
            self.seconds += time.perf_counter() - wall
            self.cpu_seconds += time.process_time() - cpu
            self.encoded += len(new)
            self.cache.update(zip(new, vectors, strict=True))
        return np.stack([self.cache[text] for text in texts])


def scorer_rails(
    rows: list[dict[str, Any]],
    folder: Path,
    semantic_weight: float = 0.0,
    encoder: SharedEncoder | None = None,
) -> dict[str, list[str]]:
    """Import through pressrun, rebuild, and read each page's "More like this" links."""
    settings = Settings(
        database_url=f"sqlite:///{folder / 'quality.db'}",
        storage_url=f"file://{folder / 'site'}",
        related_recency_weight=0.0,
        related_semantic_weight=semantic_weight,
    )
    services = create_services(settings)
    if semantic_weight > 0:
        from pipeline.related.semantic import SemanticScorer

        services.related.semantic = SemanticScorer(semantic_weight, encoder=encoder)
    dispatcher = CeleryDispatcher(create_app(settings, lambda: services))
    with transaction(services.sessions) as session:
        change = articles.import_articles(session, import_records(rows), actor="quality")
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
    services.engine.dispose()  # the next run gets a database of its own
    return rails


def import_records(rows: list[dict[str, Any]]) -> list[Any]:
    return [
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


@dataclass
class RailPaths:
    """Every article's rail computed one query per article and in bulk, by external id, with
    the seconds each took."""

    per_article: dict[str, list[str]] = field(default_factory=dict)
    bulk: dict[str, list[str]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def compare_rails(rows: list[dict[str, Any]], database_url: str, folder: Path) -> RailPaths:
    """Import and index the corpus, then compute each rail both ways, a chunk at a time as a
    rebuild does (rails below the score floor dropped, as stored rails)."""
    settings = Settings(
        database_url=database_url,
        storage_url=f"file://{folder / 'site'}",
        related_recency_weight=0.0,
    )
    services = create_services(settings)
    related = services.related
    with transaction(services.sessions) as session:
        articles.import_articles(session, import_records(rows), actor="quality")
    with transaction(services.sessions) as session:
        live = list(session.scalars(select(Article).order_by(Article.id)))
        external = {article.id: article.external_id for article in live}
    for start in range(0, len(live), CHUNK_ARTICLES):
        with transaction(services.sessions) as session:
            ids = [article.id for article in live[start : start + CHUNK_ARTICLES]]
            related.index_many(
                session, list(session.scalars(select(Article).where(Article.id.in_(ids))))
            )
    refresh_statistics(services, "rails")
    paths = RailPaths()
    chunks = [
        list(external)[start : start + CHUNK_ARTICLES]
        for start in range(0, len(external), CHUNK_ARTICLES)
    ]
    floor = related.tuning.min_score

    def shown(found: list[Any]) -> list[str]:
        return [external[n.article_id] for n in found if n.score >= floor]

    started = time.perf_counter()
    for chunk in chunks:
        with transaction(services.sessions) as session:
            queries = query.query_weights_many(related.store, session, chunk)
            for article_id in chunk:
                found = query.neighbours(
                    related.store, related.tuning, session, article_id, related.tuning.size,
                    queries.get(article_id, {}),
                )  # fmt: skip
                paths.per_article[external[article_id]] = shown(found)
    paths.seconds["per article"] = time.perf_counter() - started
    started = time.perf_counter()
    for chunk in chunks:
        with transaction(services.sessions) as session:
            drafts = related.draft_rails(session, chunk)
        for article_id, draft in drafts.items():
            paths.bulk[external[article_id]] = shown(draft.best)
    paths.seconds["bulk"] = time.perf_counter() - started
    services.engine.dispose()
    return paths


def print_comparison(paths: RailPaths, sections: dict[str, str]) -> None:
    same = sum(paths.bulk[key] == rail for key, rail in paths.per_article.items())
    same_set = sum(set(paths.bulk[key]) == set(rail) for key, rail in paths.per_article.items())
    count = len(paths.per_article)
    table = Table(title=f"rails computed both ways, {count} articles, recency off")
    for column in ("", "per article", "bulk", "bulk / per article"):
        table.add_column(column, justify="right")
    ratio = paths.seconds["bulk"] / paths.seconds["per article"]
    table.add_row(
        "ms per article",
        f"{1000 * paths.seconds['per article'] / count:.2f}",
        f"{1000 * paths.seconds['bulk'] / count:.2f}",
        f"{ratio:.3f}",
    )
    table.add_row(
        f"precision@{K}",
        f"{macro(precision(paths.per_article, sections)):.3f}",
        f"{macro(precision(paths.bulk, sections)):.3f}",
        "",
    )
    Console().print(table)
    Console().print(
        f"the same {K} in the same order: {same}/{count} ({100 * same / count:.2f}%); "
        f"the same {K} in any order: {same_set}/{count} ({100 * same_set / count:.2f}%)"
    )


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


def macro(scores: dict[str, float]) -> float:
    return sum(scores.values()) / len(scores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="bbc-news.jsonl.gz (see ../shared/data)")
    parser.add_argument(
        "--semantic",
        action="store_true",
        help="also embeddings alone and the 50/50 blend (needs the pressrun[semantic] extra)",
    )
    parser.add_argument(
        "--compare-rails",
        action="store_true",
        help="compute every rail one query per article and in bulk, and compare them",
    )
    parser.add_argument(
        "--postgresql",
        action="store_true",
        help="with --compare-rails: on a fresh PostgreSQL database (PRESSRUN_TEST_PG)",
    )
    options = parser.parse_args()
    rows = load(options.corpus)
    sections = {row["id"]: row["section"] for row in rows}
    if options.compare_rails:
        with tempfile.TemporaryDirectory() as folder:
            if options.postgresql:
                from tests.realstack import create_database, drop_database

                url = create_database("pressrun_quality")
                try:
                    paths = compare_rails(rows, url, Path(folder))
                finally:
                    drop_database(url)
            else:
                paths = compare_rails(rows, f"sqlite:///{Path(folder) / 'rails.db'}", Path(folder))
        print_comparison(paths, sections)
        return
    runs = {"TF-IDF": 0.0}
    if options.semantic:
        runs |= {"embeddings": 1.0, "blend 0.5": 0.5}
    encoder = SharedEncoder() if options.semantic else None
    results: dict[str, dict[str, float]] = {}
    seconds: dict[str, float] = {}
    for name, weight in runs.items():
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            rails = scorer_rails(rows, Path(folder), weight, encoder)
        results[name] = precision(rails, sections)
        seconds[name] = time.perf_counter() - started
    exact = precision(brute_force_rails(rows), sections)
    table = Table(title=f"precision@{K}, {len(rows)} unique articles, one section, recency off")
    table.add_column("section", justify="right")
    for name in runs:
        table.add_column(f"pressrun {name} (from rendered pages)", justify="right")
    table.add_column("exact TF-IDF kNN", justify="right")
    for section in exact:
        figures = [f"{results[name][section]:.3f}" for name in runs]
        table.add_row(section, *figures, f"{exact[section]:.3f}")
    figures = [f"{macro(results[name]):.3f}" for name in runs]
    table.add_row("macro average", *figures, f"{macro(exact):.3f}", style="bold")
    console = Console()
    console.print(table)
    for name, weight in runs.items():
        note = f" (semantic weight {weight})" if weight else ""
        console.print(f"pressrun import + rebuild, {name}{note}: {seconds[name]:.0f} s")
    if encoder is not None and encoder.encoded:
        console.print(
            f"encoding: {encoder.encoded} articles, "
            f"{1000 * encoder.seconds / encoder.encoded:.0f} ms per article "
            f"({1000 * encoder.cpu_seconds / encoder.encoded:.0f} ms of CPU, all threads)"
        )


if __name__ == "__main__":
    main()
