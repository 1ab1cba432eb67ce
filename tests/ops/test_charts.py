"""SVG charts drawn on the server: scales, gaps, dots, round-time ticks, stacked bars."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.api.ops.charts import (
    HEIGHT,
    LEFT,
    TOP,
    WIDTH,
    latency_chart,
    nice_ceiling,
    throughput_chart,
)
from pipeline.api.ops.formatting import age, duration, precise, rate
from pipeline.api.ops.queries import Point
from pipeline.api.ops.view_models import Percentiles

START = datetime(2025, 3, 4, 13, 50, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "ceiling"),
    [(0, 1.0), (0.0007, 0.001), (0.9, 1.0), (1.0, 1.0), (1.2, 2.0), (2.4, 2.5), (3, 5.0),
     (7.5, 10.0), (12, 20.0), (250, 250.0)],
)  # fmt: skip
def test_nice_ceiling(value: float, ceiling: float) -> None:
    assert nice_ceiling(value) == pytest.approx(ceiling)


def point(bucket: int, p50: float, p95: float, p99: float) -> Point:
    return Point(bucket, Percentiles(10, p50, p95, p99))


def test_lines_join_neighbouring_buckets_and_leave_gaps() -> None:
    points = [point(0, 0.2, 0.4, 0.5), point(1, 0.3, 0.6, 0.9), point(4, 0.1, 0.2, 0.3)]
    chart = latency_chart("t", points, START, timedelta(minutes=1), 15, 5)
    assert not chart.empty
    p50 = next(line for line in chart.lines if line.name == "p50")
    assert p50.path.count("M") == 1
    assert p50.path.count("L") == 1
    assert len(p50.dots) == 1  # bucket 4 has no neighbour
    assert [tick.label for tick in chart.y_ticks] == ["0", "500 ms", "1.00 s"]
    for line in chart.lines:
        for x, y in line.dots:
            assert LEFT <= x <= WIDTH
            assert TOP <= y <= HEIGHT


def test_ticks_fall_on_round_times() -> None:
    chart = latency_chart("t", [], START - timedelta(minutes=3), timedelta(minutes=1), 15, 5)
    assert chart.empty
    assert [tick.label for tick in chart.x_ticks] == ["13:50", "13:55", "14:00"]
    day = latency_chart("t", [], START.replace(minute=30), timedelta(minutes=30), 48, 12)
    assert [tick.label for tick in day.x_ticks] == ["18:00", "00:00", "06:00", "12:00"]
    assert day.x_ticks[0].anchor == "middle"


def test_bars_stack_live_failed_and_unfinished() -> None:
    chart = throughput_chart(
        "t", [(0, "live", 6), (0, "failed", 2), (0, "started", 1), (0, "rendered", 1),
              (59, "live", 3), (60, "live", 99)], START, 60, 15,
    )  # fmt: skip
    first = [bar for bar in chart.bars if bar.label.startswith("13:50")]
    assert [bar.kind for bar in first] == ["live", "failed", "other"]
    assert first[0].y > first[1].y > first[2].y  # stacked upwards
    assert first[2].label == "13:50: 2 unfinished"
    assert max(bar.y + bar.height for bar in chart.bars) <= HEIGHT
    assert [tick.label for tick in chart.y_ticks][-1] == "10"
    assert all(bar.label[:5] != "14:50" for bar in chart.bars)  # outside the hour: dropped


def test_formats() -> None:
    assert [duration(value) for value in (None, 0.0004, 0.25, 1.234, 42.0, 125, 7260, 200_000)] == [
        "\N{EN DASH}", "<1 ms", "250 ms", "1.23 s", "42.0 s", "2 min 5 s", "2 h 1 min", "2 d 7 h",
    ]  # fmt: skip
    assert age(START - timedelta(seconds=30.4), START) == "30 s ago"
    assert age(START - timedelta(minutes=3), START) == "3 min ago"
    assert age(None, START) == "never"
    assert precise(START.replace(microsecond=123456)) == "2025-03-04 13:50:00.123"
    assert [rate(value) for value in (0, 0.05, 2.345, 345.6)] == ["0", "<0.1", "2.3", "346"]
