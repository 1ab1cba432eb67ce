"""Structured logs: one JSON line per event stage, with the fields ops search on."""

from __future__ import annotations

import json
import logging

import pytest

from pipeline.observe.logs import JsonFormatter
from tests.conftest import Newsroom


def test_each_stage_of_an_event_is_logged_with_its_fields(
    newsroom: Newsroom, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="pressrun"):
        outcome = newsroom.publish(slug="logged")
    lines = [
        json.loads(JsonFormatter().format(record))
        for record in caplog.records
        if getattr(record, "event_id", None) == outcome.event_id
    ]
    assert [line["stage"] for line in lines] == ["started", "rendered", "live"]
    for line in lines:
        assert line["kind"] == "publish"
        assert line["article_id"] == 1
        assert line["version"] == 1
        assert line["duration_ms"] >= 0
        assert line["worker"]
        assert line["level"] == "info"
    assert lines[-1]["outputs"] > 0
