"""Small charts drawn on the server as SVG geometry: they show with JavaScript off, weigh a
few hundred bytes and need no library. The templates turn a `Chart` into <svg> elements,
styled by class (the page's policy allows no inline style)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pipeline.api.ops.formatting import duration
from pipeline.api.ops.queries import Point

WIDTH, HEIGHT = 480, 200
LEFT, RIGHT, TOP, BOTTOM = 56, 10, 12, 26
PLOT_WIDTH, PLOT_HEIGHT = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM


@dataclass(frozen=True)
class Tick:
    at: float  # x or y in the viewBox
    label: str
    anchor: str = "middle"  # text-anchor: labels at the edges stay inside the chart


@dataclass(frozen=True)
class Line:
    name: str  # also its CSS class: p50, p95, p99
    path: str
    # Buckets with no neighbour to join: drawn as dots.
    dots: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    kind: str  # CSS class: live, failed, other
    label: str


@dataclass(frozen=True)
class Chart:
    title: str
    lines: tuple[Line, ...] = ()
    bars: tuple[Bar, ...] = ()
    y_ticks: tuple[Tick, ...] = ()
    x_ticks: tuple[Tick, ...] = ()
    empty: bool = True
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    bottom_edge: int = HEIGHT - BOTTOM


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times 10^k at or above `value`."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0):
        if value <= step * power * (1 + 1e-9):
            return step * power
    return 10.0 * power


def _x(position: float, buckets: int) -> float:
    return round(LEFT + position / buckets * PLOT_WIDTH, 1)


def _y(value: float, top: float) -> float:
    return round(TOP + PLOT_HEIGHT - min(value, top) / top * PLOT_HEIGHT, 1)


def _y_ticks(top: float, label: Callable[[float], str]) -> tuple[Tick, ...]:
    return tuple(
        Tick(_y(top * share, top), label(top * share) if share else "0") for share in (0, 0.5, 1)
    )


def _x_ticks(start: datetime, bucket: timedelta, buckets: int, every: int) -> tuple[Tick, ...]:
    """A tick on each round time (a multiple of `every` buckets since the epoch)."""
    step = (bucket * every).total_seconds()
    ticks = []
    for number in range(buckets + 1):
        moment = start + bucket * number
        if moment.timestamp() % step:
            continue
        x = _x(number, buckets)
        anchor = "start" if x - LEFT < 16 else "end" if WIDTH - RIGHT - x < 16 else "middle"
        ticks.append(Tick(x, f"{moment:%H:%M}", anchor))
    return tuple(ticks)


def _line(name: str, points: Sequence[tuple[int, float]], buckets: int, top: float) -> Line:
    """Consecutive buckets are joined; a gap (no event went live) breaks the line, and a
    bucket with no neighbour is a dot."""
    parts: list[str] = []
    dots: list[tuple[float, float]] = []
    for index, (number, value) in enumerate(points):
        x, y = _x(number + 0.5, buckets), _y(value, top)
        joined_before = index > 0 and points[index - 1][0] == number - 1
        joined_after = index + 1 < len(points) and points[index + 1][0] == number + 1
        if joined_before:
            parts.append(f"L{x} {y}")
        elif joined_after:
            parts.append(f"M{x} {y}")
        else:
            dots.append((x, y))
    return Line(name, " ".join(parts), tuple(dots))


def latency_chart(
    title: str, points: list[Point], start: datetime, bucket: timedelta, buckets: int, every: int
) -> Chart:
    values = [
        getattr(point.latency, name) or 0.0 for point in points for name in ("p50", "p95", "p99")
    ]
    if not points:
        return Chart(title, x_ticks=_x_ticks(start, bucket, buckets, every))
    top = nice_ceiling(max(values))
    lines = tuple(
        _line(
            name,
            [
                (point.bucket, value)
                for point in points
                if (value := getattr(point.latency, name)) is not None
            ],
            buckets,
            top,
        )
        for name in ("p99", "p95", "p50")
    )
    return Chart(
        title,
        lines=lines,
        y_ticks=_y_ticks(top, duration),
        x_ticks=_x_ticks(start, bucket, buckets, every),
        empty=False,
    )


def throughput_chart(
    title: str, counts: list[tuple[int, str, int]], start: datetime, buckets: int, every: int
) -> Chart:
    """Events accepted per minute, stacked: live, failed, still on their way."""
    per_minute: dict[int, dict[str, int]] = {}
    for number, status, count in counts:
        if not 0 <= number < buckets:
            continue  # an event accepted as the window moved on
        kind = status if status in ("live", "failed") else "other"
        slot = per_minute.setdefault(number, {})
        slot[kind] = slot.get(kind, 0) + count
    x_ticks = _x_ticks(start, timedelta(minutes=1), buckets, every)
    if not per_minute:
        return Chart(title, x_ticks=x_ticks)
    top = nice_ceiling(max(sum(slot.values()) for slot in per_minute.values()))
    width = PLOT_WIDTH / buckets
    bars = []
    for number, slot in sorted(per_minute.items()):
        base = 0
        moment = start + timedelta(minutes=number)
        for kind in ("live", "failed", "other"):
            count = slot.get(kind, 0)
            if not count:
                continue
            y_top, y_bottom = _y(base + count, top), _y(base, top)
            bars.append(
                Bar(
                    x=round(_x(number, buckets) + width * 0.1, 1),
                    y=y_top,
                    width=round(width * 0.8, 1),
                    height=round(y_bottom - y_top, 1),
                    kind=kind,
                    label=f"{moment:%H:%M}: {count} {kind if kind != 'other' else 'unfinished'}",
                )
            )
            base += count
    return Chart(
        title,
        bars=tuple(bars),
        y_ticks=_y_ticks(top, lambda value: f"{value:g}"),
        x_ticks=x_ticks,
        empty=False,
    )
