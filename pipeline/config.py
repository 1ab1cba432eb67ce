"""Settings read once from the environment (PRESSRUN_*) and passed in explicitly."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///pressrun.db"
DEFAULT_STORAGE_URL = "file://./public"


class ConfigError(ValueError):
    """A setting has a value pressrun cannot use."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    storage_url: str = DEFAULT_STORAGE_URL
    broker_url: str | None = None
    site_url: str = "http://127.0.0.1:8000"
    site_name: str = "The Pressrun Daily"
    # The site's language (ISO 639), as the Google News sitemap names it.
    site_language: str = "en"
    page_size: int = 20
    feed_size: int = 50
    home_size: int = 30
    rail_size: int = 10
    related_size: int = 5
    related_candidates: int = 20
    # Below this cosine score an article shares no more than a stray word: better no
    # neighbour than an unrelated one.
    related_min_score: float = 0.05
    # Recency blends into the related score: weight 0 turns it off, the half-life sets how
    # fast an older neighbour fades. Mild by default: at most 30% of a score is recency.
    related_recency_weight: float = 0.3
    related_recency_half_life_days: float = 90.0
    # Share of a related score given to sentence embeddings (pipeline/related/semantic.py; needs the
    # `pressrun[semantic]` extra). 0 = off: TF-IDF alone, and torch is never imported.
    related_semantic_weight: float = 0.0
    # Article pages change rarely (and a CDN purge follows every change): cache them long.
    # Lists, feeds and fragments change with every publish: cache them briefly.
    cache_control_long: str = "public, max-age=300, s-maxage=86400"
    cache_control_short: str = "public, max-age=30, s-maxage=60"
    s3_endpoint_url: str | None = None
    # PUTs a worker keeps in flight while it writes a build's pages (then its lists).
    s3_upload_threads: int = 8
    # Queue names are prefixed with this (several sites, or tests, on one broker).
    queue_prefix: str = ""
    # The relay re-sends an event nobody dispatched after this many seconds...
    relay_grace_seconds: int = 5
    # ...and one stuck in a stage (its worker died) after this many.
    relay_stuck_seconds: int = 60
    relay_batch: int = 500
    # A worker that starts an event takes up to this many more publishes waiting on the queue
    # and processes them together: their pages and lists rendered and written once for the
    # batch. Off (1: every event alone) until batches have been through every fault scenario.
    event_batch: int = 1
    # An event is marked failed after this many attempts (a poison article).
    max_attempts: int = 5
    # Finished events older than this are pruned by the daily beat job.
    event_retention_days: int = 30
    # How often beat runs reconcile in report mode.
    reconcile_every_seconds: int = 3600
    cdn_cloudfront_distribution: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for field in fields(cls):
            raw = env.get(f"PRESSRUN_{field.name.upper()}")
            if raw is None or raw == "":
                continue
            values[field.name] = _coerce(field.name, field.type, raw)
        return cls(**values)  # type: ignore[arg-type]

    def with_site_dir(self, site_dir: str | Path) -> Settings:
        """`--site DIR`: the storage becomes that folder; the database stays where it is."""
        return replace(self, storage_url=f"file://{Path(site_dir).resolve()}")

    @property
    def eager(self) -> bool:
        """No broker configured: tasks run in the calling process."""
        return not self.broker_url

    def masked(self) -> dict[str, str]:
        """Effective settings with any password in a URL hidden."""
        shown = {}
        for field in fields(self):
            value = getattr(self, field.name)
            shown[field.name] = _mask_url(str(value)) if value is not None else "(unset)"
        return shown


def _coerce(name: str, annotation: object, raw: str) -> object:
    kind = str(annotation)
    try:
        if kind.startswith("int"):
            number = int(raw)
            if number < 1:
                raise ValueError("must be at least 1")
            return number
        if kind.startswith("float"):
            value = float(raw)
            if value < 0:
                raise ValueError("must not be negative")
            return value
    except ValueError as error:
        raise ConfigError(f"PRESSRUN_{name.upper()}={raw!r}: {error}") from None
    return raw


def positive_int(name: str, raw: str) -> int:
    """An environment variable that must be a whole number of at least 1 (the API's and the
    dashboard's settings; the domain's own go through `_coerce`)."""
    try:
        number = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: must be a whole number") from None
    if number < 1:
        raise ConfigError(f"{name}={raw!r}: must be at least 1")
    return number


def _mask_url(value: str) -> str:
    if "://" not in value or "@" not in value:
        return value
    scheme, rest = value.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else f"{scheme}://***@{host}"
