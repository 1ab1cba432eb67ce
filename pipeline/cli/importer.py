"""Reading article files: one JSON object (publish) or JSON Lines, gzip'd or not (import)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
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


# Articles read from an import file and loaded at a time: an archive of 100,000 articles is
# never held in memory whole, only this many of them.
IMPORT_BATCH = 2000


@dataclass
class ImportTally:
    """What an import file held, as far as it has been read."""

    ignored_fields: set[str] = field(default_factory=set)
    count: int = 0  # articles read so far


def read_jsonl_batches(path: Path, read: ImportTally) -> Iterator[list[ArticleInput]]:
    """The file's articles, IMPORT_BATCH at a time, each line validated as it is read; `read`
    counts them and collects the fields ignored. A bad line, or none at all, raises BadFile
    when reached: load the batches in one transaction, and one bad line imports nothing."""
    ids: set[str] = set()
    articles: list[ArticleInput] = []
    for number, line in _lines(path):
        article, unknown = _read_line(path, number, line)
        if article.id is not None:
            if article.id in ids:
                raise BadFile(f"{path}: the same id appears on more than one line")
            ids.add(article.id)
        read.count += 1
        read.ignored_fields.update(unknown)
        articles.append(article)
        if len(articles) == IMPORT_BATCH:
            yield articles
            articles = []
    if articles:
        yield articles
    if not read.count:
        raise BadFile(f"{path}: no articles in the file")


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(number, text) of each line that is not blank."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as stream:
            for number, line in enumerate(stream, start=1):
                if line.strip():
                    yield number, line
    except FileNotFoundError:
        raise BadFile(f"{path}: no such file") from None
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise BadFile(f"{path}: cannot read: {error}") from None


def _read_line(path: Path, number: int, line: str) -> tuple[ArticleInput, list[str]]:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        raise BadFile(f"{path}:{number}: malformed JSON: {error.msg}") from None
    if isinstance(data, dict) and "id" in data and not isinstance(data["id"], str):
        data["id"] = str(data["id"]) if isinstance(data["id"], int) else data["id"]
    try:
        return parse_article(data, ignore_unknown=True)
    except InvalidInput as error:
        raise BadFile(f"{path}:{number}: {error}") from None
