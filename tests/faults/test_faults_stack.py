"""Fault scenarios on the production stack (PostgreSQL, a private redis-server, moto_server,
two `pressrun worker` processes and the beat): a mixed workload of publishes, updates, moves,
unpublishes and rolled-back changes while something breaks; once the system is quiet,
storage is checked against a fresh render of the database. Lost, stale, phantom and
resurrected must all be 0 (and orphans, and the database must hold what the workload wrote).

Counts are scaled down from the issue's to keep the suite within a few minutes on a 2-core
machine; each test names the issue's size, and `benchmarks/faults.py` runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import update

from pipeline.db import transaction
from pipeline.events.models import EventStatus
from pipeline.events.relay import relay
from pipeline.publish.models import RebuildChunk
from pipeline.schema import utcnow
from tests.faults import scenarios
from tests.faults.harness import PHANTOM_TAG, check_site, read_bucket
from tests.faults.scenarios import POISON_CRASHES, POISON_RAISES, MakeStack, Result

pytestmark = pytest.mark.integration
Figures = Callable[[str], None]


def check(result: Result, figures: Figures, failed: int = 0) -> None:
    figures(result.line)
    assert result.findings.clean, result.findings.details()
    assert len(result.findings.failed_events) == failed, result.findings.details()


def test_sigkill_a_worker_every_2_seconds(make_stack: MakeStack, figures: Figures) -> None:
    """Issue: 500 changes while a worker is SIGKILLed every 2 s. Here 60 over 16 s (a round
    is skipped while no worker has its pool up yet)."""
    result = scenarios.sigkill(make_stack, changes=60, seconds=16)
    check(result, figures)
    assert sum(result.stack.faults.values()) >= 4


def test_redis_stopped_for_20_seconds(make_stack: MakeStack, figures: Figures) -> None:
    """Issue: 200 publishes while Redis is stopped for 20 s, then started. Here 60 publishes
    over 26 s, Redis down for the same 20 s."""
    result = scenarios.redis_outage(make_stack, publishes=60, seconds=26)
    check(result, figures)
    assert result.workload.counts["dispatch failed"] > 0, "the outage touched no publish"


def test_s3_behind_a_fault_proxy(make_stack: MakeStack, figures: Figures) -> None:
    """Issue: 500 changes with S3 behind a proxy failing 20% of requests (500/503,
    connection resets) with latency. Here 60 changes over 15 s."""
    result = scenarios.s3_faults(make_stack, changes=60, seconds=15)
    check(result, figures)
    assert result.stack.proxy is not None
    assert result.stack.proxy.faults > 0


def test_50_updates_to_one_article_then_unpublish(make_stack: MakeStack, figures: Figures) -> None:
    """Issue (full size): 50 updates to one article in one second across 2 workers, then an
    unpublish: every event ends live and the article is gone from everywhere."""
    result = scenarios.burst_then_unpublish(make_stack, updates=50, seconds=1.0)
    check(result, figures)
    assert result.before is not None
    assert result.before.clean, result.before.details()
    assert result.extra["target version"] == 52  # published, 50 updates, unpublished
    assert result.extra["target events not live"] == 0
    # The checker itself: tamper with the bucket and it must see each kind of damage.
    stack, target = result.stack, result.extra["target"]
    s3, bucket = stack.s3, stack.bucket
    keys = sorted(read_bucket(s3, bucket))
    page = next(key for key in keys if key.endswith("/index.html") and key.count("/") == 5)
    s3.delete_object(Bucket=bucket, Key=f"site/{page}")
    s3.put_object(Bucket=bucket, Key="site/index.html", Body=b"<p>an older home page</p>")
    s3.put_object(Bucket=bucket, Key=f"site/politics/2024/03/01/{target}/index.html", Body=b"")
    s3.put_object(Bucket=bucket, Key=f"site/tags/{PHANTOM_TAG}/index.html", Body=b"")
    s3.put_object(Bucket=bucket, Key="site/leftover.html", Body=b"")
    findings = check_site(stack)
    assert findings.lost == [page]
    assert findings.stale == ["index.html"]
    assert findings.resurrected == [f"politics/2024/03/01/{target}/index.html"]
    assert findings.phantom == [f"tags/{PHANTOM_TAG}/index.html"]
    assert findings.orphans == ["leftover.html"]


def test_wrong_order_and_every_task_twice(make_stack: MakeStack, figures: Figures) -> None:
    """Issue (full size): an update and an unpublish delivered in the wrong order, and every
    task delivered twice. Here 9 reversed pairs and 20 more changes, everything twice."""
    check(scenarios.wrong_order_twice(make_stack, pairs=9, changes=20, seconds=6), figures)


def test_a_poison_article_fails_after_bounded_tries_and_the_rest_lands(
    make_stack: MakeStack, figures: Figures
) -> None:
    """Issue (full size): a poison article whose render crashes the worker ends failed after
    the bounded tries; everything else lands (around it, 30 changes)."""
    result = scenarios.poison(make_stack, changes=30, seconds=8)
    check(result, figures, failed=2)
    status, attempts, error = result.extra[POISON_RAISES]
    assert status == EventStatus.FAILED
    assert attempts == 1  # an error a retry cannot cure fails at once
    assert "PoisonError: cannot render poison-raises" in error
    status, attempts, error = result.extra[POISON_CRASHES]
    assert status == EventStatus.FAILED
    assert attempts == result.stack.settings.max_attempts
    assert error == "gave up after 5 attempts: none of them finished"
    assert result.extra["other events not live"] == 0


def test_a_rebuild_chunk_that_kills_its_worker_fails_the_rebuild_after_bounded_tries(
    make_stack: MakeStack, figures: Figures
) -> None:
    """A render chunk that crashes its worker on every try used to be handed back and run
    for ever (its tries were counted, never read), while the relay failed the rebuild's
    event for its re-sends. The chunk now gives up after PRESSRUN_MAX_ATTEMPTS starts and
    fails its rebuild with the reason; the relay sends nothing of a failed rebuild again."""
    result = scenarios.poison_rebuild(make_stack, publishes=6)
    check(result, figures, failed=1)
    limit = result.stack.settings.max_attempts
    status, error = result.extra["rebuild"]
    assert status == EventStatus.FAILED
    [(chunk_id, _, state, attempts)] = [c for c in result.extra["chunks"] if c[1] == "render"]
    assert (state, attempts) == ("failed", limit)
    assert error == (
        f"rebuild chunk {chunk_id} (render 0) gave up after {limit} attempts: none of them finished"
    )
    services = result.stack.services
    with transaction(services.sessions) as session:
        session.execute(
            update(RebuildChunk).values(updated_at=utcnow() - timedelta(hours=1), relayed_at=None)
        )
    report = relay(services, result.stack.dispatcher)
    assert (report.chunks, report.failed) == ([], [])


def test_postgresql_connections_killed_mid_run(make_stack: MakeStack, figures: Figures) -> None:
    """Issue: PostgreSQL connections killed mid-run (pg_terminate_backend). Here every
    connection to the test's database, every 3 s, while 60 changes go in over 15 s."""
    result = scenarios.postgres_kills(make_stack, changes=60, seconds=15)
    check(result, figures)
    assert result.stack.faults["connections terminated"] > 0


def test_rolling_deploy_with_sigterm_loses_nothing(make_stack: MakeStack, figures: Figures) -> None:
    """Issue: SIGTERM lets the running task finish or hands it back; nothing is lost in a
    rolling deploy. Here workers are replaced every few seconds during 60 changes over 16 s,
    with no relay running to make up for a lost message."""
    result = scenarios.rolling_deploy(make_stack, changes=60, seconds=16)
    check(result, figures)
    assert result.stack.faults["SIGTERM"] >= 2
    assert result.stack.faults["SIGTERM grace exceeded"] == 0
    assert result.stack.faults["pool process outlived its worker"] == 0
