"""Settings from the environment."""

from __future__ import annotations

from pathlib import Path

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


@pytest.mark.parametrize(
    "spelling",
    [
        "postgres://editor:pw@db.example:5432/news",
        "postgresql://editor:pw@db.example:5432/news",
        "postgresql+psycopg://editor:pw@db.example:5432/news",
        "POSTGRES://editor:pw@db.example:5432/news",
    ],
)
def test_every_spelling_of_a_postgresql_url_is_the_driver_pressrun_installs(spelling: str) -> None:
    settings = Settings.from_env({"PRESSRUN_DATABASE_URL": spelling})
    assert settings.database_url == "postgresql+psycopg://editor:pw@db.example:5432/news"


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("DATABASE_URL", "pressrun.db", "not a URL"),
        ("DATABASE_URL", "mysql://db/news", "unsupported scheme 'mysql'"),
        ("STORAGE_URL", "/srv/site", "must start with file:// or s3://"),
        ("STORAGE_URL", "public", "must start with file:// or s3://"),
        ("STORAGE_URL", "ftp://host/site", "must start with file:// or s3://"),
        ("BROKER_URL", "localhost:6379", "must start with redis://"),
        ("SITE_URL", "news.example.com", "must start with http:// or https://"),
        ("S3_ENDPOINT_URL", "127.0.0.1:9000", "must start with http:// or https://"),
        ("PAGE_SIZE", "twenty", "must be a whole number"),
        ("RELATED_MIN_SCORE", "high", "must be a number"),
    ],
)
def test_a_malformed_setting_is_named_with_what_is_wrong(name: str, value: str, said: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({f"PRESSRUN_{name}": value})
    message = str(raised.value)
    assert message.startswith(f"PRESSRUN_{name}=")
    assert said in message
    assert "\n" not in message


def test_a_password_in_a_refused_url_is_not_repeated() -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"PRESSRUN_DATABASE_URL": "mysql://editor:hunter2@db/news"})
    assert "hunter2" not in str(raised.value)


def test_a_site_folder_brings_its_own_database_beside_it(tmp_path: Path) -> None:
    site = tmp_path / "second-site"
    settings = Settings.from_env({}).with_site_dir(site, own_database=True)
    assert settings.storage_url == f"file://{site}"
    assert settings.database_url == f"sqlite:///{tmp_path / 'second-site.db'}"


def test_a_database_set_explicitly_stays_with_the_site_folder(tmp_path: Path) -> None:
    explicit = Settings.from_env({"PRESSRUN_DATABASE_URL": "postgresql://db/news"})
    settings = explicit.with_site_dir(tmp_path / "site", own_database=False)
    assert settings.storage_url == f"file://{tmp_path / 'site'}"
    assert settings.database_url == "postgresql+psycopg://db/news"


def test_the_default_folder_keeps_the_default_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({}).with_site_dir("public", own_database=True)
    assert settings.database_url == Settings().database_url


def test_a_site_folder_without_a_name_is_refused() -> None:
    with pytest.raises(ConfigError, match="--site /: name a folder"):
        Settings.from_env({}).with_site_dir("/", own_database=True)
