"""`pressrun publish|unpublish|status --api URL`: the CLI as a client of a remote API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pipeline.cli import remote as cli_api
from pipeline.cli.main import main
from pipeline.services import Services
from tests.api.conftest import Headers, ServerThread, content, fingerprint


def run(tmp_path: Path, *args: str, token: Headers | None = None, **env: str) -> Result:
    environment = {
        # Nothing local is used: a database that cannot even be opened.
        "PRESSRUN_DATABASE_URL": "sqlite:////nonexistent/folder/pressrun.db",
        "PRESSRUN_API_TOKEN": token["Authorization"].removeprefix("Bearer ") if token else "",
        **env,
    }
    return CliRunner().invoke(main, list(args), env=environment, catch_exceptions=False)


def article_file(tmp_path: Path, **fields: object) -> str:
    path = tmp_path / "article.json"
    path.write_text(json.dumps({**content(), "slug": "harbour", **fields}))
    return str(path)


def test_publish_unpublish_status_through_the_api(
    tmp_path: Path, served: ServerThread, editor: Headers, services: Services
) -> None:
    published = run(tmp_path, "publish", article_file(tmp_path), "--api", served.url, token=editor)
    assert published.exit_code == 0, published.output
    lines = published.output.splitlines()
    assert lines[0] == "article world/2024/11/27/harbour/index.html (version 1)"
    assert lines[1] == "event 1: live"
    assert lines[2].startswith("objects: ")
    assert services.storage.get("world/2024/11/27/harbour/index.html") is not None

    # PRESSRUN_API_URL does the same as --api.
    status = run(tmp_path, "status", token=editor, PRESSRUN_API_URL=served.url)
    assert status.exit_code == 0, status.output
    assert f"api: {served.url}" in status.output
    assert "harbour" in status.output
    assert "publish" in status.output

    gone = run(tmp_path, "unpublish", "harbour", "--api", served.url, token=editor)
    assert gone.exit_code == 0, gone.output
    assert gone.output.startswith("event 2: live")
    assert services.storage.get("world/2024/11/27/harbour/index.html") is None


def test_errors_keep_the_cli_exit_codes(
    tmp_path: Path, served: ServerThread, editor: Headers, services: Services
) -> None:
    before = fingerprint(services)
    unknown = run(tmp_path, "unpublish", "no-such-story", "--api", served.url, token=editor)
    assert unknown.exit_code == 1
    assert "no-such-story" in unknown.output
    invalid = run(tmp_path, "publish", article_file(tmp_path, title=5), "--api", served.url,
                  token=editor)  # fmt: skip
    assert invalid.exit_code == 2
    assert "title" in invalid.output
    with_id = run(tmp_path, "publish", article_file(tmp_path, id="cms-1"), "--api", served.url,
                  token=editor)  # fmt: skip
    assert with_id.exit_code == 2
    assert "id" in with_id.output
    bad_slug = run(tmp_path, "unpublish", "../x", "--api", served.url, token=editor)
    assert bad_slug.exit_code == 2
    no_token = run(tmp_path, "publish", article_file(tmp_path), "--api", served.url)
    assert no_token.exit_code == 2
    assert "token" in no_token.output
    assert fingerprint(services) == before


def test_an_unreachable_api_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_api.time, "sleep", lambda _: None)
    # A token, so that the client gets as far as the (unreachable) API.
    result = run(
        tmp_path, "unpublish", "harbour", "--api", "http://127.0.0.1:9", PRESSRUN_API_TOKEN="t"
    )
    assert result.exit_code == 1
    assert "unreachable" in result.output


def test_without_api_the_cli_works_locally(tmp_path: Path) -> None:
    env = {"PRESSRUN_DATABASE_URL": f"sqlite:///{tmp_path / 'local.db'}",
           "PRESSRUN_STORAGE_URL": f"file://{tmp_path / 'site'}"}  # fmt: skip
    result = CliRunner().invoke(main, ["publish", article_file(tmp_path)], env=env)
    assert result.exit_code == 0, result.output
    assert "event 1: live" in result.output
    assert (tmp_path / "site" / "world/2024/11/27/harbour/index.html").exists()
