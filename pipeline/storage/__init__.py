"""Where outputs go: a small protocol with a local-folder twin and an S3 twin."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlparse

from pipeline.config import ConfigError, Settings


class StorageError(RuntimeError):
    """The store refused or failed an operation (after the adapter's own retries)."""


class TransientStorageError(StorageError):
    """Worth retrying: the store was busy, slow or briefly unreachable."""


class UnsafeKey(ValueError):
    """A key that would escape the site's root."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    body: bytes
    content_type: str
    cache_control: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)


class Storage(Protocol):
    def put(self, item: StoredObject) -> None: ...

    def put_many(self, items: Sequence[StoredObject]) -> None:
        """Put every item, in any order and possibly at once (the caller orders what must
        land first as separate calls). On a failure it raises; some items may have landed."""
        ...

    def delete(self, keys: Iterable[str]) -> None: ...

    def get(self, key: str) -> bytes | None: ...

    def keys(self) -> Iterable[str]:
        """Every key under the site's root (reconcile only: never on the publish path)."""
        ...

    def inventory(self) -> dict[str, str | None]:
        """Every key with the MD5 of its bytes where the store knows it cheaply (reconcile
        only). None means "unknown": the caller reads the object to compare it."""
        ...

    def describe(self) -> str: ...

    def check(self) -> None:
        """Raise StorageError when the store cannot be used (checked at worker start)."""
        ...


class CdnPurger(Protocol):
    def purge(self, paths: list[str]) -> list[str]: ...


def open_purger(settings: Settings) -> CdnPurger | None:
    if not settings.cdn_cloudfront_distribution:
        return None
    from pipeline.storage.s3 import CloudFrontPurger

    return CloudFrontPurger.from_settings(settings)


def check_key(key: str) -> str:
    """Reject keys that are absolute, climb out, or hide control characters."""
    parts = key.split("/")
    if (
        not key
        or key.startswith("/")
        or "\\" in key
        or any(part in ("", ".", "..") for part in parts)
        or any(ord(char) < 32 for char in key)
    ):
        raise UnsafeKey(f"unsafe storage key {key!r}")
    return key


def open_storage(settings: Settings) -> Storage:
    url = urlparse(settings.storage_url)
    if url.scheme == "file":
        from pipeline.storage.local import LocalStorage

        return LocalStorage.from_url(settings.storage_url)
    if url.scheme == "s3":
        from pipeline.storage.s3 import S3Storage

        return S3Storage.from_settings(settings)
    raise ConfigError(
        f"PRESSRUN_STORAGE_URL={settings.storage_url!r}: use file:///path or s3://bucket/prefix"
    )
