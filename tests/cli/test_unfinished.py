"""What a crashed process left unfinished (a change committed, never rendered) is finished by
the next command that writes, in the embedded default, and left alone by commands that only
read: `pressrun status` must answer at once, not render the site first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from pipeline.config import Settings
from pipeline.content import articles
from pipeline.content.inputs import parse_article
from pipeline.db import transaction
from pipeline.events.models import Event, EventStatus
from pipeline.services import create_services
from tests.cli.test_bad_input import WORLD_ARTICLE, article, fingerprint, run_pressrun
from tests.conftest import article_data

READ_ONLY = (
    ("status",),
    ("config",),
    ("related", "allies-resume-talks"),
    ("events", "list"),
    ("tokens", "list"),
    ("reconcile",),
)


def commit_without_rendering(root: Path) -> int:
    """A publish committed by a process that died before it dispatched its event."""
    settings = Settings(
        database_url=f"sqlite:///{root / 'pressrun.db'}", storage_url=f"file://{root / 'site'}"
    )
    services = create_services(settings)
    try:
        data, _ = parse_article(article_data(slug="left-behind", section="world"))
        with transaction(services.sessions) as session:
            return articles.publish(session, data, actor="crashed").event_id
    finally:
        services.engine.dispose()


def status_of(root: Path, event_id: int) -> str:
    settings = Settings(database_url=f"sqlite:///{root / 'pressrun.db'}")
    services = create_services(settings)
    try:
        with transaction(services.sessions) as session:
            return str(session.scalar(select(Event.status).where(Event.id == event_id)))
    finally:
        services.engine.dispose()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "world.json").write_text(json.dumps(WORLD_ARTICLE), encoding="utf-8")
    assert run_pressrun(tmp_path, "publish", "world.json").returncode == 0
    return tmp_path


def test_read_only_commands_leave_unfinished_events_alone(root: Path) -> None:
    event_id = commit_without_rendering(root)
    site = fingerprint(root).files
    for command in READ_ONLY:
        result = run_pressrun(root, *command)
        assert "recovered event" not in result.stderr, command
        assert status_of(root, event_id) == EventStatus.ACCEPTED, command
    assert fingerprint(root).files == site  # nothing rendered


def test_a_writing_command_finishes_them_first(root: Path) -> None:
    event_id = commit_without_rendering(root)
    (root / "next.json").write_text(json.dumps(article(slug="next-story")), encoding="utf-8")
    result = run_pressrun(root, "publish", "next.json")
    assert result.returncode == 0, result.stderr
    assert f"recovered event {event_id}: live" in result.stderr
    assert status_of(root, event_id) == EventStatus.LIVE
    assert (root / "site" / "world" / "index.html").read_text().count("left-behind") >= 1


def test_bad_input_to_a_writing_command_finishes_nothing(root: Path) -> None:
    event_id = commit_without_rendering(root)
    (root / "bad.json").write_text(json.dumps(article(title="")), encoding="utf-8")
    result = run_pressrun(root, "publish", "bad.json")
    assert result.returncode == 2
    assert status_of(root, event_id) == EventStatus.ACCEPTED
