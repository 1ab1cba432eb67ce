"""Writes overlap rendering, wave by wave: no write of a wave starts before every write of the
waves before it has landed, and a failed write fails the build."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from pipeline.publish.build import Uploads
from pipeline.render.renderer import Rendered
from pipeline.site.outputs import OutputSpec
from pipeline.storage import StorageError, StoredObject


class SlowStore:
    """Pages land slowly; records what had landed when each put started."""

    def __init__(self) -> None:
        self.landed: list[str] = []
        self.started: dict[str, list[str]] = {}
        self.lock = threading.Lock()

    def put_many(self, items: Sequence[StoredObject]) -> None:
        for item in items:
            with self.lock:
                self.started[item.key] = list(self.landed)
            if item.key.startswith("page"):
                time.sleep(0.02)
            if item.key == "broken":
                raise StorageError("503 on S3 put broken")
            with self.lock:
                self.landed.append(item.key)


def spec(key: str, kind: str) -> OutputSpec:
    return OutputSpec(kind, key)


def stored(rendered: Rendered) -> StoredObject:
    return StoredObject(rendered.key, rendered.body, "text/html")


def test_a_wave_starts_once_the_waves_before_it_have_landed() -> None:
    store = SlowStore()
    uploads = Uploads(store, stored, threads=4)  # type: ignore[arg-type]
    pages = [f"page-{number}" for number in range(10)]
    for key in pages:
        uploads.put(spec(key, "article"), Rendered(key, "article", b"x"), wave=1)
    uploads.put(spec("list", "home"), Rendered("list", "home", b"x"), wave=2)
    uploads.finish()
    assert [handed.subject for handed in uploads.handed] == [*pages, "list"]
    assert sorted(store.landed) == sorted([*pages, "list"])
    assert set(store.started["list"]) == set(pages)
    # The pages went out at once, not one after another.
    assert max(len(store.started[key]) for key in pages) < len(pages) - 1


def test_a_failed_write_fails_the_build() -> None:
    store = SlowStore()
    uploads = Uploads(store, stored, threads=2)  # type: ignore[arg-type]
    uploads.put(spec("broken", "article"), Rendered("broken", "article", b"x"), wave=1)
    with pytest.raises(StorageError, match="503"):
        uploads.put(spec("list", "home"), Rendered("list", "home", b"x"), wave=2)
    uploads.close()
    assert "list" not in store.started
