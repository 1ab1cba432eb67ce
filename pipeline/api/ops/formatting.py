"""How figures read on the dashboard (also the templates' filters)."""

from __future__ import annotations

from datetime import datetime

NONE = "\N{EN DASH}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return NONE
    if seconds < 0.001:
        return "<1 ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    if seconds < 2 * 86400:
        hours, rest = divmod(round(seconds) // 60, 60)
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    days, rest = divmod(round(seconds) // 3600, 24)
    return f"{days} d {rest} h" if rest else f"{days} d"


def age(moment: datetime | None, now: datetime) -> str:
    """`3 min ago`, to the second below a minute."""
    if moment is None:
        return "never"
    return ago((now - moment).total_seconds())


def ago(seconds: float | None) -> str:
    """`12 s ago`: whole seconds below a minute, like a person would say it."""
    if seconds is None:
        return "never"
    if seconds < 1:
        return "just now"
    return f"{round(seconds)} s ago" if seconds < 60 else f"{duration(seconds)} ago"


def clock(moment: datetime | None) -> str:
    return NONE if moment is None else f"{moment:%H:%M:%S}"


def precise(moment: datetime | None) -> str:
    """To the millisecond: stages are often a few milliseconds apart."""
    return (
        NONE if moment is None else f"{moment:%Y-%m-%d %H:%M:%S}.{moment.microsecond // 1000:03d}"
    )


def timestamp(moment: datetime | None) -> str:
    return NONE if moment is None else f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def rate(per_minute: float) -> str:
    if per_minute == 0:
        return "0"
    if per_minute < 0.1:
        return "<0.1"
    return f"{per_minute:.1f}" if per_minute < 100 else f"{per_minute:.0f}"
