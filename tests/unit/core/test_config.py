"""Settings from the environment."""

from __future__ import annotations

import pytest

from pipeline.config import ConfigError, Settings


def test_defaults_are_the_embedded_stack() -> None:
    settings = Settings.from_env({})
    assert settings.database_url.startswith("sqlite")
    assert settings.storage_url == "file://./public"
    assert settings.eager


def test_environment_overrides_and_masks_secrets() -> None:
    settings = Settings.from_env(
        {
            "PRESSRUN_BROKER_URL": "redis://:hunter2@redis:6379/0",
            "PRESSRUN_PAGE_SIZE": "10",
            "PRESSRUN_RELATED_RECENCY_WEIGHT": "0",
        }
    )
    assert settings.page_size == 10
    assert settings.related_recency_weight == 0.0
    assert not settings.eager
    assert "hunter2" not in str(settings.masked())


@pytest.mark.parametrize(("name", "value"), [("PAGE_SIZE", "0"), ("PAGE_SIZE", "x"),
                                             ("RELATED_RECENCY_WEIGHT", "-1")])  # fmt: skip
def test_bad_values_are_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"PRESSRUN_{name}"):
        Settings.from_env({f"PRESSRUN_{name}": value})
