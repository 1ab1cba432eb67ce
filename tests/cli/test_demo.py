"""The demo end to end in a temporary folder, through the real `pressrun` console script."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ARTICLES = 30


def run(folder: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("pressrun", path=str(Path(sys.executable).parent))
    assert executable is not None
    env = {key: value for key, value in os.environ.items() if not key.startswith("PRESSRUN_")}
    env["PRESSRUN_DATABASE_URL"] = f"sqlite:///{folder / 'newsroom.db'}"
    return subprocess.run(
        [executable, "--site", str(folder / "site"), *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=check,
        timeout=300,
    )


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    result = run(folder, "demo", "--articles", str(ARTICLES))
    summary = re.search(r"demo: (\d+) articles, (\d+) objects written", result.stdout)
    assert summary is not None, result.stdout
    assert int(summary[1]) == ARTICLES
    assert int(summary[2]) > ARTICLES
    return folder


def article_pages(site: Path) -> list[Path]:
    return [
        path
        for path in site.rglob("index.html")
        if re.fullmatch(
            r"[a-z0-9-]+/\d{4}/\d{2}/\d{2}/[a-z0-9-]+", path.parent.relative_to(site).as_posix()
        )
    ]


def test_demo_builds_a_whole_site(demo_site: Path) -> None:
    site = demo_site / "site"
    assert len(article_pages(site)) == ARTICLES
    for key in ("index.html", "404.html", "static/style.css", "sitemap.xml", "feeds/latest.xml",
                "fragments/latest.html", "api/latest.json"):  # fmt: skip
        assert (site / key).is_file(), key
    sections = {path.parent.name for path in site.glob("*/feed.xml")}
    assert len(sections) >= 6
    assert len(json.loads((site / "api/latest.json").read_text())["articles"]) == ARTICLES
    assert not (site / "newsroom.db").exists()  # the database never lives inside the site


def test_the_demo_is_deterministic(demo_site: Path, tmp_path: Path) -> None:
    run(tmp_path, "demo", "--articles", str(ARTICLES))
    first = {
        p.relative_to(demo_site / "site"): p.read_bytes()
        for p in (demo_site / "site").rglob("*")
        if p.is_file()
    }
    second = {
        p.relative_to(tmp_path / "site"): p.read_bytes()
        for p in (tmp_path / "site").rglob("*")
        if p.is_file()
    }
    assert first.keys() == second.keys()
    assert [key for key in first if first[key] != second[key]] == []


def test_rebuild_of_a_consistent_site_writes_nothing(demo_site: Path) -> None:
    result = run(demo_site, "rebuild")
    assert "objects: 0 written" in result.stdout
    assert ", 0 deleted" in result.stdout


def test_unpublish_removes_the_slug_from_the_whole_site(demo_site: Path) -> None:
    page = sorted(article_pages(demo_site / "site"))[len(article_pages(demo_site / "site")) // 2]
    slug = page.parent.name
    result = run(demo_site, "unpublish", slug)
    assert "live" in result.stdout
    for path in (demo_site / "site").rglob("*"):
        assert slug not in path.as_posix()
        if path.is_file():
            assert slug not in path.read_text(encoding="utf-8"), path


def test_status_and_config_report(demo_site: Path) -> None:
    status = run(demo_site, "status").stdout
    assert "published" in status
    assert "live" in status
    config = run(demo_site, "config").stdout
    assert "storage_url = file://" in config


def test_help_lists_every_command(demo_site: Path) -> None:
    text = run(demo_site, "--help").stdout
    for command in ("demo", "publish", "unpublish", "rebuild", "status", "config", "import", "db",
                    "related"):  # fmt: skip
        assert re.search(rf"^\s+{command}\s+\S", text, re.MULTILINE), command
