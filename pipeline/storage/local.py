"""A folder as the bucket: atomic writes (temp file + rename), nothing outside the root."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from pipeline.storage import StoredObject, UnsafeKey, check_key


class LocalStorage:
    # Writes at once while a build renders on (see pipeline/publish/build.py Uploads).
    upload_threads = 1

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    @classmethod
    def from_url(cls, url: str) -> LocalStorage:
        # file:///abs/path and file://./relative/path both name a folder.
        return cls(Path(url.removeprefix("file://") or "."))

    def describe(self) -> str:
        return f"folder {self.root}"

    def check(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root):
            raise UnsafeKey(f"storage key {key!r} escapes {self.root}")
        return path

    def put(self, item: StoredObject) -> None:
        path = self._path(item.key)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(item.body)
            os.chmod(temporary, 0o644)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def put_many(self, items: Sequence[StoredObject]) -> None:
        # A local write is a few system calls: threads would add more than they save.
        for item in items:
            self.put(item)

    def delete(self, keys: Iterable[str]) -> None:
        for key in keys:
            path = self._path(key)
            path.unlink(missing_ok=True)
            self._prune_empty_parents(path.parent)

    def _prune_empty_parents(self, folder: Path) -> None:
        while folder != self.root and folder.is_relative_to(self.root):
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def inventory(self) -> dict[str, str | None]:
        return {
            key: hashlib.md5(self._path(key).read_bytes(), usedforsecurity=False).hexdigest()
            for key in self.keys()
        }

    def keys(self) -> Iterator[str]:
        if not self.root.exists():
            return
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and not path.name.startswith(".tmp-"):
                yield path.relative_to(self.root).as_posix()
