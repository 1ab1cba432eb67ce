"""Fixtures of the fault tests: one S3 server for the session (a bucket per test), and per test
a private stack (database, redis-server, workers, beat) torn down afterwards. Each test's
figures are printed in the terminal summary, pass or fail."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.faults.harness import FaultStack, fault_stacks
from tests.realstack import PG_HOST, MotoServer, admin

FIGURES: list[str] = []


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    try:
        admin().close()
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL is unreachable at {PG_HOST}: {error}")
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture
def make_stack(tmp_path: Path, moto: MotoServer) -> Iterator[Callable[..., FaultStack]]:
    with fault_stacks(tmp_path, moto) as make:
        yield make


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
