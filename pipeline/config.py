"""Settings read once from the environment (PRESSRUN_*) and passed in explicitly."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
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
        for name, check in URL_CHECKS.items():
            if name in values:
                values[name] = check(str(values[name]))
        return cls(**values)  # type: ignore[arg-type]

    def with_site_dir(self, site_dir: str | Path, *, own_database: bool) -> Settings:
        """`--site DIR`: the storage becomes that folder and, with `own_database`, the database
        becomes `DIR.db` beside it (never inside: the folder is what gets published). A second
        site given only a folder must not add its articles to the first site's database: its
        lists would point at pages its folder does not have. The default folder keeps the
        default database, so `--site public` is the site `pressrun` builds without it."""
        folder = Path(site_dir).resolve()
        moved = replace(self, storage_url=f"file://{folder}")
        if not own_database or folder == _default_site_folder():
            return moved
        if not folder.name:
            raise ConfigError(f"--site {site_dir}: name a folder (its database goes beside it)")
        return replace(moved, database_url=f"sqlite:///{folder.with_name(folder.name + '.db')}")

    @property
    def eager(self) -> bool:
        """No broker configured: tasks run in the calling process."""
        return not self.broker_url

    def masked(self) -> dict[str, str]:
        """Effective settings with any password in a URL hidden."""
        shown = {}
        for field in fields(self):
            value = getattr(self, field.name)
            shown[field.name] = mask_url(str(value)) if value is not None else "(unset)"
        return shown


def _default_site_folder() -> Path:
    return Path(DEFAULT_STORAGE_URL.removeprefix("file://")).resolve()


# Spellings of PostgreSQL's URL that other tools (Heroku, Django, psql) write: the same
# database through the driver pressrun installs (psycopg 3).
POSTGRESQL_SCHEMES = ("postgres", "postgresql", "postgresql+psycopg")
DATABASE_SCHEMES = ("sqlite", *POSTGRESQL_SCHEMES)


def database_url(raw: str) -> str:
    """PRESSRUN_DATABASE_URL as the engine takes it: SQLite or PostgreSQL (psycopg 3)."""
    scheme, separator, rest = raw.partition("://")
    if not separator:
        raise ConfigError(
            f"PRESSRUN_DATABASE_URL={mask_url(raw)!r}: not a URL (use sqlite:///pressrun.db "
            "or postgresql://user@host/name)"
        )
    if scheme.lower() not in DATABASE_SCHEMES:
        raise ConfigError(
            f"PRESSRUN_DATABASE_URL={mask_url(raw)!r}: unsupported scheme {scheme!r} "
            "(use sqlite:///… or postgresql://…)"
        )
    if scheme.lower() in POSTGRESQL_SCHEMES:
        return f"postgresql+psycopg://{rest}"
    return raw


def _url_with_scheme(name: str, schemes: tuple[str, ...], example: str) -> Callable[[str], str]:
    def check(raw: str) -> str:
        scheme, separator, rest = raw.partition("://")
        if not separator or scheme.lower() not in schemes or not rest:
            allowed = " or ".join(f"{choice}://" for choice in schemes)
            raise ConfigError(
                f"PRESSRUN_{name.upper()}={mask_url(raw)!r}: must start with {allowed} "
                f"(e.g. {example})"
            )
        return raw

    return check


URL_CHECKS: dict[str, Callable[[str], str]] = {
    "database_url": database_url,
    "storage_url": _url_with_scheme("storage_url", ("file", "s3"), "file:///srv/site"),
    "broker_url": _url_with_scheme(
        "broker_url",
        ("redis", "rediss", "amqp", "amqps", "pyamqp", "memory"),
        "redis://127.0.0.1:6379/0",
    ),
    "site_url": _url_with_scheme("site_url", ("http", "https"), "https://news.example.com"),
    "s3_endpoint_url": _url_with_scheme(
        "s3_endpoint_url", ("http", "https"), "http://127.0.0.1:9000"
    ),
}


def _coerce(name: str, annotation: object, raw: str) -> object:
    kind = str(annotation)
    if kind.startswith("int"):
        return positive_int(f"PRESSRUN_{name.upper()}", raw)
    if kind.startswith("float"):
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"PRESSRUN_{name.upper()}={raw!r}: must be a number") from None
        if not value >= 0:  # NaN too
            raise ConfigError(f"PRESSRUN_{name.upper()}={raw!r}: must not be negative")
        return value
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


def mask_url(value: str) -> str:
    if "://" not in value or "@" not in value:
        return value
    scheme, rest = value.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else f"{scheme}://***@{host}"
