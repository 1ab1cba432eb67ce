"""Publishing on the production stack: PostgreSQL, a broker, two `pressrun worker` processes
and an S3 server over HTTP, checked by reading the objects back with boto3."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from sqlalchemy import select, update

from pipeline.content import articles
from pipeline.content.inputs import parse_article
from pipeline.content.models import Article
from pipeline.db import make_engine, make_session_factory, transaction
from pipeline.events.models import Event, EventStatus
from pipeline.publish import purges
from pipeline.publish.models import ListRefresh, PendingPurge
from pipeline.schema import utcnow
from pipeline.services import create_services
from pipeline.site.outputs import Kind, OutputSpec
from pipeline.storage.s3 import CloudFrontPurger
from tests.integration.conftest import Stack, make_stack
from tests.realstack import MotoServer

pytestmark = pytest.mark.integration


def write_article(folder: Path, name: str, **fields: object) -> Path:
    data = {
        "title": "Harbour council approves ferry subsidy",
        "standfirst": "The subsidy keeps the island route open.",
        "body": "The harbour council approved the ferry subsidy.\n\nIslanders welcomed it.",
        "section": "politics",
        "tags": ["ferries", "islands"],
        "authors": ["Ann Writer"],
        "published_at": "2024-05-02T09:00:00Z",
        **fields,
    }
    path = folder / f"{name}.json"
    path.write_text(json.dumps(data))
    return path


def check_publish_update_unpublish(stack: Stack) -> None:
    stack.start_workers(2)
    result = stack.pressrun("publish", str(write_article(stack.folder, "a", slug="ferry-vote")))
    # The stage the event had reached once sent: a worker may have started it already.
    assert re.search(r"event 1: (dispatched|started|rendered|live)\n", result.stdout)
    stack.wait_quiet()
    key = "politics/2024/05/02/ferry-vote/index.html"
    page = stack.object(key)
    assert page is not None
    assert '<h1 class="headline">Harbour council approves ferry subsidy</h1>' in page["Text"]
    assert page["ContentType"] == "text/html; charset=utf-8"
    assert page["CacheControl"] == stack.settings.cache_control_long
    assert page["Metadata"]["article-versions"] == "1:1"
    assert page["Metadata"]["event-id"] == "1"
    assert len(page["Metadata"]["template-hash"]) == 16
    home = stack.object("index.html")
    assert home is not None
    assert home["CacheControl"] == stack.settings.cache_control_short
    assert "/politics/2024/05/02/ferry-vote/" in home["Text"]
    feed = stack.object("feeds/latest.xml")
    assert feed is not None
    assert feed["ContentType"] == "application/xml; charset=utf-8"
    latest = stack.object("api/latest.json")
    assert latest is not None
    assert latest["ContentType"] == "application/json; charset=utf-8"

    stack.pressrun(
        "publish",
        str(
            write_article(
                stack.folder,
                "b",
                slug="ferry-vote",
                title="Ferry subsidy approved after long debate",
            )
        ),
    )
    stack.wait_quiet()
    page = stack.object(key)
    assert page is not None
    assert "Ferry subsidy approved after long debate" in page["Text"]
    assert page["Metadata"]["article-versions"] == "1:2"
    assert "Ferry subsidy approved after long debate" in (stack.object("index.html") or {})["Text"]

    stack.pressrun("unpublish", "ferry-vote")
    stack.wait_quiet()
    assert stack.object(key) is None
    assert all("ferry-vote" not in name for name in stack.stored_keys())
    assert "ferry-vote" not in (stack.object("index.html") or {})["Text"]


def test_publish_update_unpublish_on_redis(stack: Stack) -> None:
    check_publish_update_unpublish(stack)


def test_publish_update_unpublish_on_rabbitmq(
    tmp_path: Path, database_url: str, amqp_url: str, s3_endpoint: str
) -> None:
    built = make_stack(tmp_path, database_url, amqp_url, s3_endpoint)
    built.pressrun("db", "upgrade")
    try:
        check_publish_update_unpublish(built)
    finally:
        built.stop_workers()


def test_a_burst_of_200_publishes_coalesces_list_refreshes(stack: Stack) -> None:
    stack.start_workers(2)
    services, dispatcher = stack.services, stack.dispatcher
    started = time.monotonic()
    for number in range(200):
        data, _ = parse_article(
            {
                "slug": f"burst-{number}",
                "title": f"Burst story {number}",
                "section": "business",
                "body": f"Story {number} of the burst.",
                "tags": ["markets"],
                "published_at": f"2024-06-01T{number // 60:02d}:{number % 60:02d}:00Z",
            }
        )
        with transaction(services.sessions) as session:
            change = articles.publish(session, data, actor="burst")
        dispatcher.dispatch(change.event_id)
    quiet = stack.wait_quiet(timeout=300)
    with transaction(services.sessions) as session:
        statuses = session.scalars(select(Event.status)).all()
        assert statuses.count(EventStatus.LIVE) == 200
        refreshes = session.get(ListRefresh, "section:business")
        assert refreshes is not None
        # Coalesced: fewer renders of the section's first page than publishes. (One task
        # refreshes all of an event's lists, so a refresh is short and the next one takes
        # the publishes that came meanwhile: about one refresh per two publishes here, where
        # one task per list coalesced four but finished the burst a quarter later.)
        assert refreshes.refreshes < 160
        for spec in (
            OutputSpec(Kind.HOME),
            OutputSpec(Kind.SECTION, "business"),
            OutputSpec(Kind.SECTION_PAGE, "business", 10),
            OutputSpec(Kind.FEED_LATEST),
        ):
            fresh = services.renderer.render(session, spec)
            assert fresh is not None
            stored = stack.object(spec.key)
            assert stored is not None, spec.key
            assert stored["Text"].encode() == fresh.body, spec.key
        count = session.scalar(select(Article.id).order_by(Article.id.desc()).limit(1))
    assert count == 200
    assert "Burst story 199" in (stack.object("business/index.html") or {})["Text"]
    print(
        f"\n200 publishes live in {time.monotonic() - started:.1f} s "
        f"(quiet after {quiet:.1f} s), section refreshed {refreshes.refreshes} times"
    )


def test_status_shows_queues_and_workers(stack: Stack) -> None:
    stack.start_workers(2)
    text = stack.pressrun("status").stdout
    assert "queues:   events 0, lists 0, rebuild 0" in text
    assert "workers:  2 online" in text


def test_broker_down_keeps_the_event_and_answers_quickly(stack: Stack) -> None:
    stack.env["PRESSRUN_BROKER_URL"] = "redis://127.0.0.1:1/0"
    started = time.monotonic()
    result = stack.pressrun("publish", str(write_article(stack.folder, "down")), timeout=60)
    elapsed = time.monotonic() - started
    assert elapsed < 10
    assert "will be dispatched later" in result.stdout
    services = create_services(stack.settings, migrate=False)
    with transaction(services.sessions) as session:
        event = session.scalars(select(Event)).one()
        assert event.status == EventStatus.ACCEPTED
    services.engine.dispose()


def test_missing_bucket_is_reported_and_events_fail_visibly(stack: Stack) -> None:
    stack.env["PRESSRUN_STORAGE_URL"] = "s3://no-such-bucket-here/site"
    stack.start_workers(1)
    assert "is unusable" in stack.worker_logs()
    assert "NoSuchBucket" in stack.worker_logs()
    stack.pressrun("publish", str(write_article(stack.folder, "lost")))
    stack.wait_quiet()
    status = stack.pressrun("status").stdout
    assert "failed" in status
    assert "NoSuchBucket" in status
    assert stack.object("index.html") is None


def test_db_upgrade_is_safe_from_several_processes(
    tmp_path: Path, database_url: str, redis_url: str, s3_endpoint: str
) -> None:
    built = make_stack(tmp_path, database_url, redis_url, s3_endpoint)
    processes = [
        subprocess.Popen(
            [str(Path(sys.executable).parent / "pressrun"), "db", "upgrade"],
            env=built.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(3)
    ]
    # Collect every process before asserting, so a failure leaves no pipe open.
    outcomes = [(process.communicate(timeout=60)[1], process.returncode) for process in processes]
    for errors, returncode in outcomes:
        assert returncode == 0, errors.decode()
    check = subprocess.run(
        [str(Path(sys.executable).parent / "pressrun"), "db", "upgrade"],
        env=built.env,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr


def test_wrong_credentials_are_reported_and_nothing_goes_live(
    tmp_path: Path, database_url: str, redis_url: str
) -> None:
    # moto_server checks credentials only when told to.
    strict = MotoServer(INITIAL_NO_AUTH_ACTION_COUNT="0")
    built = make_stack(tmp_path, database_url, redis_url, strict.endpoint, create_bucket=False)
    built.pressrun("db", "upgrade")
    try:
        built.start_workers(1)
        assert "is unusable" in built.worker_logs()
        assert "check the credentials" in built.worker_logs()
        built.pressrun("publish", str(write_article(built.folder, "denied")))
        built.wait_quiet()
        status = built.pressrun("status").stdout
        assert "events:   failed 1" in status
        assert "InvalidAccessKeyId" in status
        assert "live 1" not in status
    finally:
        built.stop_workers()
        strict.stop()


def cloudfront_client(endpoint: str) -> Any:
    return boto3.client(
        "cloudfront",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def create_distribution(cloudfront: Any) -> str:
    return str(
        cloudfront.create_distribution(
            DistributionConfig={
                "CallerReference": f"pressrun-{time.time_ns()}",
                "Origins": {
                    "Quantity": 1,
                    "Items": [
                        {
                            "Id": "site",
                            "DomainName": "site.s3.amazonaws.com",
                            "S3OriginConfig": {"OriginAccessIdentity": ""},
                        }
                    ],
                },
                "DefaultCacheBehavior": {
                    "TargetOriginId": "site",
                    "ViewerProtocolPolicy": "allow-all",
                    "MinTTL": 0,
                    "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                },
                "Comment": "",
                "Enabled": True,
            }
        )["Distribution"]["Id"]
    )


def invalidated_paths(cloudfront: Any, distribution: str) -> set[str]:
    summaries = cloudfront.list_invalidations(DistributionId=distribution)
    paths: set[str] = set()
    for summary in summaries["InvalidationList"].get("Items", []):
        batch = cloudfront.get_invalidation(DistributionId=distribution, Id=summary["Id"])
        paths |= set(batch["Invalidation"]["InvalidationBatch"]["Paths"]["Items"])
    return paths


def site_paths(built: Stack) -> set[str]:
    """The path of every stored object, as the CDN serves it."""
    return {
        "/" + key.removesuffix("index.html") if key.endswith("index.html") else "/" + key
        for key in built.stored_keys()
    }


def test_cdn_purge_invalidates_exactly_the_changed_paths(
    tmp_path: Path, database_url: str, redis_url: str, s3_endpoint: str
) -> None:
    cloudfront = cloudfront_client(s3_endpoint)
    distribution = create_distribution(cloudfront)
    built = make_stack(
        tmp_path, database_url, redis_url, s3_endpoint, cdn_cloudfront_distribution=distribution
    )
    built.pressrun("db", "upgrade")
    try:
        built.start_workers(1)
        built.pressrun("publish", str(write_article(built.folder, "cdn", slug="cdn-story")))
        built.wait_quiet()
        paths = invalidated_paths(cloudfront, distribution)
        assert "/politics/2024/05/02/cdn-story/" in paths
        assert "/" in paths
        assert "/feeds/latest.xml" in paths
        assert paths == site_paths(built)
    finally:
        built.stop_workers()


def test_a_failed_cdn_purge_is_kept_and_done_once_the_cdn_answers(
    tmp_path: Path, database_url: str, redis_url: str, s3_endpoint: str
) -> None:
    """The purge ran after the manifest's commit, and its failure failed the event: its
    pages were stored, a retry found nothing changed and purged nothing, and readers kept
    the cached pages. Now the event goes live and the purges wait, recorded, for the relay."""
    cloudfront = cloudfront_client(s3_endpoint)
    # CloudFront answers NoSuchDistribution to every purge of the workers.
    built = make_stack(
        tmp_path, database_url, redis_url, s3_endpoint, cdn_cloudfront_distribution="E0GONE"
    )
    built.pressrun("db", "upgrade")
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    try:
        built.start_workers(1)
        built.pressrun("publish", str(write_article(built.folder, "cdn", slug="cdn-down")))
        built.wait_quiet()
        with transaction(sessions) as session:
            assert session.scalars(select(Event.status)).all() == [EventStatus.LIVE]
            waiting = {row.path: row.error for row in session.scalars(select(PendingPurge))}
            session.execute(update(PendingPurge).values(next_attempt_at=utcnow()))
        assert set(waiting) == site_paths(built)
        assert all("NoSuchDistribution" in (error or "") for error in waiting.values())
        # The CDN answers again (here: the distribution now in front of the site).
        distribution = create_distribution(cloudfront)
        purger = CloudFrontPurger(cloudfront, distribution)
        assert purges.retry_due(purger, sessions) == len(waiting)
        assert invalidated_paths(cloudfront, distribution) == set(waiting)
        with transaction(sessions) as session:
            assert purges.backlog(session).pending == 0
    finally:
        built.stop_workers()
        engine.dispose()
