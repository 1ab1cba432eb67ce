"""The catalogue of bad input for the `pressrun` command line, run as real subprocesses.

Every bad case runs in its own copy of a small world (one good article already published, so
the database and the site exist) and must end with exit status 2 (1 for an unknown slug), a
single `error:` line on stderr that names the offending field or the file problem, no
traceback, and the world exactly as it was: same files with the same bytes, same row counts.

A subprocess costs ~0.6 s, so the bad cases selected for a run are executed concurrently by a
module-scoped fixture; each parametrized test then checks its own case's outcome.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PRESSRUN = shutil.which("pressrun", path=str(Path(sys.executable).parent))
TABLES = ("articles", "events", "sections", "tags", "article_tags", "outputs", "redirects")
WORKERS = max(2, min(6, (os.cpu_count() or 2) + 1))

# The article published to make the world, and the base every bad article file varies.
WORLD_ARTICLE: dict[str, Any] = {
    "slug": "allies-resume-talks",
    "title": "Allies resume talks",
    "standfirst": "Negotiators return to Geneva.",
    "body": "First paragraph.\n\nSecond paragraph.",
    "section": "politics",
    "tags": ["diplomacy"],
    "authors": ["Ann Writer"],
    "image": {"url": "https://images.example.com/talks.jpg", "alt": "Delegates at the table"},
    "published_at": "2024-11-26T09:30:00Z",
}
GOOD_ARTICLE: dict[str, Any] = {
    "title": "Harbour reopens after the storm",
    "standfirst": "Ferries run again from Monday.",
    "body": "The harbour reopened on Sunday.\n\nRepairs took three weeks.",
    "section": "world",
    "tags": ["weather"],
    "authors": ["Bo Reporter"],
    "published_at": "2024-11-27T08:00:00Z",
}
MISSING = object()


def article(**changes: Any) -> dict[str, Any]:
    """GOOD_ARTICLE with some fields changed; a field set to MISSING is left out."""
    data = {**GOOD_ARTICLE, **changes}
    return {name: value for name, value in data.items() if value is not MISSING}


# -- the world: environment, subprocess, fingerprint ------------------------------------------


def isolated_env(root: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("PRESSRUN_")}
    env["PRESSRUN_DATABASE_URL"] = f"sqlite:///{root / 'pressrun.db'}"
    env["PRESSRUN_STORAGE_URL"] = f"file://{root / 'site'}"
    env.update(extra or {})
    return env


def run_pressrun(
    root: Path, *args: str, extra_env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    assert PRESSRUN is not None, "the pressrun console script is not installed next to python"
    return subprocess.run(
        [PRESSRUN, *args],
        cwd=root,
        env=isolated_env(root, extra_env),
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=120,
        check=False,
    )


@dataclass(frozen=True)
class Fingerprint:
    """Every file of the site with its sha256, and the row count of every table."""

    files: dict[str, str]
    rows: dict[str, int]


def fingerprint(root: Path) -> Fingerprint:
    site = root / "site"
    files = {
        path.relative_to(site).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(site.rglob("*"))
        if path.is_file()
    }
    database = root / "pressrun.db"
    assert database.is_file(), f"no database at {database}"
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
        rows = {
            table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in TABLES
        }
    return Fingerprint(files, rows)


def prepare_world(root: Path) -> Fingerprint:
    """Publish one good article (so the database and the site exist) and fingerprint it all."""
    source = root / "world-article.json"
    source.write_text(json.dumps(WORLD_ARTICLE), encoding="utf-8")
    result = run_pressrun(root, "publish", source.name)
    assert result.returncode == 0, f"the world's article did not publish: {result.stderr}"
    source.unlink()
    world = fingerprint(root)
    assert world.rows["articles"] == 1
    assert "politics/2024/11/26/allies-resume-talks/index.html" in world.files
    return world


@dataclass(frozen=True)
class World:
    root: Path
    fingerprint: Fingerprint


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("world")
    return World(root, prepare_world(root))


@pytest.fixture
def world_copy(world: World, tmp_path: Path) -> Path:
    """A private copy of the world for a test that changes it."""
    root = tmp_path / "world"
    shutil.copytree(world.root, root)
    return root


# -- the catalogue ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One command on one input file, with what its error line must mention."""

    id: str
    args: tuple[str, ...]
    files: tuple[tuple[str, bytes], ...] = ()
    mentions: tuple[str, ...] = ()
    exit_code: int = 2


def as_bytes(content: Any) -> bytes:
    return content if isinstance(content, bytes) else json.dumps(content).encode("utf-8")


def publish_case(case_id: str, content: Any, *mentions: str) -> Case:
    return Case(case_id, ("publish", "input.json"), (("input.json", as_bytes(content)),), mentions)


def jsonl(*lines: Any) -> bytes:
    return b"".join(as_bytes(line) + b"\n" for line in lines)


FILE_PROBLEMS = [
    publish_case("truncated-object", b'{"title": "Harbour reopens", "body": "x"', "malformed JSON"),
    publish_case("json-array", [GOOD_ARTICLE], "JSON object"),
    publish_case("empty-file", b"", "malformed JSON"),
    Case("file-does-not-exist", ("publish", "missing.json"), (), ("missing.json", "no such file")),
    publish_case(
        "not-utf-8",
        json.dumps(article(title="Caf\xe9 reopens"), ensure_ascii=False).encode("latin-1"),
        "UTF-8",
    ),
]

# The body of issue 14: 475 KB nested 19,000 deep took 3.9 s to accept and 100 s to go live.
DEEP_BODY_HTML = "<blockquote>" * 19_000 + "x" + "</blockquote>" * 19_000

FIELD_PROBLEMS = [
    publish_case("title-missing", article(title=MISSING), "title"),
    publish_case("title-blank", article(title="   "), "title"),
    publish_case("body-and-body-html-missing", article(body=MISSING), "body"),
    publish_case("body-empty", article(body=""), "body"),
    publish_case("body-and-body-html-both", article(body_html="<p>x</p>"), "body"),
    publish_case("unknown-field-colour", article(colour="red"), "colour"),
    publish_case("title-is-a-number", article(title=5), "title"),
    publish_case("tags-is-a-string", article(tags="x"), "tags"),
    publish_case("tags-holds-a-number", article(tags=[1]), "tags"),
    publish_case("authors-is-a-string", article(authors="Ann"), "authors"),
    publish_case("slug-is-null", article(slug=None), "slug"),
    publish_case("published-at-is-a-number", article(published_at=20240101), "published_at"),
    publish_case("image-is-a-string", article(image="x"), "image"),
    publish_case(
        "body-html-nested-too-deep",
        article(body=MISSING, body_html=DEEP_BODY_HTML),
        "body_html",
        "100 elements deep",
    ),
    publish_case(
        "image-url-protocol-relative",
        article(image={"url": "//evil.example/a.jpg", "alt": "x"}),
        "image",
    ),
    publish_case(
        "image-url-javascript",
        article(image={"url": "javascript:alert(1)", "alt": "x"}),
        "image",
    ),
]

# Values that are not ^[a-z0-9]+(-[a-z0-9]+)*$ once trimmed and lower-cased, or are reserved.
BAD_NAMES = {
    "dot-dot-slash": "../x",
    "absolute-path": "/abs",
    "inner-slash": "a/b",
    "encoded-slash": "..%2F",
    "nul": "a\u0000b",
    "121-chars": "x" * 121,
    "double-hyphen": "a--b",
    "leading-hyphen": "-a",
    "underscore": "a_b",
    "space": "a b",
    "non-ascii": "\u00e9",
    "reserved-api": "api",
    "reserved-tags": "tags",
    "reserved-feeds": "feeds",
    "reserved-sitemaps": "sitemaps",
    "reserved-fragments": "fragments",
    "reserved-page": "page",
    "reserved-static": "static",
}
NAME_PROBLEMS = [
    publish_case(
        f"{place}-{label}", article(**{place: [value] if place == "tags" else value}), place
    )
    for place in ("slug", "section", "tags")
    for label, value in BAD_NAMES.items()
]

DATE_PROBLEMS = [
    publish_case("published-at-yesterday", article(published_at="yesterday"), "published_at"),
    publish_case("published-at-month-13", article(published_at="2024-13-45"), "published_at"),
    publish_case("published-at-day-first", article(published_at="26/11/2024"), "published_at"),
    # Well-formed but outside years 1900..9998 in UTC (the first two overflow on conversion).
    publish_case(
        "published-at-year-1-east",
        article(published_at="0001-01-01T00:00:00+14:00"),
        "published_at",
        "1900",
    ),
    publish_case(
        "published-at-year-9999-west",
        article(published_at="9999-12-31T23:59:59-14:00"),
        "published_at",
        "9998",
    ),
    publish_case(
        "published-at-year-1", article(published_at="0001-01-01T00:00:00Z"), "published_at"
    ),
    publish_case(
        "published-at-1899-in-utc",
        article(published_at="1900-01-01T00:00:00+00:01"),
        "published_at",
    ),
]

UNPUBLISH_PROBLEMS = [
    Case("unpublish-bad-slug", ("unpublish", "../x"), mentions=("slug",)),
    Case(
        "unpublish-unknown-slug",
        ("unpublish", "no-such-story"),
        mentions=("no-such-story",),
        exit_code=1,
    ),
]

IMPORT_PROBLEMS = [
    Case(
        "import-second-line-wrong-type",
        ("import", "input.jsonl"),
        (("input.jsonl", jsonl(article(), article(title=5, slug="second"))),),
        mentions=("title", "line 2"),
    ),
    Case(
        "import-second-line-malformed",
        ("import", "input.jsonl"),
        (("input.jsonl", jsonl(article()) + b'{"title": "Broken", \n'),),
        mentions=("malformed JSON", "line 2"),
    ),
    Case(
        "import-second-line-year-1",
        ("import", "input.jsonl"),
        (
            (
                "input.jsonl",
                jsonl(article(), article(slug="second", published_at="0001-01-01T00:00:00+14:00")),
            ),
        ),
        mentions=("published_at", "line 2"),
    ),
]

BAD_CASES = [
    *FILE_PROBLEMS,
    *FIELD_PROBLEMS,
    *NAME_PROBLEMS,
    *DATE_PROBLEMS,
    *UNPUBLISH_PROBLEMS,
    *IMPORT_PROBLEMS,
]
assert len({case.id for case in BAD_CASES}) == len(BAD_CASES), "case ids must be unique"


# -- running the catalogue ----------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    after: Fingerprint


def execute(case: Case, world: World, folder: Path) -> Outcome:
    shutil.copytree(world.root, folder)
    for name, content in case.files:
        (folder / name).write_bytes(content)
    result = run_pressrun(folder, *case.args)
    return Outcome(result.returncode, result.stdout, result.stderr, fingerprint(folder))


@pytest.fixture(scope="module")
def outcomes(
    request: pytest.FixtureRequest, world: World, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Outcome]:
    """Run every selected bad case at once, each in its own copy of the world."""
    selected = set()
    for item in request.session.items:  # only the cases this run selected (-k, node ids)
        params = getattr(getattr(item, "callspec", None), "params", {})
        if getattr(item, "module", None) is request.module and isinstance(params.get("case"), Case):
            selected.add(params["case"].id)
    cases = [case for case in BAD_CASES if case.id in selected]
    base = tmp_path_factory.mktemp("bad-input")
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = {
            case.id: pool.submit(execute, case, world, base / f"case-{number:03d}")
            for number, case in enumerate(cases)
        }
        return {case_id: future.result() for case_id, future in futures.items()}


def describe(outcome: Outcome) -> str:
    return f"exit {outcome.returncode}\nstdout: {outcome.stdout!r}\nstderr: {outcome.stderr!r}"


def mentioned(word: str, message: str) -> bool:
    """`line 2` is also satisfied by the `FILE:2:` form; everything else is a substring."""
    if match := re.fullmatch(r"line (\d+)", word):
        return re.search(rf"(:{match[1]}:|\bline {match[1]}\b)", message) is not None
    return word in message


@pytest.mark.parametrize("case", BAD_CASES, ids=lambda case: case.id)
def test_bad_input_is_refused_in_one_line_and_changes_nothing(
    case: Case, outcomes: dict[str, Outcome], world: World
) -> None:
    outcome = outcomes[case.id]
    assert outcome.returncode == case.exit_code, describe(outcome)
    assert "Traceback" not in outcome.stderr, describe(outcome)
    assert "Traceback" not in outcome.stdout, describe(outcome)
    lines = outcome.stderr.splitlines()
    assert len(lines) == 1, f"stderr must be exactly one line\n{describe(outcome)}"
    assert lines[0].startswith("error:"), describe(outcome)
    for word in case.mentions:
        assert mentioned(word, lines[0]), f"the error should mention {word!r}: {lines[0]!r}"
    assert outcome.stdout == "", describe(outcome)
    assert outcome.after.files == world.fingerprint.files, "the site changed"
    assert outcome.after.rows == world.fingerprint.rows, "the database changed"


# -- input that is normalised, not refused ------------------------------------------------------


def publish_file(
    root: Path, data: dict[str, Any], **extra_env: str
) -> subprocess.CompletedProcess[str]:
    (root / "input.json").write_text(json.dumps(data), encoding="utf-8")
    return run_pressrun(root, "publish", "input.json", extra_env=extra_env)


def test_section_is_trimmed_and_lower_cased(world_copy: Path, world: World) -> None:
    result = publish_file(world_copy, article(slug="harbour", section="  Politics "))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "article politics/2024/11/27/harbour/index.html" in result.stdout
    after = fingerprint(world_copy)
    assert "politics/2024/11/27/harbour/index.html" in after.files
    assert after.rows["sections"] == world.fingerprint.rows["sections"], "a second section"
    assert not any(name.lower().startswith("  politics") for name in after.files)


def test_published_at_without_offset_is_utc(world_copy: Path) -> None:
    # Far east of UTC: read as local time, 10:00 would be the previous day in UTC.
    result = publish_file(
        world_copy, article(slug="harbour", published_at="2024-05-01T10:00:00"), TZ="<+14>-14"
    )
    assert result.returncode == 0, result.stderr
    key = "world/2024/05/01/harbour/index.html"
    assert f"article {key}" in result.stdout
    page = (world_copy / "site" / key).read_text(encoding="utf-8")
    assert 'datetime="2024-05-01T10:00:00Z"' in page


def test_gzipped_import_ignores_unknown_fields_and_names_them_once(
    world_copy: Path, world: World
) -> None:
    lines = jsonl(
        article(slug="harbour", source="wire"),
        article(slug="ferries", title="Ferries are back", source="wire"),
    )
    (world_copy / "input.jsonl.gz").write_bytes(gzip.compress(lines))
    result = run_pressrun(world_copy, "import", "input.jsonl.gz")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "imported 2 articles" in result.stdout
    assert "ignored fields: source" in result.stdout
    assert result.stdout.count("source") == 1, result.stdout
    after = fingerprint(world_copy)
    assert after.rows["articles"] == world.fingerprint.rows["articles"] + 2
    assert "world/2024/11/27/ferries/index.html" in after.files
