"""benchmarks/publish_latency.py's floor: the bare work of a publish renders and writes the
very bytes the pipeline stored, and the report has a column for every stage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console

from benchmarks.publish_latency import (
    STAGES,
    Floor,
    FolderWriter,
    Run,
    affected,
    floor_table,
    measure,
    primitives,
    stage_table,
)
from pipeline.content.inputs import parse_article
from pipeline.services import Services
from tests.conftest import Newsroom, article_data


def test_the_floor_writes_the_bytes_the_pipeline_stored(
    newsroom: Newsroom, services: Services, tmp_path: Path
) -> None:
    for _ in range(3):
        newsroom.publish()
    outcome = newsroom.publish(section="business", tags=["markets"])
    work = affected(services, outcome.event_id)
    assert work.page in work.every
    assert len(work.every) > 1
    floor = Floor(services, FolderWriter(tmp_path / "floor"))
    try:
        assert floor.article_page(work.page) >= 0
        assert floor.every_object(work.every) >= 0
    finally:
        floor.close()
    for spec in work.every:
        assert (tmp_path / "floor" / spec.key).read_bytes() == services.storage.get(spec.key)
    parts = primitives(services, floor.write, None, work, samples=2)
    assert set(parts) == {
        "10-latest query", "article page render", "related query (the article's neighbours)",
        "30 KB write", "transaction (SELECT 1, COMMIT)",
    }  # fmt: skip
    assert all(len(times) == 2 for times in parts.values())


def test_a_run_reports_every_stage_beside_the_floor(
    newsroom: Newsroom, services: Services, tmp_path: Path
) -> None:
    newsroom.publish()
    start = datetime(2030, 1, 1, tzinfo=UTC)
    inputs = [
        parse_article(article_data(published_at=(start + timedelta(minutes=n)).isoformat()))[0]
        for n in range(2)
    ]
    run = Run(1, "embedded")
    floor = Floor(services, FolderWriter(tmp_path / "floor"))
    try:
        measure(services, newsroom.dispatcher, inputs, floor, run, warm=1)
    finally:
        floor.close()
    assert len(run.floor_page) == len(run.stages["live"]) == 1
    console = Console(width=400, record=True)
    console.print(stage_table([run]))
    console.print(floor_table([run]))
    text = console.export_text()
    for stage in STAGES:
        assert stage in text
    assert "every object, writes one by one" in text
