"""The local-folder backend: atomic writes, no key escapes the root."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.storage import StoredObject, UnsafeKey
from pipeline.storage.local import LocalStorage


def item(key: str, body: bytes = b"<p>hi</p>") -> StoredObject:
    return StoredObject(key=key, body=body, content_type="text/html; charset=utf-8")


def test_put_get_delete_round_trip(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "site")
    storage.put(item("politics/2024/01/02/story/index.html"))
    assert storage.get("politics/2024/01/02/story/index.html") == b"<p>hi</p>"
    assert list(storage.keys()) == ["politics/2024/01/02/story/index.html"]
    storage.delete(["politics/2024/01/02/story/index.html", "never/there.html"])
    assert storage.get("politics/2024/01/02/story/index.html") is None
    assert list((tmp_path / "site").iterdir()) == []  # empty folders pruned


def test_writes_are_atomic_replacements(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.put(item("index.html", b"old"))
    inode = (tmp_path / "index.html").stat().st_ino
    storage.put(item("index.html", b"new"))
    assert (tmp_path / "index.html").read_bytes() == b"new"
    assert (tmp_path / "index.html").stat().st_ino != inode  # renamed into place, not rewritten
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]  # no temp files left


@pytest.mark.parametrize(
    "key", ["../x", "/abs", "a/../../b", "a//b", "a\\b", "a/./b", "", "a\x00b", "..", "a/.."]
)
def test_no_key_escapes_the_root(tmp_path: Path, key: str) -> None:
    storage = LocalStorage(tmp_path / "site")
    with pytest.raises(UnsafeKey):
        storage.put(item(key))
    with pytest.raises(UnsafeKey):
        storage.delete([key])
    assert not (tmp_path / "x").exists()


def test_symlinked_folder_cannot_lead_outside(tmp_path: Path) -> None:
    root = tmp_path / "site"
    root.mkdir()
    (root / "link").symlink_to(tmp_path)
    with pytest.raises(UnsafeKey):
        LocalStorage(root).put(item("link/escaped.html"))
    assert not (tmp_path / "escaped.html").exists()
