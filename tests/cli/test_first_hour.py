"""A new user's first hour, through the real `pressrun` console script: a second site with its
own database, options where people put them, a port already taken, and configuration
mistakes said in one line naming the setting (exit 2, no traceback)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.ports import free_port
from tests.realstack import create_database, drop_database

EXIT_BAD_INPUT = 2


def pressrun(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`pressrun ARGS` in `cwd` with no PRESSRUN_* setting but those in `env`: the defaults a
    new user has."""
    executable = shutil.which("pressrun", path=str(Path(sys.executable).parent))
    assert executable is not None
    clean = {key: value for key, value in os.environ.items() if not key.startswith("PRESSRUN_")}
    return subprocess.run(
        [executable, *args],
        cwd=cwd,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single line a refused command prints, after checking that it is all it printed."""
    assert result.returncode == EXIT_BAD_INPUT, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def published_dates(site: Path) -> list[datetime]:
    articles = json.loads((site / "api" / "latest.json").read_text())["articles"]
    return [datetime.fromisoformat(article["published_at"]) for article in articles]


# -- --site: a second site never shares the first one's database -------------------------------


@pytest.fixture(scope="module")
def two_sites(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default site in `work/`, then a second one next to it, named after the command."""
    root = tmp_path_factory.mktemp("two-sites")
    work = root / "work"
    work.mkdir()
    first = pressrun(work, "demo", "--articles", "3")
    assert first.returncode == 0, first.stderr
    second = pressrun(work, "demo", "--articles", "2", "--site", "../second-site")
    assert second.returncode == 0, second.stderr
    return root


def test_the_second_site_has_its_own_database_beside_its_folder(two_sites: Path) -> None:
    assert (two_sites / "work" / "pressrun.db").is_file()
    assert (two_sites / "second-site.db").is_file()
    assert len(published_dates(two_sites / "work" / "public")) == 3
    assert len(published_dates(two_sites / "second-site")) == 2
    # The database never lives inside the folder that gets published.
    assert not list((two_sites / "second-site").rglob("*.db*"))


def test_the_second_site_leaves_the_first_alone(two_sites: Path) -> None:
    status = pressrun(two_sites / "work", "status")
    assert status.returncode == 0, status.stderr
    second = pressrun(two_sites / "work", "--site", "../second-site", "status")
    assert second.returncode == 0, second.stderr
    assert status.stdout != second.stdout
    config = pressrun(two_sites / "work", "config", "--site", "../second-site").stdout
    assert f"database_url = sqlite:///{two_sites / 'second-site.db'}" in config
    assert f"storage_url = file://{two_sites / 'second-site'}" in config


def test_the_default_folder_named_with_site_is_the_default_site(two_sites: Path) -> None:
    config = pressrun(two_sites / "work", "config", "--site=public").stdout
    assert "database_url = sqlite:///pressrun.db" in config


def test_a_database_set_explicitly_is_used_with_any_folder(tmp_path: Path) -> None:
    env = {"PRESSRUN_DATABASE_URL": f"sqlite:///{tmp_path / 'newsroom.db'}"}
    result = pressrun(tmp_path, "--site", "site", "demo", "--articles", "1", env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "newsroom.db").is_file()
    assert not (tmp_path / "site.db").exists()


def test_demo_articles_are_dated_up_to_now(two_sites: Path) -> None:
    now = datetime.now(UTC)
    for moment in published_dates(two_sites / "work" / "public"):
        assert now - timedelta(days=184) <= moment <= now


def test_the_demo_again_the_same_day_moves_no_article(tmp_path: Path) -> None:
    """Dated up to today's midnight, not this second: a second run republishes the same
    articles at the same URLs."""
    assert pressrun(tmp_path, "demo", "--articles", "3").returncode == 0
    pages = sorted(path.parent for path in (tmp_path / "public").glob("*/*/*/*/*/index.html"))
    again = pressrun(tmp_path, "demo", "--articles", "3")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("demo: 3 articles")  # the progress bar is not on stdout
    assert len(pages) == 3
    assert sorted(p.parent for p in (tmp_path / "public").glob("*/*/*/*/*/index.html")) == pages


# -- ports ----------------------------------------------------------------------------------------


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def test_a_taken_port_is_said_in_one_line_before_the_demo_publishes(
    tmp_path: Path, taken_port: int
) -> None:
    result = pressrun(tmp_path, "demo", "--serve", "--port", str(taken_port))
    line = one_error_line(result)
    assert f"127.0.0.1:{taken_port}" in line
    assert "--port" in line
    assert list(tmp_path.iterdir()) == []  # nothing published, not even a database


def test_a_taken_port_is_said_in_one_line_by_the_api(tmp_path: Path, taken_port: int) -> None:
    line = one_error_line(pressrun(tmp_path, "api", "--port", str(taken_port)))
    assert f"127.0.0.1:{taken_port}" in line
    assert list(tmp_path.iterdir()) == []


def test_the_demo_and_the_api_default_to_different_ports(tmp_path: Path) -> None:
    demo = pressrun(tmp_path, "demo", "--help").stdout
    api = pressrun(tmp_path, "api", "--help").stdout
    assert "default: 8000" in demo
    assert "default: 8080" in api


# -- configuration mistakes -----------------------------------------------------------------------


def nothing_listens() -> int:
    return free_port()  # bound and closed at once: free, with no server behind it


CONFIG_MISTAKES = {
    "unreachable-postgresql": (
        "PRESSRUN_DATABASE_URL",
        lambda tmp: f"postgres://postgres@127.0.0.1:{nothing_listens()}/news",
        "cannot open the database",
    ),
    "sqlite-in-a-missing-folder": (
        "PRESSRUN_DATABASE_URL",
        lambda tmp: f"sqlite:///{tmp / 'no' / 'such' / 'folder' / 'news.db'}",
        "cannot open the database",
    ),
    "database-url-not-a-url": ("PRESSRUN_DATABASE_URL", lambda tmp: "news.db", "not a URL"),
    "storage-without-a-scheme": (
        "PRESSRUN_STORAGE_URL",
        lambda tmp: str(tmp / "site"),
        "must start with file:// or s3://",
    ),
    "broker-without-a-scheme": (
        "PRESSRUN_BROKER_URL",
        lambda tmp: "127.0.0.1:6379",
        "must start with redis://",
    ),
    "page-size-not-a-number": ("PRESSRUN_PAGE_SIZE", lambda tmp: "twenty", "whole number"),
}


@pytest.mark.parametrize("command", [["status"], ["demo", "--articles", "1"], ["tokens", "list"],
                                     ["db", "upgrade"]])  # fmt: skip
@pytest.mark.parametrize("mistake", sorted(CONFIG_MISTAKES))
def test_a_configuration_mistake_is_one_line_naming_the_setting(
    tmp_path: Path, mistake: str, command: list[str]
) -> None:
    setting, value, said = CONFIG_MISTAKES[mistake]
    result = pressrun(tmp_path, *command, env={setting: value(tmp_path)})
    line = one_error_line(result)
    assert setting in line
    assert said in line


def test_the_api_with_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    url = f"postgres://postgres@127.0.0.1:{nothing_listens()}/news"
    result = pressrun(
        tmp_path, "api", "--port", str(free_port()), env={"PRESSRUN_DATABASE_URL": url}
    )
    line = one_error_line(result)
    assert "PRESSRUN_DATABASE_URL" in line


def test_a_postgresql_url_spelled_postgres_is_accepted(tmp_path: Path) -> None:
    url = create_database("pressrun_first_hour")
    try:
        spelled = url.replace("postgresql://", "postgres://", 1)
        assert spelled.startswith("postgres://")
        result = pressrun(
            tmp_path, "--site", "site", "demo", "--articles", "2",
            env={"PRESSRUN_DATABASE_URL": spelled},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert len(published_dates(tmp_path / "site")) == 2
        assert not (tmp_path / "site.db").exists()  # the database named, not one beside
    finally:
        drop_database(url)


@pytest.mark.parametrize("command", [["publish", "article.json"], ["unpublish", "some-story"],
                                     ["status"]])  # fmt: skip
def test_the_api_switch_without_a_token_names_the_setting(
    tmp_path: Path, command: list[str]
) -> None:
    (tmp_path / "article.json").write_text(
        json.dumps({"title": "A story", "body": "Text.", "section": "world"})
    )
    result = pressrun(tmp_path, *command, "--api", f"http://127.0.0.1:{nothing_listens()}")
    line = one_error_line(result)
    assert "PRESSRUN_API_TOKEN" in line
    assert f"{command[0]} --api" in line
