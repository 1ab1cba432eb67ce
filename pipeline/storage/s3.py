"""S3 and S3-compatible stores (MinIO, moto_server...): the only module that talks to boto3.

Vendor errors are translated into `StorageError` (transient ones marked so, for the task layer
to retry), and into `None` for a missing key, so the domain never imports botocore.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
)

from pipeline.config import ConfigError, Settings
from pipeline.storage import StorageError, StoredObject, TransientStorageError, check_key

DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys
INVALIDATION_BATCH = 3000  # CloudFront accepts up to 3000 paths per invalidation
TRANSIENT_CODES = {"500", "502", "503", "504", "SlowDown", "InternalError", "RequestTimeout",
                   "ServiceUnavailable", "RequestTimeTooSkewed"}  # fmt: skip


def _client_config() -> Config:
    # botocore's `standard` retry mode retries throttling and 5xx with backoff; the task layer
    # adds its own retries on top for longer outages.
    return Config(
        retries={"mode": "standard", "max_attempts": 5},
        connect_timeout=5,
        read_timeout=20,
        max_pool_connections=32,
    )


def _translate(error: Exception, action: str) -> StorageError:
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = str(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        message = f"{code or status} on S3 {action}: {error}"
        if code in TRANSIENT_CODES or status in TRANSIENT_CODES:
            return TransientStorageError(message)
        return StorageError(message)
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        # No retry will find credentials that are not configured: fail with the fix.
        return StorageError(f"S3 {action} failed: {error} (set AWS_* variables or a profile)")
    if isinstance(error, EndpointConnectionError | BotoCoreError):
        return TransientStorageError(f"S3 {action} failed: {error}")
    return StorageError(f"S3 {action} failed: {error}")


class S3Storage:
    def __init__(self, client: Any, bucket: str, prefix: str = "", upload_threads: int = 8) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.upload_threads = upload_threads

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Storage:
        url = urlparse(settings.storage_url)
        if not url.netloc:
            raise ConfigError(f"PRESSRUN_STORAGE_URL={settings.storage_url!r}: name a bucket")
        client = boto3.session.Session().client(
            "s3", endpoint_url=settings.s3_endpoint_url, config=_client_config()
        )
        return cls(client, url.netloc, url.path, settings.s3_upload_threads)

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def check(self) -> None:
        """Fail fast and clearly when the bucket is missing or the credentials are wrong."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as error:
            # HEAD answers carry no error body: name the usual causes from the status.
            status = str(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
            if status == "404":
                raise StorageError(f"NoSuchBucket: bucket {self.bucket!r} does not exist") from None
            if status in ("400", "401", "403"):
                raise StorageError(
                    f"AccessDenied ({status}) on bucket {self.bucket!r}: check the credentials "
                    "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or the profile)"
                ) from None
            raise _translate(error, f"access to bucket {self.bucket!r}") from None
        except BotoCoreError as error:
            raise _translate(error, f"access to bucket {self.bucket!r}") from None

    def put(self, item: StoredObject) -> None:
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self._key(item.key),
                Body=item.body,
                ContentType=item.content_type,
                CacheControl=item.cache_control,
                Metadata=dict(item.metadata),
            )
        except (ClientError, BotoCoreError) as error:
            raise _translate(error, f"put {item.key}") from None

    def put_many(self, items: Sequence[StoredObject]) -> None:
        """Puts at once over the client's connection pool: a PUT is mostly waiting on the
        network, so one worker keeps several in flight (a rebuild's wave holds hundreds).
        The first failure stops the wave: puts not yet started are dropped rather than each
        sitting out its own retries against a store that is down (the task retries)."""
        if len(items) <= 1 or self.upload_threads <= 1:
            for item in items:
                self.put(item)
            return
        # A pool per call: a worker process forks after import, and threads do not survive
        # a fork; starting a few threads costs far less than one PUT.
        pool = ThreadPoolExecutor(min(self.upload_threads, len(items)))
        try:
            futures = [pool.submit(self.put, item) for item in items]
            wait(futures, return_when=FIRST_EXCEPTION)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        for future in futures:
            error = None if future.cancelled() else future.exception()
            if error is not None:
                raise error

    def delete(self, keys: Iterable[str]) -> None:
        names = [self._key(key) for key in keys]
        for start in range(0, len(names), DELETE_BATCH):
            batch = names[start : start + DELETE_BATCH]
            try:
                answer = self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": name} for name in batch], "Quiet": True},
                )
            except (ClientError, BotoCoreError) as error:
                raise _translate(error, f"delete of {len(batch)} keys") from None
            # DeleteObjects answers 200 even when single keys fail: check every one.
            failures = answer.get("Errors", [])
            if failures:
                first = failures[0]
                raise StorageError(
                    f"S3 delete failed for {len(failures)} keys, first {first.get('Key')}: "
                    f"{first.get('Code')} {first.get('Message')}"
                )

    def get(self, key: str) -> bytes | None:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise _translate(error, f"get {key}") from None
        except BotoCoreError as error:
            raise _translate(error, f"get {key}") from None
        body: bytes = answer["Body"].read()
        return body

    def inventory(self) -> dict[str, str | None]:
        """The listing's ETag is the MD5 of a single-part upload (all of ours); a multipart
        ETag (with a dash) says nothing about the bytes."""
        found: dict[str, str | None] = {}
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for entry in page.get("Contents", []):
                etag = str(entry.get("ETag", "")).strip('"')
                found[str(entry["Key"])[len(self.prefix) :]] = None if "-" in etag else etag
        return found

    def keys(self) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for entry in page.get("Contents", []):
                yield str(entry["Key"])[len(self.prefix) :]

    def presign(self, key: str, seconds: int) -> str:
        """A link that lets whoever holds it read one object until it expires (previews).
        Signing is local: no request is made."""
        try:
            url = self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": self._key(key)},
                ExpiresIn=seconds,
            )
        except (ClientError, BotoCoreError) as error:
            raise _translate(error, f"presign {key}") from None
        return str(url)


class CloudFrontPurger:
    """Invalidates exactly the changed paths after an upload, in batches."""

    def __init__(self, client: Any, distribution_id: str) -> None:
        self.client = client
        self.distribution_id = distribution_id

    @classmethod
    def from_settings(cls, settings: Settings) -> CloudFrontPurger:
        assert settings.cdn_cloudfront_distribution
        client = boto3.session.Session().client(
            "cloudfront", endpoint_url=settings.s3_endpoint_url, config=_client_config()
        )
        return cls(client, settings.cdn_cloudfront_distribution)

    def purge(self, paths: list[str]) -> list[str]:
        """Returns the invalidation ids created."""
        created = []
        unique = sorted(set(paths))
        for start in range(0, len(unique), INVALIDATION_BATCH):
            batch = unique[start : start + INVALIDATION_BATCH]
            try:
                answer = self.client.create_invalidation(
                    DistributionId=self.distribution_id,
                    InvalidationBatch={
                        "Paths": {"Quantity": len(batch), "Items": batch},
                        "CallerReference": f"pressrun-{time.time_ns()}-{start}",
                    },
                )
            except (ClientError, BotoCoreError) as error:
                raise _translate(error, "CloudFront invalidation") from None
            created.append(str(answer["Invalidation"]["Id"]))
        return created
