"""Reading article files: one JSON object (publish) or JSON Lines, gzip'd or not (import)."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.content.inputs import ArticleInput, InvalidInput, parse_article


class BadFile(ValueError):
    """A file pressrun cannot read, with where and why."""


def read_json_object(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadFile(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise BadFile(f"{path}: not UTF-8 text") from None
    except OSError as error:
        raise BadFile(f"{path}: {error.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise BadFile(
            f"{path}: malformed JSON at line {error.lineno} column {error.colno}: {error.msg}"
        ) from None


def read_article(path: Path) -> ArticleInput:
    data = read_json_object(path)
    try:
        article, _ = parse_article(data)
    except InvalidInput as error:
        raise BadFile(f"{path}: {error}") from None
    return article


@dataclass
class ImportBatch:
    articles: list[ArticleInput] = field(default_factory=list)
    ignored_fields: set[str] = field(default_factory=set)


def read_jsonl(path: Path) -> ImportBatch:
    """Every line validated before anything is written: one bad line, nothing imported."""
    batch = ImportBatch()
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as stream:
            for number, line in enumerate(stream, start=1):
                if line.strip():
                    _read_line(batch, path, number, line)
    except FileNotFoundError:
        raise BadFile(f"{path}: no such file") from None
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise BadFile(f"{path}: cannot read: {error}") from None
    if not batch.articles:
        raise BadFile(f"{path}: no articles in the file")
    ids = [article.id for article in batch.articles if article.id is not None]
    if len(ids) != len(set(ids)):
        raise BadFile(f"{path}: the same id appears on more than one line")
    return batch


def _read_line(batch: ImportBatch, path: Path, number: int, line: str) -> None:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        raise BadFile(f"{path}:{number}: malformed JSON: {error.msg}") from None
    if isinstance(data, dict) and "id" in data and not isinstance(data["id"], str):
        data["id"] = str(data["id"]) if isinstance(data["id"], int) else data["id"]
    try:
        article, unknown = parse_article(data, ignore_unknown=True)
    except InvalidInput as error:
        raise BadFile(f"{path}:{number}: {error}") from None
    batch.articles.append(article)
    batch.ignored_fields.update(unknown)
