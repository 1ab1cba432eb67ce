"""Where previews go, and the links that reach them.

A preview is a draft's article page rendered outside the site: never in the manifest, so no
list, feed, sitemap or rail can show it, and deleted once it expires.

- S3: under `_previews/` at the bucket's root, beside (not inside) the public site prefix,
  reached through a presigned URL that expires by itself.
- A folder: under `_previews/` in the site folder, where the site is served (the name holds
  256 random bits, and no server of the site lists folders); the periodic job deletes it
  when it expires. The answer gives the link alone, never the file's path on the server.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pipeline.config import Settings
from pipeline.site.outputs import url_path
from pipeline.storage import Storage, StoredObject

PREVIEW_PREFIX = "_previews"
CACHE_CONTROL = "private, no-store"


@dataclass(frozen=True)
class PreviewStore:
    storage: Storage
    key_prefix: str
    site_url: str
    presign: Callable[[str, int], str] | None = None

    @staticmethod
    def new_name() -> str:
        return secrets.token_urlsafe(32)

    def key(self, name: str) -> str:
        return f"{self.key_prefix}{name}/index.html"

    def put(self, key: str, body: bytes) -> None:
        self.storage.put(
            StoredObject(key, body, "text/html; charset=utf-8", cache_control=CACHE_CONTROL)
        )

    def url(self, key: str, seconds: int) -> str:
        if self.presign is not None:
            return self.presign(key, seconds)
        return self.site_url + url_path(key)

    def delete(self, keys: Iterable[str]) -> None:
        self.storage.delete(list(keys))


def open_preview_store(settings: Settings, storage: Storage) -> PreviewStore:
    site_url = settings.site_url.rstrip("/")
    if settings.storage_url.startswith("s3://"):
        from pipeline.storage.s3 import S3Storage

        assert isinstance(storage, S3Storage)
        private = S3Storage(storage.client, storage.bucket, PREVIEW_PREFIX)
        return PreviewStore(private, "", site_url, presign=private.presign)
    return PreviewStore(storage, f"{PREVIEW_PREFIX}/", site_url)


def as_preview(page: bytes, site_url: str) -> bytes:
    """The article page, made to work from wherever the preview is served (its root-relative
    links resolve against the site) and kept out of search engines."""
    head = (
        f'<head>\n<base href="{site_url.rstrip("/")}/">\n'
        '<meta name="robots" content="noindex, nofollow">'
    )
    return page.replace(b"<head>", head.encode("utf-8"), 1)
