"""PRESSRUN_OPS_* and PRESSRUN_METRICS_AUTH."""

from __future__ import annotations

import pytest

from pipeline.api.ops.settings import MetricsAuth, OpsSettings
from pipeline.config import ConfigError


def test_defaults_and_environment() -> None:
    assert OpsSettings.from_env({}) == OpsSettings()
    assert OpsSettings().stuck_seconds == 300
    assert OpsSettings().metrics_auth == MetricsAuth.NONE
    read = OpsSettings.from_env({"PRESSRUN_OPS_STUCK_SECONDS": "120",
                                 "PRESSRUN_OPS_REFRESH_SECONDS": "10",
                                 "PRESSRUN_METRICS_AUTH": "Token"})  # fmt: skip
    assert (read.stuck_seconds, read.refresh_seconds, read.metrics_auth) == (120, 10, "token")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [("PRESSRUN_OPS_STUCK_SECONDS", "soon", "whole number"),
     ("PRESSRUN_OPS_REFRESH_SECONDS", "0", "at least 1"),
     ("PRESSRUN_METRICS_AUTH", "basic", "'none' or 'token'")],
)  # fmt: skip
def test_bad_values_are_named(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        OpsSettings.from_env({name: value})
    assert name in str(raised.value)
