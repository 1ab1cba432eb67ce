"""A rebuild whose whole fleet is killed halfway resumes to the very site an uninterrupted
rebuild builds: byte for byte, with the same manifest, and without running again the chunks
finished before the crash.

On the real stack: PostgreSQL, a private Redis, moto_server, real `pressrun worker` processes
and the beat. The archive is loaded with `pressrun import` (which requests the rebuild); in
one stack nothing happens to it, in another every worker is SIGKILLed once half the chunks
of a phase are done, then workers and the beat are started again: the chunks left in the
queue run, and the relay sends again the ones that were running when their worker died.

The rebuild runs on one worker until the crash, and the phases it is stopped in are rails and
render: an article's norm and stored terms are weighed with the document frequencies counted
when its index chunk runs, so index chunks run side by side on two workers (or resumed in
another order) give slightly different "More like this" rails from run to run. After the
index phase the site is a function of the database: the resumed rebuild runs on two."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pipeline.cli.demo_content import generate_articles
from pipeline.db import transaction
from pipeline.events.models import Event, EventKind, EventStatus
from pipeline.publish.models import Output, OutputDependency, RebuildChunk
from tests.realstack import Stack, executable, kill_processes, private_stack, spawn

pytestmark = pytest.mark.integration

ARTICLES = 60
SMALL_CHUNKS = {"PRESSRUN_TEST_CHUNK_ARTICLES": "8", "PRESSRUN_TEST_CHUNK_OUTPUTS": "16"}
SETTINGS: dict[str, Any] = {
    "site_url": "https://news.example.com",
    "relay_grace_seconds": 1,
    # The chunks running when their worker died are sent again once stuck this long.
    "relay_stuck_seconds": 3,
}

Site = tuple[dict[str, tuple[bytes, str, str]], list[tuple[Any, ...]]]


def write_archive(folder: Path) -> Path:
    """The import file: the demo's articles with fixed ids and dates (so two stacks that import
    it hold the same rows and render the same bytes)."""
    path = folder / "archive.jsonl"
    with path.open("w", encoding="utf-8") as stream:
        for number, record in enumerate(generate_articles(ARTICLES)):
            stream.write(json.dumps({**record, "id": f"archive-{number}"}) + "\n")
    return path


def open_stack(folder: Path, s3_endpoint: str) -> Any:
    folder.mkdir()
    return private_stack(folder, s3_endpoint, **SETTINGS)


def start_fleet(stack: Stack, workers: int) -> None:
    stack.worker_module = "tests.integration.small_chunks"
    stack.start_workers(workers, **SMALL_CHUNKS)
    stack.start_beat()


def stored_site(stack: Stack) -> Site:
    """Every stored object (bytes, content type, cache header) and the manifest's rows."""
    objects = {}
    for key in sorted(stack.stored_keys()):
        answer = stack.s3.get_object(Bucket=stack.bucket, Key=f"site/{key}")
        objects[key] = (answer["Body"].read(), answer["ContentType"], answer["CacheControl"])
    with transaction(stack.services.sessions) as session:
        outputs = session.execute(
            select(Output.key, Output.kind, Output.subject, Output.page, Output.content_hash)
            .order_by(Output.key)
        ).all()  # fmt: skip
        dependencies = session.execute(
            select(OutputDependency.output_key, OutputDependency.data_key).order_by(
                OutputDependency.output_key, OutputDependency.data_key
            )
        ).all()
    return objects, [tuple(row) for row in [*outputs, *dependencies]]


def rebuild_status(stack: Stack) -> EventStatus:
    with transaction(stack.services.sessions) as session:
        status = session.scalar(select(Event.status).where(Event.kind == EventKind.REBUILD))
    assert status is not None
    return status


def chunks(stack: Stack, phase: str | None = None) -> dict[int, tuple[str, int]]:
    """Each chunk's state and attempts, by id (of one phase, or of them all)."""
    query = select(RebuildChunk.id, RebuildChunk.state, RebuildChunk.attempts)
    if phase is not None:
        query = query.where(RebuildChunk.phase == phase)
    with transaction(stack.services.sessions) as session:
        return {row.id: (row.state, row.attempts) for row in session.execute(query)}


def uninterrupted(folder: Path, s3_endpoint: str, archive: Path) -> Site:
    with open_stack(folder, s3_endpoint) as stack:
        start_fleet(stack, workers=1)
        stack.pressrun("import", str(archive), timeout=240)
        stack.wait_quiet()
        assert rebuild_status(stack) == EventStatus.LIVE
        return stored_site(stack)


def wait_halfway(stack: Stack, phase: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [state for state, _ in chunks(stack, phase).values()]
        if states and states.count("done") * 2 >= len(states):
            return
        time.sleep(0.02)
    raise TimeoutError(f"the {phase} phase was not half done after {timeout}s")


def interrupted(folder: Path, s3_endpoint: str, archive: Path, phase: str) -> Site:
    with open_stack(folder, s3_endpoint) as stack:
        start_fleet(stack, workers=1)
        importing = spawn(
            [executable("pressrun"), "import", str(archive)],
            stack.env,
            folder,
            folder / "import.log",
        )
        wait_halfway(stack, phase)
        # The whole fleet dies at once (the host went down): workers, the beat, the import.
        stack.kill()
        kill_processes([importing])
        stack.workers.clear()
        before = chunks(stack)
        done_before = {chunk for chunk, (state, _) in before.items() if state == "done"}
        assert len(done_before) < len(before), "the rebuild finished before it was killed"
        assert rebuild_status(stack) != EventStatus.LIVE

        start_fleet(stack, workers=2)
        stack.wait_quiet(timeout=240)
        assert rebuild_status(stack) == EventStatus.LIVE
        after = chunks(stack)
        assert all(state == "done" for state, _ in after.values())
        # What was done before the crash is not done again.
        assert {chunk: after[chunk] for chunk in done_before} == {
            chunk: before[chunk] for chunk in done_before
        }
        return stored_site(stack)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_archive(tmp_path_factory.mktemp("archive"))


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory, s3_endpoint: str, archive: Path) -> Site:
    """The site the archive's rebuild builds when nothing happens to it."""
    return uninterrupted(tmp_path_factory.mktemp("whole") / "stack", s3_endpoint, archive)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("phase", ["rails", "render"])
def test_a_rebuild_killed_halfway_resumes_to_a_byte_identical_site(
    tmp_path: Path, s3_endpoint: str, archive: Path, expected: Site, phase: str
) -> None:
    expected_objects, expected_manifest = expected
    objects, manifest = interrupted(tmp_path / "killed", s3_endpoint, archive, phase)
    assert len(expected_objects) > ARTICLES
    assert sorted(objects) == sorted(expected_objects)
    different = [key for key in expected_objects if objects[key] != expected_objects[key]]
    assert different == []
    assert manifest == expected_manifest
