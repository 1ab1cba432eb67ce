"""Reconcile: the database's truth against storage, judged by content hashes."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from sqlalchemy.orm import Session

from pipeline.publish.reconcile import TooManyDeletes, reconcile
from pipeline.render.renderer import Rendered
from pipeline.site.outputs import OutputSpec
from pipeline.storage import StoredObject
from tests.conftest import Newsroom


@pytest.fixture
def site(newsroom: Newsroom) -> Newsroom:
    for number in range(4):
        newsroom.publish(slug=f"story-{number}", section=("world", "sport")[number % 2])
    return newsroom


def plant(newsroom: Newsroom, key: str, body: bytes = b"<p>planted</p>") -> None:
    newsroom.services.storage.put(StoredObject(key, body, "text/html; charset=utf-8"))


def test_a_healthy_site_reports_nothing(site: Newsroom) -> None:
    report = reconcile(site.services)
    assert report.clean
    assert report.checked == len(site.stored_keys())


def test_repair_restores_deleted_stale_and_orphaned_objects(site: Newsroom) -> None:
    before = {key: site.services.storage.get(key) for key in site.stored_keys()}
    page = site.key("story-1")
    site.services.storage.delete([page, "index.html"])
    plant(site, "world/feed.xml", b"<feed>tampered</feed>")  # same key, other bytes
    plant(site, "old-section/2020/01/01/gone/index.html")  # nothing produces this
    plant(site, "_previews/abc/index.html")  # private: not an orphan
    report = reconcile(site.services)
    assert sorted(report.missing) == sorted([page, "index.html"])
    assert report.stale == ["world/feed.xml"]
    assert report.orphans == ["old-section/2020/01/01/gone/index.html"]
    repaired = reconcile(site.services, repair=True)
    assert repaired.repaired
    after = {key: site.services.storage.get(key) for key in site.stored_keys()}
    assert after.pop("_previews/abc/index.html") == b"<p>planted</p>"
    assert after == before
    assert reconcile(site.services).clean


def test_the_delete_breaker_stops_a_repair_before_it_changes_anything(site: Newsroom) -> None:
    for number in range(5):
        plant(site, f"stray/{number}.html")
    site.services.storage.delete(["index.html"])
    with pytest.raises(TooManyDeletes, match="more than --max-deletes 3"):
        reconcile(site.services, repair=True, max_deletes=3)
    assert site.services.storage.get("stray/0.html") is not None
    assert site.services.storage.get("index.html") is None  # nothing was repaired either


def test_the_walk_renders_a_batch_a_transaction_and_repairs_the_same(
    site: Newsroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    rendered_in: list[Session] = []
    render = site.services.renderer.render

    def recorded(session: Session, spec: OutputSpec) -> Rendered | None:
        rendered_in.append(session)
        return render(session, spec)

    monkeypatch.setattr(site.services.renderer, "render", recorded)
    before = {key: site.services.storage.get(key) for key in site.stored_keys()}
    site.services.storage.delete(["index.html", site.key("story-2")])
    plant(site, "stray/0.html")
    report = reconcile(site.services, batch=5)
    renders = Counter(map(id, rendered_in))  # the sessions are held, so their ids are unique
    assert max(renders.values()) <= 5
    assert len(renders) >= math.ceil(report.checked / 5) > 1
    assert sorted(report.missing) == sorted(["index.html", site.key("story-2")])
    assert report.orphans == ["stray/0.html"]
    assert report.checked == len(before)
    rendered_in.clear()
    assert reconcile(site.services, repair=True, batch=5).repaired
    assert max(Counter(map(id, rendered_in)).values()) <= 5
    assert {key: site.services.storage.get(key) for key in site.stored_keys()} == before
