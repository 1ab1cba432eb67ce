"""Settings of the ops dashboard and /metrics, read once from the environment
(PRESSRUN_OPS_*, PRESSRUN_METRICS_AUTH) like the API's own."""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from dataclasses import dataclass

from pipeline.config import ConfigError, positive_int
from pipeline.observe.metrics import STUCK_AFTER


class MetricsAuth(enum.StrEnum):
    # Prometheus convention: the scrape endpoint is open, and the network keeps it private.
    NONE = "none"
    # Any active API token of scope read or wider (`pressrun tokens create --scope read`),
    # sent as `Authorization: Bearer …` (Prometheus: `authorization: {credentials: …}`).
    TOKEN = "token"


ENV_NAMES = {
    "stuck_seconds": "PRESSRUN_OPS_STUCK_SECONDS",
    "refresh_seconds": "PRESSRUN_OPS_REFRESH_SECONDS",
    "metrics_auth": "PRESSRUN_METRICS_AUTH",
}


@dataclass(frozen=True)
class OpsSettings:
    # An event that stayed this long in one stage is listed as stuck (the same five minutes
    # as the pressrun_stuck_events metric by default).
    stuck_seconds: int = int(STUCK_AFTER.total_seconds())
    # The dashboard's script re-fetches its panels this often.
    refresh_seconds: int = 5
    metrics_auth: MetricsAuth = MetricsAuth.NONE
    # How long a dashboard login lasts (the cookie's Max-Age).
    session_seconds: int = 12 * 3600
    # The broker's queues and workers are asked again when the last answer is this old.
    broker_max_age_seconds: float = 5.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OpsSettings:
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for field, name in ENV_NAMES.items():
            raw = env.get(name, "").strip()
            if not raw:
                continue
            if field == "metrics_auth":
                try:
                    values[field] = MetricsAuth(raw.lower())
                except ValueError:
                    choices = " or ".join(repr(auth.value) for auth in MetricsAuth)
                    raise ConfigError(f"{name}={raw!r}: must be {choices}") from None
            else:
                values[field] = positive_int(name, raw)
        return cls(**values)  # type: ignore[arg-type]
