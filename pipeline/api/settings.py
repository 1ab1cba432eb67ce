"""Settings of the API process, read once from the environment (PRESSRUN_API_*,
PRESSRUN_WEBHOOK_SECRET) next to the domain's `Settings`, and passed in explicitly."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from pipeline.config import ConfigError, positive_int

ENV_NAMES = {
    "max_body_bytes": "PRESSRUN_API_MAX_BODY_BYTES",
    "rate_per_minute": "PRESSRUN_API_RATE_PER_MINUTE",
    "anonymous_rate_per_minute": "PRESSRUN_API_ANONYMOUS_RATE_PER_MINUTE",
    "preview_seconds": "PRESSRUN_API_PREVIEW_SECONDS",
    "wait_poll_seconds": "PRESSRUN_API_WAIT_POLL_SECONDS",
    "webhook_secret": "PRESSRUN_WEBHOOK_SECRET",
}


@dataclass(frozen=True)
class ApiSettings:
    # Request bodies above this get 413 before anything parses them.
    max_body_bytes: int = 1024 * 1024
    # Requests per token per minute (counted in Redis when the broker is Redis, so for the
    # whole fleet; else per API process).
    rate_per_minute: int = 600
    # Requests per client address per minute that bring no valid token (no token, or an
    # unknown or revoked one), counted the same way.
    anonymous_rate_per_minute: int = 60
    # How long a preview link works (an S3 presigned URL is valid at most 7 days).
    preview_seconds: int = 3600
    # Unset: the webhook answers 503 (not configured) to every delivery.
    webhook_secret: str | None = None
    # A webhook delivery older (or newer) than this is refused, and its signature is
    # remembered this long, so a replay inside the window is caught.
    webhook_window_seconds: int = 300
    # An idempotency key is remembered this long.
    idempotency_seconds: int = 24 * 3600
    # `?wait=` long-polls at most this long.
    max_wait_seconds: int = 30
    # A `?wait=` on PostgreSQL wakes when the event moves (NOTIFY) and reads it again this
    # often besides, in case a notification was lost. Without NOTIFY (SQLite, or while the
    # listening connection is down) it polls quickly instead.
    wait_poll_seconds: int = 2

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ApiSettings:
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for field, name in ENV_NAMES.items():
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            values[field] = raw if field == "webhook_secret" else positive_int(name, raw)
        if "preview_seconds" in values and int(str(values["preview_seconds"])) > 7 * 86400:
            raise ConfigError("PRESSRUN_API_PREVIEW_SECONDS: at most 604800 (7 days)")
        return cls(**values)  # type: ignore[arg-type]
