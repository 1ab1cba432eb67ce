"""The shared real-stack harness (`tests/realstack.py`) itself: a private stack runs the pipeline
end to end, and leaves nothing behind: no process, no database, no broker keys."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import redis

from tests.integration.test_real_stack import write_article
from tests.realstack import (
    Stack,
    bench_stack,
    database_exists,
    database_name,
    private_stack,
)

pytestmark = pytest.mark.integration


def publish_one(stack: Stack) -> None:
    stack.pressrun("publish", str(write_article(stack.folder, "one", slug="harness-story")))
    stack.wait_quiet()
    page = stack.object("politics/2024/05/02/harness-story/index.html")
    assert page is not None
    assert "Harbour council approves ferry subsidy" in page["Text"]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_a_private_stack_publishes_and_leaves_nothing_behind(
    tmp_path: Path, s3_endpoint: str
) -> None:
    with private_stack(tmp_path, s3_endpoint, site_url="https://news.example.com") as stack:
        assert stack.redis is not None
        redis_port = stack.redis.port
        stack.start_workers(1)
        stack.start_beat()
        api = stack.start_api("--host", "127.0.0.1")
        publish_one(stack)
        processes = stack.processes()
        name = database_name(stack.settings.database_url)
        assert len(processes) == 3  # the API, the beat and the worker
    assert all(process.poll() is not None for process in processes)
    assert not database_exists(name)
    assert not listening(redis_port)
    assert not listening(api.port)


def test_a_benchmark_stack_on_the_shared_redis_deletes_its_own_keys_only(tmp_path: Path) -> None:
    with bench_stack(tmp_path, redis_db=12) as stack:
        moto_port = int((stack.direct.s3_endpoint_url or "").rsplit(":", 1)[1])
        stack.start_workers(1)
        publish_one(stack)
        broker = redis.Redis.from_url(stack.settings.broker_url or "")
        prefix = stack.settings.queue_prefix
        broker.set(f"{prefix}events-left-over", 1)
        broker.set("another-stack-events", 1)
    try:
        assert list(broker.scan_iter(match=f"*{prefix}*")) == []
        assert broker.get("another-stack-events") == b"1"
    finally:
        broker.delete("another-stack-events")
        broker.close()
    assert not listening(moto_port)
