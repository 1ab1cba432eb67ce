"""/metrics figures come from the database and match it."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from pipeline.db import transaction
from pipeline.events.models import Event, EventStatus
from pipeline.observe.metrics import registry_for
from tests.conftest import Newsroom


def scrape(newsroom: Newsroom) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    text = generate_latest(registry_for(newsroom.services.sessions, lambda: {"events": 3}))
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_metrics_match_the_database(newsroom: Newsroom) -> None:
    reports = [newsroom.publish(slug=f"story-{number}") for number in range(6)]
    reports.append(newsroom.unpublish("story-2"))
    metrics = scrape(newsroom)
    with transaction(newsroom.services.sessions) as session:
        counts = dict(session.execute(select(Event.kind, func.count()).group_by(Event.kind)).all())
        live = session.scalar(select(func.count()).where(Event.status == EventStatus.LIVE))
    assert (
        metrics["pressrun_events"][(("kind", "publish"), ("status", "live"))] == counts["publish"]
    )
    assert metrics["pressrun_events"][(("kind", "unpublish"), ("status", "live"))] == 1
    histogram = metrics["pressrun_publish_to_live_seconds_count"]
    assert histogram[()] == live
    assert metrics["pressrun_publish_to_live_seconds_bucket"][(("le", "+Inf"),)] == live
    # A new article's page is stored twice: before its rail is known, then with it.
    uploaded = sum(len(r.report.written) + r.report.rewritten for r in reports if r.report)
    deleted = sum(len(r.report.deleted) for r in reports if r.report)
    assert metrics["pressrun_outputs_uploaded_total"][()] == uploaded
    assert metrics["pressrun_outputs_deleted_total"][()] == deleted
    assert metrics["pressrun_bytes_uploaded_total"][()] > 0
    assert metrics["pressrun_failed_events"][()] == 0
    assert metrics["pressrun_queue_depth"][(("queue", "events"),)] == 3
    assert metrics["pressrun_reconcile_findings"][(("finding", "missing"),)] == 0
