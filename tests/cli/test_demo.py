"""The demo end to end in a temporary folder, through the real `pressrun` console script."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pipeline.api.app import create_app
from pipeline.api.models import Scope
from pipeline.api.settings import ApiSettings
from pipeline.config import Settings
from pipeline.services import create_services
from tests.api.conftest import content, mint
from tests.ports import free_port, wait_for_port

ARTICLES = 30
# The demo dates its articles up to the moment it runs: pinned, so that two runs compare equal.
UNTIL = "2026-08-31T22:00:00Z"


def command(folder: Path, *args: str) -> tuple[list[str], dict[str, str]]:
    """`pressrun --site FOLDER/site ARGS`, and its environment (the database beside the site)."""
    executable = shutil.which("pressrun", path=str(Path(sys.executable).parent))
    assert executable is not None
    env = {key: value for key, value in os.environ.items() if not key.startswith("PRESSRUN_")}
    env["PRESSRUN_DATABASE_URL"] = f"sqlite:///{folder / 'newsroom.db'}"
    return [executable, "--site", str(folder / "site"), *args], env


def run(folder: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    argv, env = command(folder, *args)
    return subprocess.run(
        argv, cwd=folder, env=env, capture_output=True, text=True, check=check, timeout=300
    )


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    result = run(folder, "demo", "--articles", str(ARTICLES), "--until", UNTIL)
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
    run(tmp_path, "demo", "--articles", str(ARTICLES), "--until", UNTIL)
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


# -- `pressrun demo --serve`: the folder served like a bucket behind a CDN ----------------------


@dataclass(frozen=True)
class Served:
    port: int
    preview: str  # the preview's own link (its path)

    def get(self, path: str, method: str = "GET") -> http.client.HTTPResponse:
        """The answer to `path` exactly as given (no client-side normalising of `..`)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.request(method, path)
        response = connection.getresponse()
        response.read()
        connection.close()
        return response

    def body(self, path: str) -> str:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.request("GET", path)
        text = connection.getresponse().read().decode("utf-8", "replace")
        connection.close()
        return text


def make_preview(folder: Path) -> str:
    """A draft's preview made through the API, as a newsroom tool makes one: its link's path."""
    services = create_services(
        Settings(
            database_url=f"sqlite:///{folder / 'newsroom.db'}",
            storage_url=f"file://{folder / 'site'}",
        )
    )
    app = create_app(services.settings, ApiSettings(), services=services, embedded_jobs=False)
    with TestClient(app) as client:
        editor = mint(services, Scope.PUBLISH)
        draft = content(title="Embargoed scoop", published_at=...)
        assert client.put("/v1/articles/embargoed-scoop", headers=editor, json=draft).is_success
        answer = client.post("/v1/articles/embargoed-scoop/preview", headers=editor)
        assert answer.status_code == 201, answer.text
    services.engine.dispose()
    url = str(answer.json()["url"])
    return url[url.index("/_previews/") :]


def plant_private_files(folder: Path) -> None:
    """What may sit in a served folder without being the site: dotfiles, a half-written file,
    the database, symlinks to a file and a folder outside it, and a symlink loop."""
    site = folder / "site"
    (site / ".env").write_text("SECRET=hunter2\n")
    (site / ".git").mkdir()
    (site / ".git" / "config").write_text("[core]\n")
    (site / ".tmp-half.html").write_text("<p>half written</p>")
    shutil.copy(folder / "newsroom.db", site / "newsroom.db")
    (site / "newsroom.db-wal").write_bytes(b"wal")
    (folder / "outside.html").write_text("<p>outside the site</p>")
    (site / "leak.html").symlink_to(folder / "outside.html")
    (folder / "outside").mkdir()
    (folder / "outside" / "index.html").write_text("<p>outside the site</p>")
    (site / "elsewhere").symlink_to(folder / "outside", target_is_directory=True)
    (site / "loop.html").symlink_to(site / "loop.html")


@pytest.fixture(scope="module")
def served(demo_site: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("served")
    shutil.copytree(demo_site, folder, dirs_exist_ok=True)
    preview = make_preview(folder)
    plant_private_files(folder)
    port = free_port()
    demo = ("demo", "--articles", str(ARTICLES), "--until", UNTIL)
    argv, env = command(folder, *demo, "--serve", "--port", str(port))
    server = subprocess.Popen(argv, cwd=folder, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_for_port(port, timeout=240)
        yield Served(port, preview)
    finally:
        server.send_signal(signal.SIGINT)  # what Ctrl+C does: the server stops cleanly
        server.wait(30)


def test_the_demo_server_serves_the_site_and_a_preview_at_its_own_link(served: Served) -> None:
    for path in ("/", "/politics/", "/static/style.css", "/sitemap.xml", "/feeds/latest.xml"):
        assert served.get(path).status == 200, path
    assert "Embargoed scoop" in served.body(served.preview)
    folder = served.get("/politics")
    assert (folder.status, folder.getheader("Location")) == (301, "/politics/")


NEVER_SERVED = [
    "/_previews/",  # would list every preview's secret name
    "/_previews",
    "/static/",  # a folder without index.html
    "/static/demo/",
    "/.env",
    "//.env",
    "/politics/..%2f.env",
    "http://127.0.0.1/.env",  # the absolute form of a request target
    "/.git/config",
    "/.tmp-half.html",
    "/newsroom.db",
    "/newsroom.db-wal",
    "/leak.html",  # a symlink to a file outside the folder
    "/elsewhere/",  # a symlink to a folder outside it
    "/elsewhere/index.html",
    "/loop.html",  # a symlink to itself
    "/../newsroom.db",
    "/%2e%2e/newsroom.db",
    "/..%2fnewsroom.db",
    "/_previews/..%2f..%2fnewsroom.db",
    "/" + "x" * 300 + ".html",  # a name longer than the file system allows
]


@pytest.mark.parametrize("path", NEVER_SERVED)
def test_the_demo_server_lists_no_folder_and_serves_nothing_but_the_site(
    served: Served, path: str
) -> None:
    for method in ("GET", "HEAD"):
        assert served.get(path, method).status == 404, f"{method} {path}"
    page = served.body(path)
    assert "Page not found" in page  # the site's own 404 page, not a listing
    assert "Directory listing" not in page
    assert served.preview.split("/")[2] not in page
    assert "hunter2" not in page
    assert "outside the site" not in page
