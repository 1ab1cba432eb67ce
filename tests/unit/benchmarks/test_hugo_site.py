"""The Hugo comparison site as written to disk: no hugo binary needed (none is run)."""

from __future__ import annotations

import re
import shutil
import tomllib
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from benchmarks import hugo_site
from benchmarks.hugo_site import (
    DEBIAN_HUGO,
    HUGO_INSTALL_HINT,
    HugoError,
    article_markdown,
    markdown_text,
    parse_version,
    site_config,
    toml_string,
    write_hugo_site,
)
from pipeline.cli.demo_content import generate_articles

URL = re.compile(r"^/([a-z]+)/(\d{4})/(\d{2})/(\d{2})/([a-z0-9-]+)/$")


@pytest.fixture(scope="module")
def records() -> list[dict[str, object]]:
    return generate_articles(40)


@pytest.fixture(scope="module")
def site(records: list[dict[str, object]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hugo")
    write_hugo_site(records, folder, version=DEBIAN_HUGO)
    return folder


def front_matter(path: Path) -> tuple[dict[str, Any], str]:
    _, head, body = path.read_text().split("+++\n", 2)
    return tomllib.loads(head), body


def test_one_content_file_per_article_and_an_index_per_section(
    site: Path, records: list[dict[str, object]]
) -> None:
    articles = [path for path in site.glob("content/*/*.md") if path.name != "_index.md"]
    assert len(articles) == len(records)
    sections = {str(record["section"]) for record in records}
    assert {path.parent.name for path in site.glob("content/*/_index.md")} == sections
    per_section = Counter(str(record["section"]) for record in records)
    assert Counter(path.parent.name for path in articles) == per_section


def test_front_matter_carries_the_record(site: Path, records: list[dict[str, object]]) -> None:
    for record in records:
        meta, body = front_matter(site / "content" / f"{record['section']}/{record['slug']}.md")
        published = datetime.fromisoformat(str(record["published_at"]))
        assert meta["title"] == record["title"]
        assert meta["description"] == record["standfirst"]
        assert meta["date"] == published
        assert meta["tags"] == record["tags"]
        assert meta["authors"] == record["authors"]
        assert meta["slug"] == record["slug"]
        assert meta["desk"] == record["section"]
        assert meta["url"] == f"/{record['section']}/{published:%Y/%m/%d}/{record['slug']}/"
        assert URL.match(meta["url"])
        paragraphs = str(record["body"]).split("\n\n")
        assert body.strip().count("\n\n") == len(paragraphs) - 1


def test_config_for_debian_hugo(site: Path) -> None:
    config = tomllib.loads((site / "hugo.toml").read_text())
    assert config["paginate"] == 20
    assert config["taxonomies"] == {"tag": "tags"}
    assert "theme" not in config  # nothing to fetch
    related = config["related"]
    assert related["includeNewer"] is True
    assert related["threshold"] == 80
    assert [(index["name"], index["weight"]) for index in related["indices"]] == [
        ("tags", 100),
        ("desk", 50),
    ]


def test_config_for_current_hugo() -> None:
    config = tomllib.loads(site_config((0, 140, 0)))
    assert "paginate" not in config
    assert "rssLimit" not in config
    assert config["pagination"] == {"pagerSize": 20}
    assert config["services"]["rss"] == {"limit": 50}


def test_layouts_cover_every_page_kind(site: Path) -> None:
    layouts = site / "layouts"
    for name in ("baseof", "single", "list", "term", "taxonomy"):
        assert (layouts / "_default" / f"{name}.html").is_file()
    assert "first 50 .Site.RegularPages.ByDate.Reverse" in (layouts / "index.html").read_text()
    single = (layouts / "_default" / "single.html").read_text()
    assert '"Date" "lt" .Date | first 10' in single
    assert ".Site.RegularPages.Related . | first 5" in single
    assert "@" not in single  # every placeholder filled
    assert ".Paginate" in (layouts / "_default" / "term.html").read_text()


def test_prev_rail_steps_ten_times(tmp_path: Path) -> None:
    write_hugo_site([], tmp_path, version=DEBIAN_HUGO, latest_rail="prev")
    single = (tmp_path / "layouts" / "_default" / "single.html").read_text()
    assert "range seq 10" in single
    assert "where" not in single


def test_plain_text_survives_markdown() -> None:
    text = "1. *Not* a list\n- nor this\n<b>{{< shortcode >}}</b> &amp; [link](x) # `code`"
    escaped = markdown_text(f"  {text}  \n\nSecond paragraph.")
    assert "{{<" not in escaped
    assert "<b>" not in escaped
    first, second = escaped.split("\n\n")
    assert second == "Second paragraph."
    # Removing the backslashes gives the text back: every escape is a literal character.
    assert re.sub(r"\\(.)", r"\1", first) == text
    assert first.splitlines()[0].startswith("1\\.")
    assert first.splitlines()[1].startswith("\\-")


def test_toml_strings_round_trip() -> None:
    for text in ('quote " backslash \\ tab \t', "new\nline", "del \x7f bell \x07", "£ é 🙂"):
        assert tomllib.loads(f"value = {toml_string(text)}")["value"] == text


def test_timestamps_must_be_utc() -> None:
    record = {**generate_articles(1)[0], "published_at": "2026-03-01T06:00:00+01:00"}
    with pytest.raises(ValueError, match="ending in Z"):
        article_markdown(record)


def test_versions_parse() -> None:
    text = "hugo v0.111.3+extended linux/amd64 BuildDate=2023-03-16 VendorInfo=debian:0.111.3-1"
    assert parse_version(text) == (0, 111, 3)
    with pytest.raises(HugoError):
        parse_version("no version here")


def test_missing_hugo_is_reported_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    assert not hugo_site.hugo_available()
    assert "apt-get install hugo" in HUGO_INSTALL_HINT
    with pytest.raises(HugoError, match="apt-get install hugo"):
        hugo_site.build_hugo(tmp_path)
    # Without a binary to ask, the files are written for Debian's Hugo.
    write_hugo_site([], tmp_path)
    assert tomllib.loads((tmp_path / "hugo.toml").read_text())["paginate"] == 20
