"""`pressrun import` reads its file a batch at a time (an archive is never held in memory
whole) and loads the batches in one transaction: a bad line after batches were loaded still
imports nothing, and a good file imports every line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, func, select

from pipeline.cli import importer
from pipeline.cli.main import main
from pipeline.content.models import Article


@pytest.fixture(autouse=True)
def batches_of_two(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importer, "IMPORT_BATCH", 2)


def story(number: int, **changes: object) -> dict[str, object]:
    return {
        "id": f"wire-{number}",
        "slug": f"story-{number}",
        "title": f"Story number {number}",
        "body": "Harbour council approved the ferry subsidy.",
        "section": "world",
        "published_at": f"2024-05-{number + 1:02d}T09:00:00Z",
        **changes,
    }


def run_import(root: Path, lines: list[str]) -> Result:
    (root / "archive.jsonl").write_text("".join(f"{line}\n" for line in lines))
    env = {
        "PRESSRUN_DATABASE_URL": f"sqlite:///{root / 'pressrun.db'}",
        "PRESSRUN_STORAGE_URL": f"file://{root / 'site'}",
    }
    return CliRunner().invoke(main, ["import", str(root / "archive.jsonl")], env=env)


def articles_in(root: Path) -> int:
    engine = create_engine(f"sqlite:///{root / 'pressrun.db'}")
    try:
        with engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(Article)) or 0)
    finally:
        engine.dispose()


def test_a_bad_line_after_loaded_batches_imports_nothing(tmp_path: Path) -> None:
    lines = [json.dumps(story(number)) for number in range(5)] + ['{"title": "Broken", ']
    result = run_import(tmp_path, lines)
    assert result.exit_code != 0
    assert "archive.jsonl:6: malformed JSON" in result.output
    assert articles_in(tmp_path) == 0


def test_an_id_repeated_in_a_later_batch_imports_nothing(tmp_path: Path) -> None:
    lines = [json.dumps(story(number)) for number in range(4)]
    lines.append(json.dumps(story(1, slug="another-slug")))
    result = run_import(tmp_path, lines)
    assert result.exit_code != 0
    assert "the same id appears on more than one line" in result.output
    assert articles_in(tmp_path) == 0


def test_every_batch_of_a_good_file_is_imported_and_counted(tmp_path: Path) -> None:
    lines = [json.dumps(story(number, source="wire")) for number in range(5)]
    result = run_import(tmp_path, [*lines[:2], "", *lines[2:]])
    assert result.exit_code == 0, result.output
    assert "imported 5 articles" in result.output
    assert "ignored fields: source" in result.output
    assert articles_in(tmp_path) == 5
    assert (tmp_path / "site" / "world" / "2024" / "05" / "05" / "story-4" / "index.html").exists()
