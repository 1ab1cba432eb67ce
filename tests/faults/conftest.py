"""Fixtures of the fault tests: one S3 server for the session (a bucket per test), and per test
a private stack (database, redis-server, workers, beat) torn down afterwards. Each test's
figures are printed in the terminal summary, pass or fail."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.faults.harness import PG_HOST, MotoServer, Stack, build_stack, tear_down

FIGURES: list[str] = []


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    try:
        psycopg.connect(f"{PG_HOST}/postgres", connect_timeout=5).close()
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL is unreachable at {PG_HOST}: {error}")
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture
def make_stack(tmp_path: Path, moto: MotoServer) -> Iterator[Callable[..., Stack]]:
    built: list[Stack] = []

    def make(**options: Any) -> Stack:
        folder = tmp_path / f"stack-{len(built)}"
        folder.mkdir()
        stack = build_stack(folder, moto, **options)
        built.append(stack)
        return stack

    yield make
    for stack in built:
        tear_down(stack)


@pytest.fixture
def figures() -> Callable[[str], None]:
    def record(line: str) -> None:
        print(line)
        FIGURES.append(line)

    return record


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("fault tests: figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
