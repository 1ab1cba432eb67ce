"""Counting the work a call does against the database: the statements it sends and the
transactions it commits, for tests that bound work structurally instead of timing it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event


@dataclass
class Work:
    statements: list[str] = field(default_factory=list)
    commits: int = 0
    # The statements sent in each committed transaction, in order.
    per_commit: list[list[str]] = field(default_factory=list)
    _open: list[str] = field(default_factory=list)

    def matching(self, fragment: str) -> list[str]:
        return [sql for sql in self.statements if fragment in sql]


@contextmanager
def counted(engine: Engine) -> Iterator[Work]:
    work = Work()

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        work.statements.append(statement)
        work._open.append(statement)

    def on_commit(_conn: Any) -> None:
        work.commits += 1
        work.per_commit.append(work._open)
        work._open = []

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", on_commit)
    try:
        yield work
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "commit", on_commit)
